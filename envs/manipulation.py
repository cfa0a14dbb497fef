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

``reward="dense"`` (reach tasks only, ``env.options: {reward: dense}``) pays for getting
closer everywhere in the workspace, not only within a few centimetres of the target:
1 within the target's radius as the task's own reward, falling linearly to 0 at
``DENSE_MARGIN`` beyond it. The task's own reward stays in ``info["task_reward"]``,
and success is still defined by it, so success rates compare across both rewards.

``time_limit`` sets an episode's length in seconds of simulated time (dm_control's 10 s
by default, 250 control steps of 40 ms). Resets skip dm_control's rebuild of the physics
for tasks that edit no part of their model between episodes (reach_site,
lift_large_box): 8 ms instead of 30 ms a reach_site state reset here, and no new camera
for pixels (18 ms instead of 231 ms; BENCHMARKS 15).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robovision.wrappers.gl_context import close_dm_control_env, make_dm_control_context_current

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


REWARDS = ("task", "dense")
DEFAULT_TIME_LIMIT = 10.0
"""Seconds of simulated time per episode, as ``dm_control.manipulation.load`` sets it
(250 control steps of 40 ms)."""
DENSE_MARGIN = 0.4
"""Metres beyond the target's radius at which the dense reach reward reaches 0 (the
Jaco's reach workspace spans about this)."""


def installed_tasks() -> list[str]:
    """Task names of the installed ``dm_control.manipulation`` (imports it)."""
    from dm_control import manipulation

    return sorted({name.rsplit("_", 1)[0] for name in manipulation.ALL})


def changes_mjcf_per_episode(task: Any) -> bool:
    """Whether the composer task or one of its entities edits the model before an episode
    (Duplo bricks draw their stud size, the bricks tasks their order). dm_control rebuilds
    the physics at every reset for these; for the others that rebuild (most of a
    reach_site reset, and a new camera for pixels) gives the same physics as
    ``reset_context``'s ``mj_resetData``, so it is skipped."""
    from dm_control import composer

    def overrides(obj: Any, base: type) -> bool:
        return type(obj).initialize_episode_mjcf is not base.initialize_episode_mjcf

    return overrides(task, composer.Task) or any(
        overrides(entity, composer.Entity) for entity in task.root_entity.iter_entities())


def draws_depend_on_past_episodes(task: Any) -> bool:
    """Whether the task's draw for an episode depends on earlier episodes as well as on
    the random state: Reassemble with a random initial order shuffles that order in
    place, episode after episode (the flag is private; unknown counts as yes). Only a
    new env makes a seed reproduce such a task's episodes."""
    from dm_control.manipulation.bricks import Reassemble

    return isinstance(task, Reassemble) and getattr(task, "_randomize_initial_order", True)


def success(reward: float) -> float:
    return float(reward >= SUCCESS_REWARD)


def _substeps_have_hooks(env: Any) -> bool:
    """Whether a composer env's task or entities act between physics substeps."""
    from dm_control.composer.environment import _callable_is_trivial

    hooks = env._hooks
    return not (_callable_is_trivial(env.task.before_substep)
                and _callable_is_trivial(env.task.after_substep)
                and not any(h.entity_hooks or h.extra_hooks
                            for h in (hooks._before_substep, hooks._after_substep)))


def _observed_before(updater: Any, step: int) -> bool:
    """Whether an observable is scheduled to be read before physics step ``step``."""
    return any(e.update_schedule and e.update_schedule[0][0] < step
               for e in updater._enabled_list)


@functools.cache
def batched_substeps_environment() -> type:
    """``composer.Environment`` whose control step advances the physics with one
    ``physics.step(n_sub_steps)`` where nothing needs the steps in between.

    composer runs each of a control step's 20 physics substeps through Python: the
    substep hooks, a state check, and an observation-schedule check; on a CPU that costs
    more than MuJoCo's own work (reach_site: 7.2 ms an agent step of 4 control steps,
    about a third of it ``mj_step``). No manipulation task has a substep hook, and the
    observations are read at the control step's end, so the substeps can run in one
    call: the trajectories are bitwise the same (tests/test_manipulation.py). A task
    with a substep hook, or an observable scheduled within the step (an
    ``update_interval`` or ``delay`` of its own), takes composer's loop, and so does an
    env that reports a diverging physics state instead of raising. A state that diverges
    mid-step raises ``PhysicsError`` at the step's end rather than at that substep.
    """
    import dm_env
    from dm_control import composer

    class BatchedSubsteps(composer.Environment):
        def step(self, action):
            if (self._reset_next_step or _substeps_have_hooks(self)
                    or not self._raise_exception_on_physics_error):
                return super().step(action)
            updater, n = self._observation_updater, self._n_sub_steps
            self._hooks.before_step(self._physics_proxy, action, self._random_state)
            updater.prepare_for_next_control_step()
            if _observed_before(updater, updater._step_counter + n):
                for i in range(n):
                    self._substep(action)
                    if i < n - 1:
                        updater.update()
            else:
                self._physics.step(n)  # a diverging state raises PhysicsError here
                updater._step_counter += n - 1  # the updates between had nothing due
            self._hooks.after_step(self._physics_proxy, self._random_state)
            updater.update()
            physics, task = self._physics_proxy, self._task
            reward, discount = task.get_reward(physics), task.get_discount(physics)
            self._reset_next_step = (task.should_terminate_episode(physics)
                                     or self._physics.time() >= self._time_limit)
            kind = dm_env.StepType.LAST if self._reset_next_step else dm_env.StepType.MID
            return dm_env.TimeStep(kind, reward, discount, updater.get_observation())

    return BatchedSubsteps


class ManipulationEnv(gym.Env):
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, task: str, obs: str = "state", render_mode: str | None = None,
                 render_height: int = 84, render_width: int = 84, reward: str = "task",
                 time_limit: float = DEFAULT_TIME_LIMIT, batch_substeps: bool = True) -> None:
        """``batch_substeps``: advance the physics of a control step in one call where
        nothing reads the substeps (:func:`batched_substeps_environment`); ``False``
        runs composer's own loop, substep by substep."""
        from robovision.runtime import order_triton_and_gl

        if not time_limit > 0:
            raise ValueError(f"time_limit={time_limit!r}: an episode's length in seconds of "
                             f"simulated time, above 0 (dm_control's default: "
                             f"{DEFAULT_TIME_LIMIT})")
        self.time_limit = float(time_limit)
        self.batch_substeps = batch_substeps
        if reward not in REWARDS:
            raise ValueError(f"reward={reward!r}: choose one of {REWARDS}")
        if reward == "dense" and not task.startswith("reach_"):
            raise ValueError(f"reward='dense' is defined for the reach tasks (reach_site, "
                             f"reach_duplo), not {task}: it pays for the hand's distance to "
                             "the target")
        self.reward_kind = reward
        if reward == "dense":
            from dm_control.manipulation.reach import _TARGET_RADIUS
            from dm_control.utils.rewards import tolerance

            self._target_radius, self._tolerance = _TARGET_RADIUS, tolerance

        order_triton_and_gl()  # before dm_control loads GL (runtime.py says why)
        from dm_control import manipulation

        vision = f"{task}_vision"
        self.variant = vision if obs != "state" and vision in manipulation.ALL \
            else f"{task}_features"
        self.task_name = task
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
        """The composer env, its camera observables off."""
        from dm_control import composer
        from dm_control.composer.observation.observable import MJCFCamera
        from dm_control.manipulation.shared import registry

        # manipulation.load, with our time limit, and without recompiling the model at
        # every reset where no part of the task changes it between episodes
        task = registry.get_constructor(self.variant)()
        environment = batched_substeps_environment() if self.batch_substeps \
            else composer.Environment
        env = environment(task, time_limit=self.time_limit, random_state=seed,
                          recompile_mjcf_every_episode=changes_mjcf_per_episode(task))
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
            # A task draws its episode (layout, brick order, stud size, initial poses)
            # from the env's random state at reset: seeding that in place makes a seed
            # give the same episodes in any env of the task, without a 0.2-1 s rebuild.
            env_seed = int(self.np_random.integers(2**31 - 1))
            if draws_depend_on_past_episodes(self._env.task):
                self._env.close()
                self._env = self._make(seed=env_seed)
            else:
                self._env.random_state.seed(env_seed)
        time_step = self._env.reset()
        return self._flat(time_step.observation), {"success": 0.0}

    def step(self, action):
        time_step = self._env.step(np.asarray(action, np.float64).reshape(self.action_space.shape))
        task_reward = float(time_step.reward or 0.0)
        reward = self._dense_reward() if self.reward_kind == "dense" else task_reward
        terminated = bool(time_step.last() and time_step.discount == 0.0)
        truncated = bool(time_step.last() and not terminated)
        return (self._flat(time_step.observation), reward, terminated, truncated,
                {"success": success(task_reward), "task_reward": task_reward})

    def _dense_reward(self) -> float:
        """1 within the target's radius, linear down to 0 at ``DENSE_MARGIN`` beyond."""
        task, physics = self._env.task, self.physics
        hand = physics.bind(task.hand.tool_center_point).xpos
        target = physics.bind(task._target).xpos  # the Reach task keeps it private
        return float(self._tolerance(np.linalg.norm(hand - target),
                                     bounds=(0, self._target_radius), margin=DENSE_MARGIN,
                                     sigmoid="linear", value_at_margin=0.0))

    def render(self) -> np.ndarray:
        make_dm_control_context_current(self.physics)
        return self.physics.render(self.render_height, self.render_width, camera_id=0)

    def close(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            close_dm_control_env(env)
