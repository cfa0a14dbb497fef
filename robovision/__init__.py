"""robovision: robot control and vision by reinforcement learning.

Importing the package registers every ``robovision/...`` and ``dmc/...`` gymnasium ID
(``gym.register_envs(robovision)`` works too) without importing dm_control or torch.
"""

import os

DEFAULT_GL_BACKEND = "egl"
"""Headless rendering by default. The one place ``MUJOCO_GL`` is defaulted: importing any
part of robovision runs this before dm_control or gymnasium's MuJoCo renderer picks
its GL backend. Set ``MUJOCO_GL`` (``egl``, ``osmesa``) in the environment to choose."""
os.environ.setdefault("MUJOCO_GL", DEFAULT_GL_BACKEND)

from robovision.runtime import order_triton_and_gl  # noqa: E402

order_triton_and_gl(preload=False)  # GL already loaded? keep triton out (runtime.py: why)

from robovision import envs  # noqa: E402  (registers the robovision/... and dmc/... IDs)
from robovision.make import available_specs, make_env  # noqa: E402

__version__ = "0.1.0"
__all__ = ["__version__", "available_specs", "envs", "make_env"]
