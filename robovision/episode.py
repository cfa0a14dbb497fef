"""Playing episodes: the one roll-out loop that evaluation (robovision's and the vision
reports') shares. torch-free; a policy is any ``policy(obs) -> action``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from robovision.envworker import step_starter

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


Render = Callable[[], "np.ndarray | None"]
"""Returns the current frame, or None when there is none to record."""


def episode_steps(env: gym.Env, policy: Policy, seed: int | None = None,
                  options: dict | None = None, render: Render | None = None) -> Iterator[Step]:
    """Reset ``env`` and yield every step until the episode terminates or is truncated;
    ``render`` (for example ``env.render``) is called before each action."""
    obs, info = env.reset(seed=seed, options=options)
    done = False
    while not done:
        frame = render() if render is not None else None
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        done = bool(terminated or truncated)
        yield Step(obs, float(reward), bool(terminated), bool(truncated), info, frame)


def play_episode(env: gym.Env, policy: Policy, seed: int | None = None,
                 options: dict | None = None, render: Render | None = None) -> Episode:
    """One whole episode: its return, length, last info and the frames ``render`` gave."""
    episode = Episode()
    for step in episode_steps(env, policy, seed, options, render):
        episode.total_return += step.reward
        episode.length += 1
        episode.info = step.info
        if step.frame is not None:
            episode.frames.append(step.frame)
    return episode


BatchPolicy = Callable[[list[Any]], Any]
"""Maps a list of observations to one action per observation (one call per step)."""


def play_episodes(envs: list[gym.Env], policy: BatchPolicy, seeds: list[int],
                  render: Render | None = None) -> list[Episode]:
    """Episodes seeded ``seeds[i]``, ``len(envs)`` at a time, with one ``policy`` call per
    step for all running envs: each env takes the next pending episode when its own ends.
    Episode ``i`` is reset with ``seeds[i]`` as :func:`play_episode` would reset it, so the
    episodes match a sequential run up to the policy's batched numerics. ``render``
    (``envs[0]``'s) records episode 0, which always plays in ``envs[0]``. Envs in worker
    processes (:class:`robovision.envworker.EnvWorker`) all start their step before any
    is collected, so they step in parallel with each other and with the envs of this
    process."""
    episodes = [Episode() for _ in seeds]
    starters = [step_starter(env) for env in envs]
    pending = iter(range(len(seeds)))
    running: dict[int, list[Any]] = {}  # env index -> [episode index, observation]

    def start(k: int) -> None:
        i = next(pending, None)
        if i is not None:
            obs, episodes[i].info = envs[k].reset(seed=seeds[i])
            running[k] = [i, obs]

    for k in range(len(envs)):
        start(k)
    while running:
        order = sorted(running)
        if render is not None and running.get(0, [None])[0] == 0:
            frame = render()
            if frame is not None:
                episodes[0].frames.append(frame)
        actions = list(policy([running[k][1] for k in order]))
        for k, action in zip(order, actions, strict=True):
            starters[k](action)
        for k, action in zip(order, actions, strict=True):
            i = running[k][0]
            obs, reward, terminated, truncated, info = envs[k].step(action)
            episode = episodes[i]
            episode.total_return += float(reward)
            episode.length += 1
            episode.info = info
            if terminated or truncated:
                del running[k]
                start(k)
            else:
                running[k][1] = obs
    return episodes


def render_problem(env: gym.Env, seed: int | None = None) -> str | None:
    """Why ``env`` cannot produce a video frame, or None when it can (checked with one
    reset and one ``render()`` before anything long starts)."""
    try:
        env.reset(seed=seed)
        frame = env.render()
    except Exception as exc:  # missing pygame, GL backend, ... : say which
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        return (f"render() returned {type(frame).__name__}, not an HxWx3 frame (is the env "
                "made with render_mode='rgb_array'?)")
    return None
