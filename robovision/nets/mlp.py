"""Multi-layer perceptrons, including a fused ensemble for twin critics.

On a CPU the small matrix products of an SAC update are bound by operator
dispatch, not by arithmetic: evaluating the two critics as one batched
``baddbmm`` per layer halves the number of ops compared with two ``nn.Linear``
stacks.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(in_dim: int, hidden: list[int], out_dim: int, act: str = "relu") -> nn.Sequential:
    """``in_dim -> hidden... -> out_dim`` with ``act`` between layers, none at the end."""
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden]
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), activation(act)()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class EnsembleLinear(nn.Module):
    """``size`` independent linear layers applied as one batched matrix product.

    Input ``(size, batch, in)`` or ``(batch, in)`` (shared by all members);
    output ``(size, batch, out)``. Each member is initialised like ``nn.Linear``.
    """

    def __init__(self, size: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.size, self.in_dim, self.out_dim = size, in_dim, out_dim
        self.weight = nn.Parameter(torch.empty(size, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(size, 1, out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_dim)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, members: int | None = None) -> torch.Tensor:
        """``members``: evaluate only the first ``members`` members (default all)."""
        weight, bias = self.weight, self.bias
        if members is not None:
            weight, bias = weight[:members], bias[:members]
        size = weight.shape[0]
        if x.dim() == 2:
            # One product for all members: (B, in) @ (in, size*out).
            w = weight.permute(1, 0, 2).reshape(self.in_dim, -1)
            y = (x @ w).view(x.shape[0], size, self.out_dim).transpose(0, 1)
            return y + bias
        return torch.baddbmm(bias, x, weight)

    def extra_repr(self) -> str:
        return f"size={self.size}, in_dim={self.in_dim}, out_dim={self.out_dim}"


class EnsembleMLP(nn.Module):
    """``size`` MLPs of identical shape evaluated together; output ``(size, batch, out)``."""

    def __init__(self, size: int, in_dim: int, hidden: list[int], out_dim: int,
                 act: str = "relu") -> None:
        super().__init__()
        dims = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(
            EnsembleLinear(size, a, b) for a, b in itertools.pairwise(dims))
        self.act = activation(act)()

    def forward(self, x: torch.Tensor, members: int | None = None) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.act(layer(x, members))
        return self.layers[-1](x, members)
