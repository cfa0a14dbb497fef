"""Stack the last ``k`` pixel frames along the channel axis.

The wrapper keeps references to the last ``k`` frames (no frame is copied
while it waits in the stack); the stacked observation is assembled once per
step. At reset the stack is filled with the first frame, the convention the
image replay uses to rebuild stacks at episode starts.
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class FrameStack(gym.ObservationWrapper):
    def __init__(self, env: gym.Env, k: int, key: str | None = None) -> None:
        """``key``: the pixel entry of a dict observation (``None`` for a plain image)."""
        if k < 1:
            raise ValueError(f"frame_stack must be >= 1, got {k}")
        super().__init__(env)
        self.k, self.key = k, key
        self.frames: deque[np.ndarray] = deque(maxlen=k)
        image = env.observation_space[key] if key else env.observation_space
        c, h, w = image.shape
        stacked = spaces.Box(0, 255, (c * k, h, w), np.uint8)
        if key:
            self.observation_space = spaces.Dict({**env.observation_space.spaces, key: stacked})
        else:
            self.observation_space = stacked

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        frame = obs[self.key] if self.key else obs
        self.frames.clear()
        self.frames.extend([frame] * self.k)
        return self._stacked(obs), info

    def observation(self, obs):
        self.frames.append(obs[self.key] if self.key else obs)
        return self._stacked(obs)

    def _stacked(self, obs):
        stacked = np.concatenate(self.frames, axis=0)
        if self.key:
            return {**obs, self.key: stacked}
        return stacked
