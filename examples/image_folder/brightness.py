"""A frame source outside MuJoCo: a folder of images paired with the env's step.

``Brightness`` shows the images of ``images/`` in a seeded random order; the agent
answers each with one number in [-1, 1] and is paid for matching the image's mean
brightness (mapped to [-1, 1]). The env's own observation is a placeholder: what the
agent sees comes from the frame source ``frame``, the image the env is showing, which
``env.frames`` names (``examples/image_folder/brightness.py:frame``).

    robovision train examples/image_folder/brightness_sac.yaml
"""

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robovision.envs.frames import ImageFolder

IMAGES = Path(__file__).resolve().parent / "images"


class Brightness(gym.Env):
    def __init__(self, folder: str | Path = IMAGES, episode_length: int = 10) -> None:
        self.images = ImageFolder(folder)
        self.episode_length = episode_length
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.index, self.t = 0, 0

    def _target(self) -> float:
        return float(self.images.image(self.index).mean() / 127.5 - 1.0)

    def _next(self) -> np.ndarray:
        self.index = int(self.np_random.integers(len(self.images)))
        return np.array([self.t / self.episode_length], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._next(), {}

    def step(self, action):
        reward = 1.0 - abs(float(np.asarray(action).reshape(-1)[0]) - self._target())
        self.t += 1
        return self._next(), reward, False, self.t >= self.episode_length, {}


def make_env(**kwargs) -> Brightness:
    kwargs.pop("render_mode", None)  # frames come from `frame`, not from render()
    return Brightness(**kwargs)


def frame(env: Brightness) -> np.ndarray:
    """The frame source: the image the env is showing now."""
    return env.images.image(env.index)
