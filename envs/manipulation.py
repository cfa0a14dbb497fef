"""dm_control's manipulation tasks (a Jaco arm and Duplo bricks) as gymnasium envs.

    make_env("manip/lift_brick", obs="state" | "pixels" | "state+pixels")

One name per task; the variant follows ``obs``: ``<task>_features`` for state
(proprioception plus the objects' poses), ``<task>_vision`` for pixel kinds
(proprioception only, as in the suite's vision tasks; a task with no vision variant
uses its features variant). The vision variant's own camera observable is switched
off: it rendered an 84x84 frame with default settings inside every step (146 ms of a
lift_brick step on this CPU, against 1.5 ms without); robovision renders the same
camera (``front_close``) itself, through the persistent camera and with
``fast_render``.

Observations are flattened to float32, actions are a Box from the action spec
(``make_env`` rescales to [-1, 1]), the time limit is ``truncated`` and a zero
discount ``terminated``. ``info["success"]`` is 1.0 when the task's own reward is at
its maximum (the brick is lifted above its target height, the hand is on the target,
the bricks are placed, stacked or reassembled), 0.0 otherwise.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

MANIP_PREFIX = "manip/"
SUCCESS_REWARD = 0.99
"""A step succeeds when the task's reward (in [0, 1], 1 when the goal holds) reaches this."""

TASKS: tuple[str, ...] = (
    "lift_brick", "lift_large_box", "place_brick", "place_cradle", "reach_duplo",
    "reach_site", "reassemble_3_bricks_fixed_order", "reassemble_5_bricks_random_order",
    "stack_2_bricks", "stack_2_bricks_moveable_base", "stack_2_of_3_bricks_random_order",
    "stack_3_bricks", "stack_3_bricks_random_order")
"""The task names of dm-control 1.0.50's ``manipulation.ALL`` without their variant
suffix, written out so that registering ``manip/...`` imports nothing;
``tests/test_manipulation.py`` checks it against the installed package."""


def installed_tasks() -> list[str]:
    """Task names of the installed ``dm_control.manipulation`` (imports it)."""
    from dm_control import manipulation

    return sorted({name.rsplit("_", 1)[0] for name in manipulation.ALL})


def success(reward: float) -> float:
    return float(reward >= SUCCESS_REWARD)


class ManipulationEnv(gym.Env):
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, task: str, obs: str = "state", render_mode: str | None = None,
                 render_height: int = 84, render_width: int = 84) -> None:
        from robovision.runtime import order_triton_and_gl

        order_triton_and_gl()  # before dm_control loads GL (runtime.py says why)
        from dm_control import manipulation

        vision = f"{task}_vision"
        self.variant = vision if obs != "state" and vision in manipulation.ALL \
            else f"{task}_features"
        self.task_name = task
        self._load = manipulation.load
        self._env = self._make(seed=None)
        self.render_mode, self.render_height, self.render_width = (render_mode, render_height,
                                                                   render_width)
        spec = self._env.action_spec()
        self.action_space = spaces.Box(spec.minimum.astype(np.float32),
                                       spec.maximum.astype(np.float32), dtype=np.float32)
        # the spec still lists the switched-off cameras: size the vector from a reset
        size = self._flat(self._env.reset().observation).size
        self.observation_space = spaces.Box(-np.inf, np.inf, (size,), dtype=np.float32)

    def _make(self, seed: int | None) -> Any:
        """The composer env, its camera observables off. Some tasks draw their layout
        from a random state of their own, so a seeded reset builds the env anew (0.2-1 s)
        from the seed: the same seed then gives the same first observation."""
        from dm_control.composer.observation.observable import MJCFCamera

        env = self._load(self.variant, seed=seed)
        for observable in env.task.observables.values():
            if isinstance(observable, MJCFCamera):
                observable.enabled = False
        return env

    @property
    def physics(self):
        return self._env.physics

    @staticmethod
    def _flat(observation: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(v, np.float32).reshape(-1)
                               for v in observation.values()])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.close()
            self._env = self._make(seed=int(self.np_random.integers(2**31 - 1)))
        time_step = self._env.reset()
        return self._flat(time_step.observation), {"success": 0.0}

    def step(self, action):
        time_step = self._env.step(np.asarray(action, np.float64).reshape(self.action_space.shape))
        reward = float(time_step.reward or 0.0)
        terminated = bool(time_step.last() and time_step.discount == 0.0)
        truncated = bool(time_step.last() and not terminated)
        return (self._flat(time_step.observation), reward, terminated, truncated,
                {"success": success(reward)})

    def render(self) -> np.ndarray:
        return self.physics.render(self.render_height, self.render_width, camera_id=0)

    def close(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            env.close()
