"""PointReach: move a dot to the centre of the image, seen only through its camera frame.

A small vision-control task that trains from pixels in a couple of minutes on a
CPU, used by the pixel learning test and as a template for custom camera envs:
any env whose ``render()`` returns an ``rgb_array`` frame works with
``make_env(..., obs="pixels")``.
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class PointReach(gym.Env):
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, render_mode: str | None = None, size: int = 32, max_steps: int = 50,
                 speed: float = 0.15) -> None:
        self.render_mode, self.size = render_mode, size
        self.max_steps, self.speed = max_steps, speed
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.position = np.zeros(2, np.float32)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-0.9, 0.9, 2).astype(np.float32)
        self.steps = 0
        return self.position.copy(), {}

    def step(self, action):
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        self.position = np.clip(self.position + self.speed * action, -1.0, 1.0)
        self.steps += 1
        reward = -float(np.linalg.norm(self.position))
        return self.position.copy(), reward, False, self.steps >= self.max_steps, {}

    def render(self) -> np.ndarray:
        frame = np.zeros((self.size, self.size, 3), np.uint8)
        centre = self.size // 2
        frame[centre, :, 2] = frame[:, centre, 2] = 80  # cross-hair at the goal
        row, col = ((self.position + 1.0) / 2.0 * (self.size - 3)).round().astype(int)
        frame[col:col + 3, row:row + 3] = 255
        return frame
