"""Observation trees: the one place that knows an observation is an array or a dict of them.

An observation (and a batch of them) is either one array/tensor or a flat dict
``{"pixels": ..., "state": ...}``. Every layer above (replay, rollout, agents,
loop) goes through these helpers instead of branching on ``isinstance(obs, dict)``.
This module sits at the bottom of the package: it imports numpy, torch and
gymnasium's spaces, and nothing from robovision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

Obs = Any
"""An array, a tensor, or a dict of them."""


def map_obs(fn: Callable[..., Any], obs: Obs, *others: Obs) -> Obs:
    """Apply ``fn`` leaf by leaf; ``others`` are trees of the same shape zipped along."""
    if isinstance(obs, dict):
        return {k: fn(v, *(o[k] for o in others)) for k, v in obs.items()}
    return fn(obs, *others)


def first_leaf(obs: Obs) -> Any:
    return next(iter(obs.values())) if isinstance(obs, dict) else obs


def leaf_spaces(space: spaces.Space) -> dict[str | None, spaces.Box]:
    """``{key: Box}`` of a Dict space, or ``{None: space}`` for a single Box."""
    if isinstance(space, spaces.Dict):
        return dict(space.spaces)
    return {None: space}


def from_leaves(leaves: dict[str | None, Any]) -> Obs:
    """Inverse of :func:`leaf_spaces` for values: a lone ``None`` key is the plain leaf."""
    if list(leaves) == [None]:
        return leaves[None]
    return dict(leaves)


def torch_dtype(space: spaces.Box) -> torch.dtype:
    """uint8 stays uint8 (images); everything else is stored as float32."""
    return torch.uint8 if space.dtype == np.uint8 else torch.float32


def alloc(space: spaces.Space, leading: Sequence[int], device: torch.device | str) -> Obs:
    """Zeros of shape ``(*leading, *leaf.shape)`` for every leaf of ``space``."""
    return from_leaves({k: torch.zeros((*leading, *s.shape), dtype=torch_dtype(s), device=device)
                        for k, s in leaf_spaces(space).items()})


def is_image_space(space: spaces.Space) -> bool:
    """A uint8 ``(C, H, W)`` Box: a (stacked) camera image."""
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def space_ndim(space: spaces.Space) -> int:
    """Rank of one (unbatched) observation's first leaf."""
    return len(next(iter(leaf_spaces(space).values())).shape)


def to_tensor(obs: Obs, device: torch.device, single_ndim: int) -> tuple[Obs, bool]:
    """A numpy observation (or batch) as tensors on ``device``.

    Returns ``(tensors, was_single)``: a single observation gains a batch
    dimension, so agents always run batched networks.
    """
    single = np.ndim(first_leaf(obs)) == single_ndim

    def convert(x: Any) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x), device=device)
        return t.unsqueeze(0) if single else t

    return map_obs(convert, obs), single


def stack(observations: Sequence[Obs]) -> Obs:
    """A list of single observations as one numpy batch."""
    first = observations[0]
    if isinstance(first, dict):
        return {k: np.stack([o[k] for o in observations]) for k in first}
    return np.stack(observations)


def index(obs: Obs, idx: Any) -> Obs:
    """``obs[idx]`` on every leaf."""
    return map_obs(lambda x: x[idx], obs)


def set_index(batch: Obs, idx: Any, value: Obs) -> None:
    """``batch[idx] = value`` on every leaf (in place)."""
    if isinstance(batch, dict):
        for key, leaf in batch.items():
            leaf[idx] = value[key]
    else:
        batch[idx] = value
