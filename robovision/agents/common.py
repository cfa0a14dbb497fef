"""Helpers shared by agents: optimisers, observation conversion, state dicts, actors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from robovision.nets.distributions import tanh_gaussian_sample
from robovision.nets.encoders import Encoder, EncoderConfig, make_encoder
from robovision.nets.mlp import EnsembleMLP, mlp


def adam(params: Iterable[torch.Tensor], lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with the fused kernel (one op for all parameters) where torch has one."""
    return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)


def build_encoder(cfg: EncoderConfig, obs_space, device: torch.device) -> Encoder:
    """The agent's observation encoder from its ``encoder`` config."""
    return make_encoder(obs_space, cfg.kind, cfg.feature_dim, cfg.amp).to(device)


def map_obs(fn, obs: Any) -> Any:
    """Apply ``fn`` to an observation that is an array/tensor or a dict of them."""
    if isinstance(obs, dict):
        return {k: fn(v) for k, v in obs.items()}
    return fn(obs)


def obs_to_tensor(obs: Any, device: torch.device, single_ndim: int | dict[str, int]
                  ) -> tuple[Any, bool]:
    """Convert a numpy observation to a batched tensor on ``device``.

    Returns ``(tensor, was_single)``: a single observation gains a batch dimension
    so agents always run batched networks.
    """
    first = next(iter(obs.values())) if isinstance(obs, dict) else obs
    ndim = next(iter(single_ndim.values())) if isinstance(single_ndim, dict) else single_ndim
    single = np.ndim(first) == ndim

    def convert(x: Any) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x), device=device)
        return t.unsqueeze(0) if single else t

    return map_obs(convert, obs), single


def space_ndim(space) -> int | dict[str, int]:
    if hasattr(space, "spaces") and isinstance(space.spaces, dict):
        return {k: len(s.shape) for k, s in space.spaces.items()}
    return len(space.shape)


def collect_state(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    """``state_dict()`` of each named attribute (modules, optimisers, tensors)."""
    state = {}
    for name in names:
        value = getattr(obj, name)
        is_tensor = isinstance(value, torch.Tensor)
        state[name] = value.detach().clone() if is_tensor else value.state_dict()
    return state


def restore_state(obj: Any, names: Iterable[str], state: dict[str, Any]) -> None:
    missing = [n for n in names if n not in state]
    if missing:
        raise KeyError(f"checkpoint lacks agent components {missing}")
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, torch.Tensor):
            with torch.no_grad():
                value.copy_(state[name])
        else:
            value.load_state_dict(state[name])


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class TanhGaussianActor(nn.Module):
    """SAC actor: an MLP gives mean and log-std; actions are tanh-squashed samples.

    The log-std is squashed into ``[log_std_min, log_std_max]`` with tanh (smooth,
    no dead gradient from clamping).
    """

    def __init__(self, in_dim: int, action_dim: int, hidden: list[int],
                 log_std_min: float = -5.0, log_std_max: float = 2.0, act: str = "relu") -> None:
        super().__init__()
        self.net = mlp(in_dim, hidden, 2 * action_dim, act)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(features).chunk(2, dim=-1)
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

    def __init__(self, in_dim: int, action_dim: int, hidden: list[int], act: str = "relu") -> None:
        super().__init__()
        self.net = mlp(in_dim, hidden, action_dim, act)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(features))


class QEnsemble(nn.Module):
    """``n`` Q-functions ``Q_i(features, action)`` fused into one ensemble.

    Output shape ``(n, batch)``."""

    def __init__(self, in_dim: int, action_dim: int, hidden: list[int], n: int = 2,
                 act: str = "relu") -> None:
        super().__init__()
        self.net = EnsembleMLP(n, in_dim + action_dim, hidden, 1, act)

    def forward(self, features: torch.Tensor, action: torch.Tensor,
                members: int | None = None) -> torch.Tensor:
        """Q-values of all members, or of the first ``members`` only (TD3's actor loss
        reads ``Q_1``: evaluating one member skips the other's forward and backward)."""
        return self.net(torch.cat([features, action], dim=-1), members).squeeze(-1)


def optimize(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def encode_batch(encoder: nn.Module, obs: Any, next_obs: Any, cfg: EncoderConfig
                 ) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """The off-policy agents' shared front end: augment (DrQ random shift) if asked,
    encode ``obs`` with gradients (the critic loss trains the encoder) and ``next_obs``
    without. Returns ``(augmented obs, features, next_features)``."""
    if cfg.augment == "shift":
        from robovision.augment import augment_obs

        obs, next_obs = augment_obs(obs), augment_obs(next_obs)
    features = encoder(obs)
    with torch.no_grad():
        next_features = encoder(next_obs)
    return obs, features, next_features


def actor_features(encoder: nn.Module, obs: Any, features: torch.Tensor,
                   cfg: EncoderConfig) -> torch.Tensor:
    """Features for the actor loss: detached (DrQ) or re-encoded so the actor loss
    trains the encoder too (``encoder.grad=both``)."""
    return encoder(obs) if cfg.grad == "both" else features.detach()
