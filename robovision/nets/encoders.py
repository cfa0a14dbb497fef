"""Encoders: observation -> feature vector, with ``out_dim`` known at construction.

Every agent consumes features from an encoder, so state vectors, images and
``{"pixels", "state"}`` dicts reach the same actor and critic heads. Pixel
encoders divide by 255 inside ``forward`` (the one place it happens) and size
their output with a dummy forward pass, so any image size works.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

from robovision.obs import is_image_space


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


def conv_output_size(size: int, layers: list[tuple[int, int]]) -> int:
    """Spatial size after ``(kernel, stride)`` valid convolutions."""
    for kernel, stride in layers:
        size = (size - kernel) // stride + 1
    return size


def min_input_size(layers: list[tuple[int, int]]) -> int:
    size = 1
    while conv_output_size(size, layers) < 1:
        size += 1
    return size


class PixelEncoder(Encoder):
    """A conv trunk + linear projection for uint8 ``(C, H, W)`` images.

    ``kind="drq"``: 4 conv layers of 32 filters, 3x3, strides 2/1/1/1 (DrQ /
    DrQ-v2), then Linear -> LayerNorm -> Tanh to ``feature_dim``; with
    ``project=False`` the conv features themselves (DrQ-v2 puts that projection in
    the actor and the critic, :class:`robovision.nets.heads.Projection`).
    ``kind="nature"``: the NatureCNN (32x8s4, 64x4s2, 64x3s1) then Linear -> ReLU.
    With ``amp``, the trunk runs under bf16 autocast, in channels_last layout where that
    is faster (``CHANNELS_LAST``, ``CHANNELS_LAST_ON_CUDA``); in float32 it runs
    channels_last on the CPU (``CHANNELS_LAST_FP32``, :meth:`takes_channels_last`); projected
    features are float32, unprojected conv features (``project=False``) bf16, as the
    heads' bf16 :class:`robovision.nets.heads.Projection` reads them.
    """

    LAYOUTS: ClassVar[dict[str, list[tuple[int, int, int]]]] = {
        "drq": [(32, 3, 2), (32, 3, 1), (32, 3, 1), (32, 3, 1)],
        "nature": [(32, 8, 4), (64, 4, 2), (64, 3, 1)],
    }
    """(filters, kernel, stride) per conv layer."""
    CHANNELS_LAST: ClassVar[dict[str, bool]] = {"drq": True, "nature": False}
    """Whether the bf16 trunk takes its input channels_last on the CPU. Measured per
    layout, one SAC update at batch 256 from 84x84x9 (``scripts/bench_pixel_update.py``,
    BENCHMARKS.md 2): the DrQ trunk is faster channels_last (493 vs 537 ms), the NatureCNN
    with its 8x8 stride-4 first layer faster without (197 vs 257 ms)."""
    CHANNELS_LAST_FP32: ClassVar[bool] = True
    """Whether the float32 trunk (no ``amp``) takes its input channels_last on the CPU,
    for every layout: faster for both, most for the NatureCNN on AVX2 (BENCHMARKS.md
    25: forward and backward at batch 256, 158-160 vs 223-224 ms; the DrQ trunk 588-590
    vs 645-646 ms). On CUDA the float32 trunk follows ``CHANNELS_LAST_FP32_ON_CUDA``."""
    CHANNELS_LAST_FP32_ON_CUDA: ClassVar[bool] = False
    """Whether the float32 trunk takes its input channels_last on CUDA: not timed there
    (``scripts/bench_gpu.py``'s ``fp32+nhwc`` lever), so DrQ-v2's NCHW."""
    CHANNELS_LAST_ON_CUDA: ClassVar[bool] = True
    """Whether the bf16 trunk takes its input channels_last on CUDA, for every layout:
    NHWC is what tensor-core convolutions use (``scripts/bench_gpu.py``'s ``nchw`` lever
    times the other layout on a GPU)."""

    def __init__(self, space: spaces.Box, kind: str = "drq", feature_dim: int = 50,
                 amp: bool = False, project: bool = True) -> None:
        super().__init__()
        if kind not in self.LAYOUTS:
            raise ValueError(f"unknown pixel encoder '{kind}'; choose one of {list(self.LAYOUTS)}")
        channels, height, width = space.shape
        geometry = [(k, s) for _, k, s in self.LAYOUTS[kind]]
        smallest = min_input_size(geometry)
        if min(height, width) < smallest:
            raise ValueError(f"image {height}x{width} is too small for the '{kind}' encoder: "
                             f"the minimum size is {smallest}x{smallest} (set image_size)")
        layers: list[nn.Module] = []
        for out, kernel, stride in self.LAYOUTS[kind]:
            layers += [nn.Conv2d(channels, out, kernel, stride), nn.ReLU()]
            channels = out
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            flat = self.trunk(torch.zeros(1, *space.shape)).shape[1]
        if not project:
            self.head = nn.Identity()
            self.out_dim = flat
        elif kind == "drq":
            self.head = nn.Sequential(nn.Linear(flat, feature_dim), nn.LayerNorm(feature_dim),
                                      nn.Tanh())
            self.out_dim = feature_dim
        else:
            self.head = nn.Sequential(nn.Linear(flat, 512), nn.ReLU())
            self.out_dim = 512
        self.amp, self.bf16_channels_last = amp, self.CHANNELS_LAST[kind]
        self.unprojected = not project
        self.conv_out_dim = flat

    def folded_first_conv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first conv's weight and bias with the input normalisation ``x / 255 - 0.5``
        folded in (``W/255``, ``b - 0.5 * sum(W)``), for raw pixel values ``x``."""
        conv: nn.Conv2d = self.trunk[0]
        return conv.weight / 255.0, conv.bias - 0.5 * conv.weight.sum(dim=(1, 2, 3))

    def _normalized_first_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The first conv applied to ``x / 255 - 0.5``: with the normalisation folded into
        its weights, the full-size image is converted once and never rescaled element by
        element."""
        weight, bias = self.folded_first_conv()
        return F.conv2d(x, weight, bias, self.trunk[0].stride)

    def takes_channels_last(self, device: torch.device) -> bool:
        """Whether the trunk's input is made channels_last on ``device``."""
        if device.type == "cuda":
            return self.CHANNELS_LAST_ON_CUDA if self.amp else self.CHANNELS_LAST_FP32_ON_CUDA
        return self.bf16_channels_last if self.amp else self.CHANNELS_LAST_FP32

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # Convert the small uint8 tensor's layout, then cast once (the cast keeps it).
        x = (obs.contiguous(memory_format=torch.channels_last)
             if self.takes_channels_last(obs.device) else obs)
        if self.amp:
            # No weight cache: each weight is cast once per call anyway, and CUDA graph
            # capture requires it off (robovision.agents.graph).
            with torch.autocast(x.device.type, dtype=torch.bfloat16, cache_enabled=False):
                h = self.head(self.trunk[1:](self._normalized_first_conv(x.to(torch.bfloat16))))
            # Unprojected conv features stay bf16: each head's Projection would cast a
            # float32 copy straight back to bf16 (two full-size copies per consumer).
            return h if self.unprojected else h.float()
        return self.head(self.trunk[1:](self._normalized_first_conv(x.float())))


class DictEncoder(Encoder):
    """``{"pixels", "state"}``: pixel features concatenated with the raw state."""

    def __init__(self, space: spaces.Dict, kind: str = "drq", feature_dim: int = 50,
                 amp: bool = False, project: bool = True) -> None:
        super().__init__()
        self.pixels = PixelEncoder(space["pixels"], kind, feature_dim, amp, project)
        self.state = FlattenEncoder(space["state"])
        self.out_dim = self.pixels.out_dim + self.state.out_dim

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([self.pixels(obs["pixels"]), self.state(obs["state"])], dim=-1)


class MultiViewEncoder(Encoder):
    """Several camera views (a dict of images, plus any state vectors): each view through
    a conv trunk of its own, or all through one shared trunk (``shared``: views of one
    shape, run as one batch); the features are concatenated with the flat vectors."""

    def __init__(self, space: spaces.Dict, kind: str = "drq", feature_dim: int = 50,
                 amp: bool = False, project: bool = True, shared: bool = False) -> None:
        super().__init__()
        self.image_keys = [k for k, s in space.spaces.items() if is_image_space(s)]
        self.vector_keys = [k for k in space.spaces if k not in self.image_keys]
        self.shared = shared
        if shared:
            shapes = {space[k].shape for k in self.image_keys}
            if len(shapes) > 1:
                raise ValueError(f"a shared conv trunk needs views of one shape, got {shapes}")
            trunk = PixelEncoder(space[self.image_keys[0]], kind, feature_dim, amp, project)
            self.views = nn.ModuleDict({"shared": trunk})
            view_dim = trunk.out_dim * len(self.image_keys)
        else:
            self.views = nn.ModuleDict({k: PixelEncoder(space[k], kind, feature_dim, amp, project)
                                        for k in self.image_keys})
            view_dim = sum(v.out_dim for v in self.views.values())
        self.out_dim = view_dim + sum(int(np.prod(space[k].shape)) for k in self.vector_keys)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.shared:  # all views as one batch through the one trunk
            batch = obs[self.image_keys[0]].shape[0]
            out = self.views["shared"](torch.cat([obs[k] for k in self.image_keys]))
            features = list(out.split(batch))
        else:
            features = [self.views[k](obs[k]) for k in self.image_keys]
        features += [obs[k].flatten(1).float() for k in self.vector_keys]
        return torch.cat(features, dim=-1)


def make_encoder(space: spaces.Space, kind: str = "auto", feature_dim: int = 50,
                 amp: bool = False, project: bool = True, shared_views: bool = False
                 ) -> Encoder:
    """Build the encoder for an observation space.

    ``kind``: ``auto`` (flatten for vectors, ``drq`` for images and dicts),
    ``flat``, ``drq`` or ``nature``. ``project=False``: pixel encoders stop at the
    conv trunk (the heads own their projections).
    """
    if isinstance(space, spaces.Dict):
        pixel_kind = "drq" if kind == "auto" else kind
        if set(space.spaces) == {"pixels", "state"}:
            return DictEncoder(space, pixel_kind, feature_dim, amp, project)
        if not any(is_image_space(s) for s in space.spaces.values()):
            raise ValueError(f"a dict observation needs at least one image entry, got "
                             f"{sorted(space.spaces)}")
        return MultiViewEncoder(space, pixel_kind, feature_dim, amp, project, shared_views)
    if is_image_space(space):
        return PixelEncoder(space, "drq" if kind == "auto" else kind, feature_dim, amp, project)
    if isinstance(space, spaces.Box) and kind in ("auto", "flat"):
        return FlattenEncoder(space)
    raise ValueError(f"no encoder '{kind}' for observation space {space}")
