"""Encoders: observation -> feature vector, with ``out_dim`` known at construction.

Every agent consumes features from an encoder, so state vectors, images and
``{"pixels", "state"}`` dicts all reach the same actor and critic heads.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn


class Encoder(nn.Module):
    """Base type for encoders: subclasses set ``out_dim``."""

    out_dim: int


class FlattenEncoder(Encoder):
    """State vectors: flatten to ``(batch, features)`` as float32."""

    def __init__(self, space: spaces.Box) -> None:
        super().__init__()
        self.out_dim = int(np.prod(space.shape))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.flatten(1).float()


def is_image_space(space: spaces.Space) -> bool:
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def make_encoder(space: spaces.Space, kind: str = "auto", **kwargs) -> Encoder:
    """Build the encoder for an observation space.

    ``kind="auto"`` picks a flatten encoder for vectors; image and dict
    encoders are chosen by name.
    """
    if isinstance(space, spaces.Box) and not is_image_space(space) and kind in ("auto", "flat"):
        return FlattenEncoder(space)
    raise ValueError(
        f"no encoder '{kind}' for observation space {space}; state observations need a "
        "float Box (use obs=state)")
