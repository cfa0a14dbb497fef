"""``make_env``: the one place where environments are created and wrapped.

The wrapper order is fixed here and nowhere else.
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

OBS_KINDS = ("state", "pixels", "state+pixels")


class UnknownEnvError(ValueError):
    """An env spec that is neither a registered gymnasium ID nor a dm_control task."""


def _ensure_registered() -> None:
    import robovision.envs  # noqa: F401  (registers dmc/* ids on import)


def available_specs() -> list[str]:
    """Every spec ``make_env`` accepts: gymnasium IDs and ``dmc/<domain>-<task>``."""
    _ensure_registered()
    return sorted(gym.registry)


def check_spec(spec: str) -> None:
    _ensure_registered()
    if spec in gym.registry:
        return
    close = difflib.get_close_matches(spec, list(gym.registry), n=5, cutoff=0.5)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise UnknownEnvError(
        f"unknown env spec '{spec}'.{hint} `robovision envs` lists all; dm_control tasks are "
        "'dmc/<domain>-<task>' (e.g. dmc/cheetah-run).")


def make_env(spec: str, *, obs: str = "state", seed: int | None = None,
             normalize_action: bool = True, render_mode: str | None = None,
             **options: Any) -> gym.Env:
    """Create an environment by spec.

    Args:
        spec: a gymnasium ID (``HalfCheetah-v5``, ``Pendulum-v1``, user-registered)
            or ``dmc/<domain>-<task>``.
        obs: ``"state"``; ``"pixels"`` and ``"state+pixels"`` render camera frames.
        seed: seeds the first reset and the action space.
        normalize_action: rescale a bounded Box action space to ``[-1, 1]`` (agents
            always act in ``[-1, 1]``).
        render_mode: passed to the env (``"rgb_array"`` for videos).
        options: extra keyword arguments for the env constructor.
    """
    if obs not in OBS_KINDS:
        raise ValueError(f"obs='{obs}' is not one of {OBS_KINDS}")
    check_spec(spec)
    if render_mode is not None:  # envs without rendering need not accept the argument
        options["render_mode"] = render_mode
    env = gym.make(spec, **options)
    if obs != "state":
        raise ValueError(f"obs='{obs}': pixel observations are not available yet; use obs=state")
    if normalize_action and _bounded_box(env.action_space):
        shape = env.action_space.shape
        env = gym.wrappers.RescaleAction(env, np.full(shape, -1, np.float32),
                                         np.full(shape, 1, np.float32))
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def _bounded_box(space: spaces.Space) -> bool:
    return (isinstance(space, spaces.Box) and bool(np.all(np.isfinite(space.low)))
            and bool(np.all(np.isfinite(space.high)))
            and not (np.all(space.low == -1) and np.all(space.high == 1)))
