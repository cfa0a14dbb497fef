"""dm_control suite tasks as gymnasium environments.

Observations are the task's observation dict flattened (in its key order) into
one float32 vector; actions are a Box built from the action spec. The suite's
time limit is reported as ``truncated``; a step whose discount is zero (a true
terminal) as ``terminated``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robovision.wrappers.gl_context import close_dm_control_env, make_dm_control_context_current

SUCCESS_DOMAINS = ("manipulator", "stacker")
"""Manipulation domains of the suite: ``info["success"]`` is 1.0 when the task's reward
(bring / insert the object to its target, stack the boxes) is at its maximum."""
SUCCESS_REWARD = 0.99


def _flat_size(spec: Any) -> int:
    return int(np.prod(spec.shape)) if spec.shape else 1


def flatten_observation(observation: dict[str, np.ndarray]) -> np.ndarray:
    parts = [np.asarray(v, dtype=np.float32).reshape(-1) for v in observation.values()]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


class DMCEnv(gym.Env):
    """One dm_control suite task, e.g. ``DMCEnv("cheetah", "run")``."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, domain: str, task: str, render_mode: str | None = None,
                 render_height: int = 84, render_width: int = 84, camera_id: int | str = 0,
                 task_kwargs: dict | None = None, environment_kwargs: dict | None = None,
                 loader: Callable[..., Any] | str | None = None) -> None:
        """``loader``: a function with ``dm_control.suite.load``'s signature (the
        default) that returns a ``control.Environment``, or its ``module:function``
        path; custom tasks plug in here."""
        from robovision.runtime import order_triton_and_gl

        order_triton_and_gl()  # before dm_control loads GL (runtime.py says why)
        from dm_control import suite

        if isinstance(loader, str):
            module, _, name = loader.partition(":")
            loader = getattr(importlib.import_module(module), name)
        self.domain, self.task = domain, task
        self._task_kwargs = dict(task_kwargs or {})
        self._environment_kwargs = environment_kwargs
        self._load = loader or suite.load
        self._env = self._make(seed=None)
        self.render_mode = render_mode
        self.render_height, self.render_width = render_height, render_width
        self.camera_id = camera_id
        action_spec = self._env.action_spec()
        self.action_space = spaces.Box(action_spec.minimum.astype(np.float32),
                                       action_spec.maximum.astype(np.float32),
                                       dtype=np.float32)
        size = sum(_flat_size(s) for s in self._env.observation_spec().values())
        self.observation_space = spaces.Box(-np.inf, np.inf, (size,), dtype=np.float32)

    def _make(self, seed: int | None):
        task_kwargs = {**self._task_kwargs, "random": seed}
        return self._load(self.domain, self.task, task_kwargs=task_kwargs,
                          environment_kwargs=self._environment_kwargs)

    @property
    def physics(self):
        return self._env.physics

    @property
    def dm_env(self):
        return self._env

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:  # reseed the task's RandomState in place: physics and any
            # render context (and its fast-render settings) survive
            self._env.task.random.seed(int(self.np_random.integers(2**31 - 1)))
        time_step = self._env.reset()
        return flatten_observation(time_step.observation), {}

    def step(self, action):
        action = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        time_step = self._env.step(action)
        reward = float(time_step.reward or 0.0)
        obs = flatten_observation(time_step.observation)
        terminated = bool(time_step.last() and time_step.discount == 0.0)
        truncated = bool(time_step.last() and not terminated)
        info = {"discount": float(time_step.discount)}
        if self.domain in SUCCESS_DOMAINS:
            info["success"] = float(reward >= SUCCESS_REWARD)
        return obs, reward, terminated, truncated, info

    def render(self) -> np.ndarray:
        make_dm_control_context_current(self.physics)
        return self.physics.render(height=self.render_height, width=self.render_width,
                                   camera_id=self.camera_id)

    def close(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            close_dm_control_env(env)
