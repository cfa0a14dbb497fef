"""Actor and critic heads on top of an encoder's features.

Each head may own a ``trunk`` (a :class:`Projection`) that maps the encoder's
output to a small feature vector before its MLP: DrQ-v2 gives the actor and the
critic one each on top of the shared conv encoder (``encoder.projection=per_head``);
otherwise the trunk is the identity.
"""

from __future__ import annotations

import torch
from torch import nn

from robovision.nets.distributions import tanh_gaussian_sample
from robovision.nets.mlp import EnsembleMLP, mlp


class Projection(nn.Module):
    """Linear -> LayerNorm -> Tanh (the DrQ projection). With ``amp`` the large
    matrix product runs under bf16 autocast; the output is float32."""

    def __init__(self, in_dim: int, out_dim: int, amp: bool = False) -> None:
        super().__init__()
        self.linear, self.norm, self.amp = nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), amp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.amp:
            # No weight cache: each weight is cast once per call anyway, and CUDA graph
            # capture requires it off (robovision.agents.graph).
            with torch.autocast(x.device.type, dtype=torch.bfloat16, cache_enabled=False):
                h = self.linear(x)
            return torch.tanh(self.norm(h.float()))
        return torch.tanh(self.norm(self.linear(x)))


def trunk_or_identity(trunk: nn.Module | None) -> nn.Module:
    return nn.Identity() if trunk is None else trunk


def trunk_dim(trunk: nn.Module | None, in_dim: int) -> int:
    return trunk.linear.out_features if isinstance(trunk, Projection) else in_dim


class TanhGaussianActor(nn.Module):
    """SAC actor: an MLP gives mean and log-std; actions are tanh-squashed samples.

    The log-std is squashed into ``[log_std_min, log_std_max]`` with tanh (smooth,
    no dead gradient from clamping).
    """

    def __init__(self, in_dim: int, action_dim: int, hidden: list[int],
                 log_std_min: float = -5.0, log_std_max: float = 2.0, act: str = "relu",
                 trunk: nn.Module | None = None) -> None:
        super().__init__()
        self.trunk = trunk_or_identity(trunk)
        self.net = mlp(trunk_dim(trunk, in_dim), hidden, 2 * action_dim, act)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(self.trunk(features)).chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            torch.tanh(log_std) + 1.0)
        return mean, log_std

    def sample(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self(features)
        return tanh_gaussian_sample(mean, log_std)

    def mode(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self(features)[0])


class DeterministicActor(nn.Module):
    """TD3/DDPG actor: ``tanh(MLP(features))``."""

    def __init__(self, in_dim: int, action_dim: int, hidden: list[int], act: str = "relu",
                 trunk: nn.Module | None = None) -> None:
        super().__init__()
        self.trunk = trunk_or_identity(trunk)
        self.net = mlp(trunk_dim(trunk, in_dim), hidden, action_dim, act)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(self.trunk(features)))


class QEnsemble(nn.Module):
    """``n`` Q-functions ``Q_i(features, action)`` fused into one ensemble (one trunk
    shared by the members, as in DrQ-v2). Output shape ``(n, batch)``."""

    def __init__(self, in_dim: int, action_dim: int, hidden: list[int], n: int = 2,
                 act: str = "relu", trunk: nn.Module | None = None) -> None:
        super().__init__()
        self.trunk = trunk_or_identity(trunk)
        self.net = EnsembleMLP(n, trunk_dim(trunk, in_dim) + action_dim, hidden, 1, act)

    def forward(self, features: torch.Tensor, action: torch.Tensor,
                members: int | None = None) -> torch.Tensor:
        """Q-values of all members, or of the first ``members`` only (TD3's actor loss
        reads ``Q_1``: evaluating one member skips the other's forward and backward)."""
        h = torch.cat([self.trunk(features), action], dim=-1)
        return self.net(h, members).squeeze(-1)
