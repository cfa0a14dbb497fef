"""gymnasium-robotics' goal tasks (the Fetch arm, the Shadow hand) as robovision envs.

    make_env("robotics/FetchPickAndPlace-v4", obs="state" | "pixels" | "state+pixels")

An optional extra: ``pip install 'robovision[robotics]'`` (``make setup`` installs it
with the test tools). The tasks are the MuJoCo-bindings versions (Fetch ``-v4``, hand
``-v1``/``-v3``); the ``mujoco_py`` versions are not offered.

Compatibility. gymnasium-robotics 1.4.2 crashes at construction with mujoco >= 3.12:
its joint accessors (``gymnasium_robotics.utils.mujoco_utils``) test a joint's type with
``joint_type in (mjtJoint.mjJNT_HINGE, mjtJoint.mjJNT_SLIDE)``, and the bindings' enum
compares unequal to the ``numpy.int32`` in ``model.jnt_type`` when it is on the left of
``==`` (``np.int32(2) == mjJNT_SLIDE`` holds, ``mjJNT_SLIDE == np.int32(2)`` does
not). :func:`load` swaps the four accessors for ones that compare integers and are
otherwise the same (qpos and qvel spans per joint type). Nothing else in those tasks
compares enums that way; ``tests/test_robotics.py`` checks the accessors against
MuJoCo's own addressing and a scripted Fetch episode that must succeed.

Observations: ``observation``, ``achieved_goal`` and ``desired_goal`` concatenated in
that order (float32), so every agent takes them as a state; with pixels the target is
drawn in the frame (the tasks render their goal site). ``info["success"]`` is the
task's ``is_success`` (1.0 or 0.0). The time limit is the task's own (50 steps for Fetch
and the hand's reach, 100 for its manipulation), reported as ``truncated``.
``camera`` picks one of the model's cameras by name or index instead of the task's free
camera, e.g. Fetch's ``external_camera_0`` or ``head_camera_rgb`` (its
``gripper_camera_rgb`` sits inside the gripper's mesh and sees a flat grey).
"""

from __future__ import annotations

import contextlib
import io
import sys
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ROBOTICS_PREFIX = "robotics/"
INSTALL_HINT = ("the robotics tasks need the optional extra: pip install 'robovision[robotics]' "
                "(gymnasium-robotics 1.4)")

TASKS: dict[str, int] = {
    **{f"Fetch{name}{dense}-v4": 50 for name in ("Reach", "Push", "Slide", "PickAndPlace")
       for dense in ("", "Dense")},
    **{f"HandReach{dense}-v3": 50 for dense in ("", "Dense")},
    **{f"HandManipulate{name}{dense}-v1": 100 for name in ("Block", "Egg", "Pen")
       for dense in ("", "Dense")},
}
"""gymnasium-robotics IDs offered as ``robotics/<ID>``, with their time limits in agent
steps, written out so that registering them imports nothing; ``tests/test_robotics.py``
checks both against the installed package."""

GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


class RoboticsNotInstalledError(ImportError):
    """gymnasium-robotics is missing or of an unsupported version."""


def load() -> ModuleType:
    """Import gymnasium-robotics (registering its IDs) with its joint accessors made to
    work on current MuJoCo bindings. Idempotent."""
    try:
        with _drop_import_notice():
            import gymnasium_robotics
            from gymnasium_robotics.utils import mujoco_utils
    except ImportError as exc:
        raise RoboticsNotInstalledError(f"{INSTALL_HINT} ({exc})") from exc
    version = getattr(gymnasium_robotics, "__version__", "?")
    if not version.startswith("1.4."):
        raise RoboticsNotInstalledError(
            f"gymnasium-robotics {version} is installed; robovision's compatibility layer is "
            f"written for 1.4: {INSTALL_HINT}")
    _patch_joint_accessors(mujoco_utils)
    return gymnasium_robotics


@contextlib.contextmanager
def _drop_import_notice():
    """gymnasium-robotics prints a notice about its Adroit tasks' rewards on import (to
    stderr, from farama-notifications); robovision offers none of those tasks. Anything
    else printed is passed on."""
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        yield
    kept = [line for line in captured.getvalue().splitlines(keepends=True)
            if "AdroitHand" not in line]
    sys.stderr.write("".join(kept))


def _joint_span(model: Any, name: str, velocity: bool) -> tuple[int, int]:
    """(first index, width) of joint ``name`` in ``qvel`` (``velocity``) or ``qpos``."""
    import mujoco

    joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if joint == -1:
        raise ValueError(f"joint '{name}' is not part of the model")
    kind = int(model.jnt_type[joint])
    widths = {int(mujoco.mjtJoint.mjJNT_FREE): (7, 6), int(mujoco.mjtJoint.mjJNT_BALL): (4, 3),
              int(mujoco.mjtJoint.mjJNT_SLIDE): (1, 1), int(mujoco.mjtJoint.mjJNT_HINGE): (1, 1)}
    qpos_width, qvel_width = widths[kind]
    if velocity:
        return int(model.jnt_dofadr[joint]), qvel_width
    return int(model.jnt_qposadr[joint]), qpos_width


def _write(target: np.ndarray, start: int, width: int, value: Any, name: str) -> None:
    value = np.asarray(value, dtype=np.float64)
    if width > 1 and value.shape != (width,):
        raise ValueError(f"joint '{name}' takes {width} values, got shape {value.shape}")
    target[start:start + width] = value


def set_joint_qpos(model: Any, data: Any, name: str, value: Any) -> None:
    start, width = _joint_span(model, name, velocity=False)
    _write(data.qpos, start, width, value, name)


def set_joint_qvel(model: Any, data: Any, name: str, value: Any) -> None:
    start, width = _joint_span(model, name, velocity=True)
    _write(data.qvel, start, width, value, name)


def get_joint_qpos(model: Any, data: Any, name: str) -> np.ndarray:
    start, width = _joint_span(model, name, velocity=False)
    return data.qpos[start:start + width].copy()


def get_joint_qvel(model: Any, data: Any, name: str) -> np.ndarray:
    start, width = _joint_span(model, name, velocity=True)
    return data.qvel[start:start + width].copy()


JOINT_ACCESSORS = {f.__name__: f for f in (set_joint_qpos, set_joint_qvel, get_joint_qpos,
                                           get_joint_qvel)}


def _patch_joint_accessors(mujoco_utils: ModuleType) -> None:
    for name, accessor in JOINT_ACCESSORS.items():
        if not hasattr(mujoco_utils, name):
            raise RoboticsNotInstalledError(
                f"gymnasium_robotics.utils.mujoco_utils has no {name}; this version is not "
                f"the one robovision's compatibility layer knows: {INSTALL_HINT}")
        setattr(mujoco_utils, name, accessor)  # the envs look them up at call time


def make(task: str, camera_id: int | None = None, camera_name: str | None = None,
         **kwargs: Any) -> gym.Env:
    """The task's env (without gymnasium's wrappers: ``gym.make`` of ``robotics/<task>``
    adds the time limit) behind :class:`GoalObservation`. ``camera_id`` or
    ``camera_name`` (as ``make_env`` passes a ``camera``) replaces the free camera."""
    load()
    spec = gym.spec(task)
    creator = gym.envs.registration.load_env_creator(spec.entry_point)
    env = creator(**{**spec.kwargs, **kwargs})
    camera = camera_name if camera_name is not None else camera_id
    if camera is not None:
        from robovision.wrappers.pixels import use_model_camera

        use_model_camera(env, camera, f"{ROBOTICS_PREFIX}{task}")
    return GoalObservation(env)


class GoalObservation(gym.Wrapper):
    """A goal task's dict observation as one float32 vector (:data:`GOAL_KEYS` in order)
    and its ``is_success`` as ``info["success"]``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        parts = [env.observation_space[key] for key in GOAL_KEYS]
        size = sum(int(np.prod(part.shape)) for part in parts)
        self.observation_space = spaces.Box(-np.inf, np.inf, (size,), np.float32)

    def _flat(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(obs[key]) for key in GOAL_KEYS]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._flat(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        if "is_success" in info:
            info["success"] = float(info["is_success"])
        return self._flat(obs), float(reward), terminated, truncated, info
