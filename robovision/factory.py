"""The one place where agents, environments and buffers are built from a Config."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from robovision.agents.registry import AGENT_CLASSES
from robovision.config import Config
from robovision.make import make_env
from robovision.replay import ReplayBuffer, RolloutBuffer


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for but torch sees no CUDA device; "
                           "use device=auto or device=cpu")
    return torch.device(name)


def build_env(cfg: Config, seed: int | None, render_mode: str | None = None) -> gym.Env:
    return make_env(cfg.env.spec, obs=cfg.env.obs, seed=seed, render_mode=render_mode,
                    **cfg.env.options)


def build_vector_env(cfg: Config, seed: int) -> SyncVectorEnv:
    """``num_envs`` copies stepped in-process; a finished env resets in the same step
    and reports its final observation in ``info["final_obs"]``."""
    fns = [lambda i=i: build_env(cfg, seed=seed + i) for i in range(cfg.env.num_envs)]
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


def check_action_space(space: spaces.Space, spec: str) -> None:
    if not isinstance(space, spaces.Box):
        raise ValueError(f"{spec}: the agents need a continuous Box action space, got {space}")
    if not (np.all(space.low == -1) and np.all(space.high == 1)):
        raise ValueError(f"{spec}: actions must lie in [-1, 1] after make_env's rescaling; "
                         f"got bounds {space.low}..{space.high} (unbounded actions?)")


def build_agent(cfg: Config, obs_space: spaces.Space, action_space: spaces.Space,
                device: torch.device) -> Any:
    check_action_space(action_space, cfg.env.spec)
    cls = AGENT_CLASSES[cfg.algo]
    if cfg.algo == "ppo":
        per_iteration = cfg.train.rollout_steps * cfg.env.num_envs
        return cls(cfg.agent, obs_space, action_space, device,
                   total_updates=max(1, cfg.train.total_steps // per_iteration))
    return cls(cfg.agent, obs_space, action_space, device)


def build_replay(cfg: Config, obs_space: spaces.Space, action_space: spaces.Space,
                 device: torch.device) -> ReplayBuffer:
    capacity = min(cfg.train.buffer_size, cfg.train.total_steps)
    return ReplayBuffer(obs_space, action_space, capacity, gamma=cfg.agent.gamma,
                        n_step=cfg.train.n_step, device=device)


def build_rollout(cfg: Config, obs_space: spaces.Space, action_space: spaces.Space,
                  device: torch.device) -> RolloutBuffer:
    return RolloutBuffer(cfg.train.rollout_steps, cfg.env.num_envs, obs_space.shape,
                         int(np.prod(action_space.shape)), device)
