"""Playing episodes: the one roll-out loop that evaluation (robovision's and the vision
reports') shares. torch-free; a policy is any ``policy(obs) -> action``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

Policy = Callable[[Any], Any]


class Step(NamedTuple):
    obs: Any
    reward: float
    terminated: bool
    truncated: bool
    info: dict
    frame: np.ndarray | None
    """The frame rendered before the action (with ``record``)."""


@dataclass
class Episode:
    total_return: float = 0.0
    length: int = 0
    info: dict = field(default_factory=dict)
    """The last step's info (the reset's for an episode of no steps)."""
    frames: list[np.ndarray] = field(default_factory=list)


def episode_steps(env: gym.Env, policy: Policy, seed: int | None = None,
                  options: dict | None = None, record: bool = False) -> Iterator[Step]:
    """Reset ``env`` and yield every step until the episode terminates or is truncated."""
    obs, info = env.reset(seed=seed, options=options)
    done = False
    while not done:
        frame = env.render() if record else None
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        done = bool(terminated or truncated)
        yield Step(obs, float(reward), bool(terminated), bool(truncated), info, frame)


def play_episode(env: gym.Env, policy: Policy, seed: int | None = None,
                 options: dict | None = None, record: bool = False) -> Episode:
    """One whole episode: its return, length, last info and (with ``record``) frames."""
    episode = Episode()
    for step in episode_steps(env, policy, seed, options, record):
        episode.total_return += step.reward
        episode.length += 1
        episode.info = step.info
        if step.frame is not None:
            episode.frames.append(step.frame)
    return episode
