"""Landmark detection as an MDP (in the spirit of Ghesu et al. and Alansary et al.):
an agent moves a point over an image or volume, observing a region of interest
centred on it, and is rewarded by the decrease in distance to the landmark.

``robovision/Landmark2D-v0`` (images) and ``robovision/Landmark3D-v0`` (volumes).
Actions: +-x, +-y (+-z) by the current step size (discrete) or continuous deltas up
to it. Multi-scale search (optional): the step and the ROI sampling stride shrink
when the agent oscillates. For evaluation, ``stop_on_oscillation`` ends an episode
when the agent oscillates at the finest scale, detected from its own positions.

``info["success"]`` (1.0 or 0.0) says whether the point is within ``success_radius`` of
the landmark (in the distance's units: pixels, or the sample's spacing). At an
episode's last step it is the episode's success, which training evaluations log as
``eval/success_rate``.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar, Literal

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robovision.envs.vision.data import (
    AnnotatedImage,
    named_dataset,
    procedural_volumes,
    split_samples,
)
from robovision.envs.vision.geometry import point_distance


class LandmarkEnv(gym.Env):
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, dims: int, dataset: list[AnnotatedImage],
                 action_type: Literal["discrete", "continuous"] = "discrete",
                 roi: int = 32, history: int = 4, max_steps: int = 60,
                 scales: tuple[int, ...] = (1,), multiscale: bool = False,
                 stop_on_oscillation: bool = False, landmark: int = 0,
                 color: bool = False, success_radius: float = 2.0,
                 render_mode: str | None = None) -> None:
        if not dataset:
            raise ValueError("a landmark env needs at least one annotated image")
        self.dims, self.images, self.action_type = dims, dataset, action_type
        self.roi, self.history_len, self.max_steps = roi, history, max_steps
        self.scales = tuple(sorted(scales, reverse=True)) if multiscale else (min(scales),)
        self.stop_on_oscillation, self.landmark = stop_on_oscillation, landmark
        self.render_mode = render_mode
        if color and dims == 3:
            raise ValueError("color=True is for 2D images; volumes are single-channel")
        self.color = color
        if success_radius <= 0:
            raise ValueError(f"success_radius={success_radius}: a distance > 0")
        self.success_radius = success_radius
        if action_type == "discrete":
            self.action_space = spaces.Discrete(2 * dims)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, (dims,), np.float32)
        depth = roi if dims == 3 else (3 if color else 1)
        self.observation_space = spaces.Box(0, 255, (history * depth, roi, roi), np.uint8)

    # -- episode -------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        index = (options or {}).get("index", int(self.np_random.integers(len(self.images))))
        self.sample = self.images[index]
        self.volume = self.sample.image if self.color else self._grey(self.sample.image)
        border = [(1, 1)] * self.dims + [(0, 0)] * (self.volume.ndim - self.dims)
        self._padded = {  # per stride: smoothed, with a zero border for ROIs leaving it
            stride: np.pad(_box_filter(self.volume, stride, self.dims), border)
            for stride in self._strides()}
        self.shape = np.array(self.volume.shape[:self.dims][::-1], np.float32)  # x, y(, z)
        self.target = self.sample.keypoints[self.landmark][: self.dims].astype(np.float32)
        self.position = self.np_random.uniform(0.1, 0.9, self.dims).astype(np.float32) * (
            self.shape - 1)
        self.scale_index, self.steps = 0, 0
        self.visited: deque[tuple] = deque(maxlen=6)
        self.frames = deque([self._roi()] * self.history_len, maxlen=self.history_len)
        return self._observation(), self._info()

    @staticmethod
    def _grey(image: np.ndarray) -> np.ndarray:
        if image.ndim == 3 and image.shape[-1] == 3:
            return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return image

    def _strides(self) -> tuple[int, ...]:
        """ROI sampling stride per scale: the step size when multi-scale, else 1."""
        return self.scales if len(self.scales) > 1 else (1,)

    @property
    def step_size(self) -> int:
        return self.scales[self.scale_index]

    def distance(self) -> float:
        return float(point_distance(self.position, self.target, self.sample.spacing))

    def step(self, action):
        before = self.distance()
        self.position = np.clip(self.position + self._delta(action), 0, self.shape - 1)
        self.steps += 1
        reward = before - self.distance()
        terminated = False
        if self._oscillating():
            if self.scale_index < len(self.scales) - 1:
                self.scale_index += 1
                self.visited.clear()
            elif self.stop_on_oscillation:
                terminated = True
        self.frames.append(self._roi())
        truncated = self.steps >= self.max_steps
        return self._observation(), float(reward), terminated, truncated, self._info()

    def _delta(self, action) -> np.ndarray:
        if self.action_type == "discrete":
            delta = np.zeros(self.dims, np.float32)
            a = int(action)
            delta[a // 2] = self.step_size if a % 2 == 0 else -self.step_size
            return delta
        return np.clip(np.asarray(action, np.float32), -1, 1) * self.step_size

    def _oscillating(self) -> bool:
        """The agent is back on a position it held within its last few steps."""
        key = tuple(np.round(self.position).astype(int))
        oscillating = key in self.visited
        self.visited.append(key)
        return oscillating

    # -- observation -----------------------------------------------------------------

    def _roi(self) -> np.ndarray:
        """A ``roi``-sized window centred on the agent, sampled with the current stride
        from the image box-filtered over that stride (no aliasing: a small landmark stays
        visible at coarse scales), zero outside the image."""
        stride = self._strides()[self.scale_index]
        offsets = (np.arange(self.roi) - self.roi // 2) * stride
        centre = np.round(self.position).astype(int)
        axes = [np.clip(centre[d] + offsets, -1, int(self.shape[d])) for d in
                range(self.dims)]
        index = np.ix_(*[ax for ax in axes[::-1]])  # (z,) y, x order
        window = self._padded[stride][tuple(i + 1 for i in index)]
        if self.dims == 3:
            return window.reshape(-1, self.roi, self.roi)
        return window.transpose(2, 0, 1) if self.color else window[None]

    def _observation(self) -> np.ndarray:
        return np.concatenate(list(self.frames), 0).astype(np.uint8)

    def _info(self) -> dict:
        distance = self.distance()
        return {"distance": distance, "position": self.position.copy(),
                "scale": self.step_size, "success": float(distance <= self.success_radius)}

    def render(self) -> np.ndarray:
        image = self.volume if self.dims == 2 else self.volume[int(self.position[2])]
        frame = image.copy() if self.color else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        cv2.circle(frame, tuple(int(v) for v in self.target[:2]), 2, (0, 255, 0), -1)
        cv2.circle(frame, tuple(int(v) for v in self.position[:2]), 2, (255, 0, 0), -1)
        return frame


def _box_filter(volume: np.ndarray, size: int, dims: int) -> np.ndarray:
    """Mean over a ``size``-wide window on the ``dims`` spatial axes (not over colour
    channels; identity for size 1), uint8."""
    if size == 1:
        return volume
    from scipy.ndimage import uniform_filter

    window = [size] * dims + [1] * (volume.ndim - dims)
    return uniform_filter(volume.astype(np.float32), window, mode="nearest").round().astype(
        np.uint8)


class Landmark2D(LandmarkEnv):
    """``robovision/Landmark2D-v0`` on procedural images (marker centres) by default."""

    def __init__(self, dataset: str | list[AnnotatedImage] = "procedural",
                 split: Literal["train", "val", "test", "all"] = "train",
                 num_images: int = 500,
                 image_size: int = 84, difficulty: str = "easy", data_seed: int = 0,
                 **kwargs) -> None:
        if isinstance(dataset, str):
            dataset = named_dataset(dataset, "landmarks", num_images, image_size, difficulty,
                                    data_seed)
        super().__init__(2, split_samples(dataset, split, data_seed), **kwargs)


class Landmark3D(LandmarkEnv):
    """``robovision/Landmark3D-v0`` on procedural volumes (blob centres) by default."""

    def __init__(self, dataset: str | list[AnnotatedImage] = "procedural",
                 split: Literal["train", "val", "test", "all"] = "train",
                 num_images: int = 100,
                 image_size: int = 32, data_seed: int = 0, roi: int = 16, **kwargs) -> None:
        if isinstance(dataset, str):
            if dataset != "procedural":
                raise ValueError(f"dataset='{dataset}': Landmark3D has 'procedural' volumes "
                                 "or a list of AnnotatedImage volumes")
            dataset = procedural_volumes(num_images, image_size, data_seed)
        super().__init__(3, split_samples(dataset, split, data_seed), roi=roi, **kwargs)
