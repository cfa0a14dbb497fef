"""What an off-policy run collects with, seen one way: a batch of envs stepped in lockstep.

- :class:`OneEnv`: the single env of a one-env run (in this process, or in an
  :class:`~robovision.envworker.EnvWorker` whose step starts at :meth:`step_async`), as a
  batch of one. It draws the same random actions and resets at the same moments as the
  env itself, so a one-env run is what it was before there were several.
- :class:`EnvBatch`: gymnasium's vector env (``train.env_worker``: one process per env)
  with same-step autoreset, for ``env.num_envs > 1``.

Both answer a step with :class:`Steps`, which keeps apart the observation a step ended in
(what the replay stores) and the one the next step starts from (the next episode's first
observation where an episode ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from robovision import obs as obs_tree
from robovision.envworker import step_starter


@dataclass
class Steps:
    """One lockstep step of every env (each field batched over the envs)."""

    next_obs: Any
    """What each env observes now: where an episode ended, the next one's first obs."""
    final_obs: Any
    """What each step ended in: ``next_obs`` except where an episode ended."""
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    ended: list[tuple[int, float, int]]
    """``(env index, return, length)`` of each episode that ended at this step."""


def _one(x: Any) -> Any:
    """One observation as a batch of one (views, no copies)."""
    return obs_tree.map_obs(lambda leaf: np.asarray(leaf)[None], x)


class OneEnv:
    """A single env as a batch of one; its step starts early when a worker runs it."""

    num_envs = 1

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self._start = step_starter(env)
        self._action: np.ndarray | None = None

    def reset(self, seed: int) -> Any:
        return _one(self.env.reset(seed=seed)[0])

    def seed_actions(self, seed: int) -> None:
        self.env.action_space.seed(seed)

    def random_actions(self) -> np.ndarray:
        return self.env.action_space.sample()[None]

    def step_async(self, actions: np.ndarray) -> None:
        self._action = actions[0]
        self._start(self._action)

    def step_wait(self) -> Steps:
        obs, reward, terminated, truncated, info = self.env.step(self._action)
        final, ended = obs, []
        if terminated or truncated:
            ended = [(0, float(info["episode"]["r"]), int(info["episode"]["l"]))]
            obs, _ = self.env.reset()
        return Steps(_one(obs), _one(final), np.array([reward]), np.array([terminated]),
                     np.array([truncated]), ended)


class EnvBatch:
    """gymnasium's vector env with same-step autoreset, final observations put back."""

    def __init__(self, envs: gym.vector.VectorEnv) -> None:
        self.envs = envs
        self.num_envs = envs.num_envs
        self._actions: np.ndarray | None = None

    def reset(self, seed: int) -> Any:
        return self.envs.reset(seed=seed)[0]

    def seed_actions(self, seed: int) -> None:
        self.envs.action_space.seed(seed)

    def random_actions(self) -> np.ndarray:
        return self.envs.action_space.sample()

    def step_async(self, actions: np.ndarray) -> None:
        """Nothing starts early: the envs step at :meth:`step_wait`, after the loop has
        launched the updates (on a GPU those run meanwhile; with ``train.env_worker``
        the envs step in parallel, one process each)."""
        self._actions = actions

    def step_wait(self) -> Steps:
        obs, reward, terminated, truncated, info = self.envs.step(self._actions)
        done = np.flatnonzero(terminated | truncated)
        final = obs
        if len(done):
            final = obs_tree.map_obs(np.copy, obs)
            for i in done:
                obs_tree.set_index(final, i, info["final_obs"][i])
        episodes = info.get("episode", {})
        ended = [(int(i), float(episodes["r"][i]), int(episodes["l"][i]))
                 for i in np.flatnonzero(info.get("_episode", []))]
        return Steps(obs, final, np.asarray(reward), np.asarray(terminated),
                     np.asarray(truncated), ended)


def collector(env: gym.Env | gym.vector.VectorEnv) -> OneEnv | EnvBatch:
    """The lockstep view of a run's training env(s)."""
    return EnvBatch(env) if isinstance(env, gym.vector.VectorEnv) else OneEnv(env)
