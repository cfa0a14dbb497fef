"""The one place where agents, environments and buffers are built from a Config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from robovision.agents.registry import AGENT_CLASSES
from robovision.config import Config, TrainConfig
from robovision.make import make_env
from robovision.replay import ReplayBuffer, RolloutBuffer
from robovision.replay.frames import FrameReplayBuffer


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for but torch sees no CUDA device; "
                           "use device=auto or device=cpu")
    return torch.device(name)


def build_env(cfg: Config, seed: int | None, render_mode: str | None = None,
              evaluation: bool = False) -> gym.Env:
    """The training env, or with ``evaluation`` the env with ``env.eval_options`` applied."""
    e = cfg.env
    options = {**e.options, **e.eval_options} if evaluation else e.options
    pixel_options = {}
    if e.obs != "state":
        pixel_options = {"image_size": e.image_size, "frame_stack": e.frame_stack,
                         "camera": e.camera if e.camera != "" else None,
                         "grayscale": e.grayscale, "render_backend": e.render_backend,
                         "fast_render": e.fast_render}
    return make_env(e.spec, obs=e.obs, seed=seed, render_mode=render_mode,
                    action_repeat=e.action_repeat if e.action_repeat > 0 else None,
                    **pixel_options, **options)


def build_vector_env(cfg: Config, seed: int) -> SyncVectorEnv:
    """``num_envs`` copies stepped in-process; a finished env resets in the same step
    and reports its final observation in ``info["final_obs"]``."""
    fns = [lambda i=i: build_env(cfg, seed=seed + i) for i in range(cfg.env.num_envs)]
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


def check_action_space(space: spaces.Space, spec: str, algo: str) -> None:
    if isinstance(space, spaces.Discrete) and algo == "ppo":
        return
    if not isinstance(space, spaces.Box):
        raise ValueError(f"{spec}: {algo} needs a continuous Box action space, got {space}"
                         + (" (PPO also takes Discrete)" if algo != "ppo" else ""))
    if not (np.all(space.low == -1) and np.all(space.high == 1)):
        raise ValueError(f"{spec}: actions must lie in [-1, 1] after make_env's rescaling; "
                         f"got bounds {space.low}..{space.high} (unbounded actions?)")


def build_agent(cfg: Config, obs_space: spaces.Space, action_space: spaces.Space,
                device: torch.device, total_steps: int | None = None) -> Any:
    """``total_steps``: the budget in agent steps (PPO anneals its learning rate over it)."""
    check_action_space(action_space, cfg.env.spec, cfg.algo)
    cls = AGENT_CLASSES[cfg.algo]
    if cfg.algo == "ppo":
        per_iteration = cfg.train.rollout_steps * cfg.env.num_envs
        total = cfg.train.total_steps if total_steps is None else total_steps
        return cls(cfg.agent, obs_space, action_space, device,
                   total_updates=max(1, total // per_iteration))
    return cls(cfg.agent, obs_space, action_space, device)


def restore_agent(cfg: Config, checkpoint: Path, obs_space: spaces.Space,
                  action_space: spaces.Space, device: torch.device) -> Any:
    """The agent of a saved run: built from its config, weights from ``checkpoint``."""
    from robovision.checkpoint import load_checkpoint

    agent = build_agent(cfg, obs_space, action_space, device)
    agent.load_state_dict(load_checkpoint(checkpoint, map_location=device)["agent"])
    return agent


def build_replay(cfg: Config, obs_space: spaces.Space, action_space: spaces.Space,
                 device: torch.device, train: TrainConfig | None = None
                 ) -> ReplayBuffer | FrameReplayBuffer:
    """Pixel observations get the frame-deduplicated replay; state the plain one.
    ``train``: the train config in agent steps (default ``cfg.train``)."""
    t = train or cfg.train
    capacity = min(t.buffer_size, t.total_steps + t.total_steps // 100 + 10)
    storage = device if t.replay_on_device else torch.device("cpu")
    if cfg.env.obs != "state":
        return FrameReplayBuffer(obs_space, action_space, capacity, gamma=cfg.agent.gamma,
                                 n_step=t.n_step, frame_stack=cfg.env.frame_stack,
                                 device=device, storage_device=storage)
    return ReplayBuffer(obs_space, action_space, capacity, gamma=cfg.agent.gamma,
                        n_step=t.n_step, device=device, storage_device=storage)


def build_rollout(cfg: Config, obs_space: spaces.Space, action_space: spaces.Space,
                  device: torch.device) -> RolloutBuffer:
    action_dim = 1 if isinstance(action_space, spaces.Discrete) else int(
        np.prod(action_space.shape))
    return RolloutBuffer(cfg.train.rollout_steps, cfg.env.num_envs, obs_space, action_dim,
                         device)
