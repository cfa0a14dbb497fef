"""Task suites with the gymnasium API (installed as ``robovision.envs``).

Importing this package registers every dm_control suite task as
``dmc/<domain>-<task>`` with gymnasium, dm_control's manipulation tasks as
``manip/<task>``, gymnasium-robotics' goal tasks as ``robotics/<ID>`` and Meta-World's
tasks as ``metaworld/<task>`` (optional extras, imported when such an env is made).
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym

from robovision.envs.mjcf import MJCFEnv, MJCFError, mjcf_env

__all__ = ["MJCFEnv", "MJCFError", "dmc_id", "dmc_tasks", "mjcf_env", "register_all"]

DMC_PREFIX = "dmc/"


class _DropUnactionableWarnings(logging.Filter):
    """dm_control's models use MuJoCo's deprecated ``settotalmass`` (with mujoco 3.17 every
    load logs a warning about it), and the manipulation tasks' arm initialiser logs
    "Failed to converge" whenever its inverse kinematics needs a retry. Users can do
    nothing about either."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "settotalmass" not in message and "Failed to converge" not in message


logging.getLogger("absl").addFilter(_DropUnactionableWarnings())


SUITE_TASKS: tuple[tuple[str, str], ...] = (
    ("acrobot", "swingup"), ("acrobot", "swingup_sparse"), ("ball_in_cup", "catch"),
    ("cartpole", "balance"), ("cartpole", "balance_sparse"), ("cartpole", "swingup"),
    ("cartpole", "swingup_sparse"), ("cartpole", "three_poles"), ("cartpole", "two_poles"),
    ("cheetah", "run"), ("dog", "fetch"), ("dog", "run"), ("dog", "stand"), ("dog", "trot"),
    ("dog", "walk"), ("finger", "spin"), ("finger", "turn_easy"), ("finger", "turn_hard"),
    ("fish", "swim"), ("fish", "upright"), ("hopper", "hop"), ("hopper", "stand"),
    ("humanoid", "run"), ("humanoid", "run_pure_state"), ("humanoid", "stand"),
    ("humanoid", "walk"), ("humanoid_CMU", "run"), ("humanoid_CMU", "stand"),
    ("humanoid_CMU", "walk"), ("lqr", "lqr_2_1"), ("lqr", "lqr_6_2"),
    ("manipulator", "bring_ball"), ("manipulator", "bring_peg"), ("manipulator", "insert_ball"),
    ("manipulator", "insert_peg"), ("pendulum", "swingup"), ("point_mass", "easy"),
    ("point_mass", "hard"), ("quadruped", "escape"), ("quadruped", "fetch"),
    ("quadruped", "run"), ("quadruped", "walk"), ("reacher", "easy"), ("reacher", "hard"),
    ("stacker", "stack_2"), ("stacker", "stack_4"), ("swimmer", "swimmer15"),
    ("swimmer", "swimmer6"), ("walker", "run"), ("walker", "stand"), ("walker", "walk"))
"""dm_control 1.0.50's ``suite.ALL_TASKS``, written out so that registering the
``dmc/...`` IDs (on ``import robovision``) does not import dm_control and MuJoCo;
``tests/test_envs.py`` checks it against the installed suite."""


def dmc_tasks() -> list[tuple[str, str]]:
    """The installed dm_control suite's tasks (imports dm_control)."""
    from dm_control import suite

    return sorted(suite.ALL_TASKS)


def dmc_id(domain: str, task: str) -> str:
    return f"{DMC_PREFIX}{domain}-{task}"


def _register_once(env_id: str, entry_point: str, **options: Any) -> None:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, **options)


def register_all() -> None:
    """Register dm_control tasks and robovision's own envs once (idempotent, cheap: no
    env module is imported until an env is made)."""
    own = {"robovision/PointReach-v0": "robovision.envs.point_reach:PointReach",
           "robovision/BoxLocalization-v0": "robovision.envs.vision.localization:BoxLocalization",
           "robovision/Landmark2D-v0": "robovision.envs.vision.landmarks:Landmark2D",
           "robovision/Landmark3D-v0": "robovision.envs.vision.landmarks:Landmark3D"}
    for env_id, entry_point in own.items():
        _register_once(env_id, entry_point)
    _register_once("robovision/PointMassReach-v0", "robovision.envs.dmc:DMCEnv",
                   kwargs={"domain": "point_mass", "task": "reach",
                           "loader": "robovision.envs.point_mass_reach:load"})
    from robovision.envs import manipulation, meta_world, robotics

    for task in manipulation.TASKS:
        _register_once(manipulation.MANIP_PREFIX + task,
                       "robovision.envs.manipulation:ManipulationEnv", kwargs={"task": task})
    for task, steps in robotics.TASKS.items():
        _register_once(robotics.ROBOTICS_PREFIX + task, "robovision.envs.robotics:make",
                       kwargs={"task": task}, max_episode_steps=steps)
    for task in meta_world.TASKS:
        _register_once(meta_world.METAWORLD_PREFIX + task, "robovision.envs.meta_world:make",
                       kwargs={"task": task}, max_episode_steps=meta_world.EPISODE_STEPS)
    for domain, task in SUITE_TASKS:
        _register_once(dmc_id(domain, task), "robovision.envs.dmc:DMCEnv",
                       kwargs={"domain": domain, "task": task})


register_all()
