"""Task suites with the gymnasium API (installed as ``robovision.envs``).

Importing this package registers every dm_control suite task as
``dmc/<domain>-<task>`` with gymnasium.
"""

from __future__ import annotations

import contextlib
import logging

import gymnasium as gym

DMC_PREFIX = "dmc/"


class _DropDeprecatedTotalMass(logging.Filter):
    """dm_control's models use MuJoCo's deprecated ``settotalmass``; with mujoco 3.17
    every load logs a warning about it that users can do nothing about."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "settotalmass" not in record.getMessage()


logging.getLogger("absl").addFilter(_DropDeprecatedTotalMass())


def _load_triton_before_gl() -> None:
    """torch's Linux wheels ship triton, which torch imports lazily when the first
    optimiser is built. Loading libtriton after dm_control has opened a GL backend
    (EGL or OSMesa) segfaults the interpreter, so load it first."""
    with contextlib.suppress(ImportError):
        import triton  # noqa: F401


_load_triton_before_gl()


def dmc_tasks() -> list[tuple[str, str]]:
    from dm_control import suite

    return sorted(suite.ALL_TASKS)


def dmc_id(domain: str, task: str) -> str:
    return f"{DMC_PREFIX}{domain}-{task}"


def register_all() -> None:
    """Register dm_control tasks and robovision's own envs once (idempotent)."""
    own = {"robovision/PointReach-v0": "robovision.envs.point_reach:PointReach",
           "robovision/BoxLocalization-v0": "robovision.envs.vision.localization:BoxLocalization",
           "robovision/Landmark2D-v0": "robovision.envs.vision.landmarks:Landmark2D",
           "robovision/Landmark3D-v0": "robovision.envs.vision.landmarks:Landmark3D"}
    for env_id, entry_point in own.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point)
    if "robovision/PointMassReach-v0" not in gym.registry:
        from robovision.envs.point_mass_reach import load

        gym.register("robovision/PointMassReach-v0", entry_point="robovision.envs.dmc:DMCEnv",
                     kwargs={"domain": "point_mass", "task": "reach", "loader": load})
    for domain, task in dmc_tasks():
        env_id = dmc_id(domain, task)
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="robovision.envs.dmc:DMCEnv",
                         kwargs={"domain": domain, "task": task})


register_all()
