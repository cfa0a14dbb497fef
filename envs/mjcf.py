"""Your own MuJoCo scene as a gymnasium env: an MJCF file plus reward and termination
functions of the physics state.

    env = robovision.envs.mjcf_env("scene.xml", reward=my_reward, cameras=["front"])
    make_env("mjcf:scene.xml", obs="pixels", camera="front", reward="my_module:reward")

- Actions: one per actuator, bounded by the actuators' ``ctrlrange`` (``[-1, 1]`` for
  unlimited ones); ``make_env`` rescales them to ``[-1, 1]``.
- Observation: ``qpos``, ``qvel`` and the sensors' readings, as one float32 vector.
- ``reward(model, data) -> float`` and ``terminated(model, data) -> bool`` (optional),
  given as callables or as ``module:function`` / ``path/to/file.py:function``.
- The time limit (``max_episode_steps`` agent steps) ends an episode as ``truncated``.
- Frames: a ``mujoco.Renderer`` kept for the env's life, from the camera named by
  ``camera`` (the first of ``cameras`` by default; ``-1`` is the free camera).

A file that does not compile, an unknown camera, a function that cannot be imported,
raises or returns NaN: each is an error naming the file, the camera list, the import
path or the function and the step.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

PhysicsFn = Callable[[Any, Any], Any]
"""``fn(model, data)`` of MuJoCo's ``MjModel`` and ``MjData``."""


class MJCFError(ValueError):
    """An MJCF scene or one of its functions cannot be used; the message says why."""


def load_callable(ref: str | Callable | None, what: str) -> Callable | None:
    """A callable from ``module:name`` or ``path/to/file.py:name`` (imported, never
    evaluated), or the callable itself."""
    if ref is None or callable(ref):
        return ref
    if not isinstance(ref, str) or ":" not in ref:
        raise MJCFError(f"{what}={ref!r}: give a callable or 'module:function' "
                        "(or 'path/to/file.py:function')")
    module_ref, _, name = ref.rpartition(":")
    try:
        if module_ref.endswith(".py"):
            path = Path(module_ref).resolve()
            if not path.exists():
                raise FileNotFoundError(f"no file {path}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault(path.stem, module)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_ref)
    except Exception as exc:
        raise MJCFError(f"{what}: cannot import '{module_ref}' ({type(exc).__name__}: {exc}); "
                        f"tried from {Path.cwd()} with sys.path {sys.path[:3]}...") from exc
    if not hasattr(module, name):
        raise MJCFError(f"{what}: '{module_ref}' has no '{name}'")
    return getattr(module, name)


class MJCFEnv(gym.Env):
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, xml_path: str | Path, reward: PhysicsFn | str | None = None,
                 terminated: PhysicsFn | str | None = None, cameras: Sequence[str] = (),
                 camera: str | int | None = None, frame_skip: int = 1,
                 max_episode_steps: int = 1000, reset_noise: float = 0.01,
                 render_mode: str | None = None, width: int = 84, height: int = 84) -> None:
        import mujoco

        self.path = Path(xml_path)
        if not self.path.exists():
            raise MJCFError(f"MJCF file {self.path.resolve()} does not exist")
        try:
            self.model = mujoco.MjModel.from_xml_path(str(self.path))
        except ValueError as exc:  # MuJoCo's compiler message names the element and line
            raise MJCFError(f"{self.path} does not compile: {exc}") from exc
        self.data = mujoco.MjData(self.model)
        self._reward = load_callable(reward, "reward")
        self._terminated = load_callable(terminated, "terminated")
        self.frame_skip, self.max_episode_steps = frame_skip, max_episode_steps
        self.reset_noise = reset_noise
        self.render_mode, self.width, self.height = render_mode, width, height
        for name in cameras:
            self.camera_index(name)
        self.camera_id = self.camera_index(camera if camera is not None else
                                           (cameras[0] if cameras else -1))
        low, high = self._action_bounds()
        self.action_space = spaces.Box(low, high, dtype=np.float32)
        size = self.model.nq + self.model.nv + self.model.nsensordata
        self.observation_space = spaces.Box(-np.inf, np.inf, (size,), dtype=np.float32)
        self._renderer = None
        self.steps = 0

    def camera_index(self, camera: str | int) -> int:
        """The index of a camera given by name or index (-1: the free camera)."""
        from robovision.wrappers.pixels import camera_index, model_camera_names

        return camera_index(camera, model_camera_names(self.model), str(self.path), MJCFError)

    def _action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        limited = self.model.actuator_ctrllimited.astype(bool)
        ranges = self.model.actuator_ctrlrange.astype(np.float32)
        low = np.where(limited, ranges[:, 0], -1.0).astype(np.float32)
        high = np.where(limited, ranges[:, 1], 1.0).astype(np.float32)
        return low, high

    def _observation(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.data.qvel, self.data.sensordata]
                              ).astype(np.float32)

    def _call(self, fn: Callable, what: str) -> Any:
        try:
            return fn(self.model, self.data)
        except Exception as exc:
            name = getattr(fn, "__qualname__", repr(fn))
            raise MJCFError(f"{what} function {name} raised at step {self.steps} of "
                            f"{self.path}: {type(exc).__name__}: {exc}") from exc

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        import mujoco

        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        noise = self.reset_noise
        self.data.qpos[:] += self.np_random.uniform(-noise, noise, self.model.nq)
        self.data.qvel[:] += self.np_random.uniform(-noise, noise, self.model.nv)
        mujoco.mj_forward(self.model, self.data)
        self.steps = 0
        return self._observation(), {}

    def step(self, action):
        import mujoco

        self.data.ctrl[:] = np.asarray(action, dtype=np.float64).reshape(self.model.nu)
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        self.steps += 1
        reward = 0.0
        if self._reward is not None:
            reward = self._call(self._reward, "reward")
            if not np.isfinite(reward):
                raise MJCFError(f"reward function {self._reward.__qualname__} returned "
                                f"{reward} at step {self.steps} of {self.path}")
        terminated = bool(self._call(self._terminated, "terminated")) if self._terminated \
            else False
        truncated = self.steps >= self.max_episode_steps and not terminated
        return self._observation(), float(reward), terminated, truncated, {}

    def render(self) -> np.ndarray:
        return self.render_camera(self.camera_id)

    def render_camera(self, camera_id: int) -> np.ndarray:
        """The frame of camera ``camera_id`` (several cameras share one renderer)."""
        from robovision.wrappers.gl_context import mujoco_renderer

        if self._renderer is None:  # made on first use: fast_render settings apply
            self._renderer = mujoco_renderer(self.model, self.height, self.width)
        self._renderer.update_scene(self.data, camera=camera_id)
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def mjcf_env(xml_path: str | Path, **kwargs: Any) -> MJCFEnv:
    """Build an :class:`MJCFEnv` (see the module docstring for the arguments)."""
    return MJCFEnv(xml_path, **kwargs)
