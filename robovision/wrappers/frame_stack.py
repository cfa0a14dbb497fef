"""Stack the last ``k`` pixel frames along the channel axis.

The wrapper keeps references to the last ``k`` frames (no frame is copied
while it waits in the stack); the stacked observation is assembled once per
step. At reset the stack is filled with the first frame, the convention the
replay uses to rebuild stacks at episode starts. A dict observation stacks each
of its image entries (one per camera view).
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class FrameStack(gym.ObservationWrapper):
    def __init__(self, env: gym.Env, k: int, key: str | list[str] | None = None) -> None:
        """``key``: the image entry (or entries) of a dict observation (``None`` for a
        plain image)."""
        if k < 1:
            raise ValueError(f"frame_stack must be >= 1, got {k}")
        super().__init__(env)
        self.k = k
        self.keys: list[str | None] = list(key) if isinstance(key, list | tuple) else [key]
        self.frames: dict[str | None, deque[np.ndarray]] = {
            name: deque(maxlen=k) for name in self.keys}
        stacked = {}
        for name in self.keys:
            image = env.observation_space[name] if name else env.observation_space
            c, h, w = image.shape
            stacked[name] = spaces.Box(0, 255, (c * k, h, w), np.uint8)
        if self.keys == [None]:
            self.observation_space = stacked[None]
        else:
            self.observation_space = spaces.Dict({**env.observation_space.spaces, **stacked})

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        for name, frames in self.frames.items():
            frames.clear()
            frames.extend([obs[name] if name else obs] * self.k)
        return self._stacked(obs), info

    def observation(self, obs):
        for name, frames in self.frames.items():
            frames.append(obs[name] if name else obs)
        return self._stacked(obs)

    def _stacked(self, obs):
        if self.keys == [None]:
            return np.concatenate(self.frames[None], axis=0)
        return {**obs, **{name: np.concatenate(frames, axis=0)
                          for name, frames in self.frames.items()}}
