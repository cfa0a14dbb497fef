"""TD3 (Fujimoto et al. 2018): clipped double Q, target policy smoothing, delayed
actor and target updates. DDPG is this agent with one critic, no smoothing and
no delay (see ``ddpg.py``)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from gymnasium import spaces

from robovision.agents import losses
from robovision.agents.common import (
    DeterministicActor,
    QEnsemble,
    actor_features,
    adam,
    build_encoder,
    collect_state,
    encode_batch,
    obs_to_tensor,
    optimize,
    restore_state,
    set_requires_grad,
    space_ndim,
)
from robovision.nets.encoders import EncoderConfig
from robovision.replay.batch import Batch
from robovision.schedule import parse_schedule


@dataclass
class TD3Config:
    hidden: list[int] = field(default_factory=lambda: [400, 300])
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.005
    n_critics: int = 2
    policy_delay: int = 2
    """Actor and target networks update once every this many critic updates."""
    target_noise: float = 0.2
    """Std of the target policy smoothing noise (0 disables)."""
    target_noise_clip: float = 0.5
    exploration_noise: float = 0.1
    """Std (Gaussian) or sigma (OU) of the exploration noise, in [-1, 1] action units."""
    noise_type: Literal["gaussian", "ou"] = "gaussian"
    ou_theta: float = 0.15
    noise_schedule: str = ""
    """If set (``linear(1.0,0.1,500000)``), the Gaussian exploration std and the target
    smoothing std both follow it over the agent's exploration steps (DrQ-v2)."""
    actor_q: Literal["first", "min"] = "first"
    """Actor objective: Q1 (TD3) or the min over critics (DrQ-v2)."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


class OUNoise:
    """Ornstein-Uhlenbeck exploration noise with ``dt = 1e-2`` (the DDPG paper's process)."""

    def __init__(self, sigma: float, theta: float, dt: float = 1e-2) -> None:
        self.sigma, self.theta, self.dt = sigma, theta, dt
        self.state: torch.Tensor | None = None

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        if self.state is None or self.state.shape != like.shape:
            self.state = torch.zeros_like(like)
        self.state = (self.state - self.theta * self.state * self.dt
                      + self.sigma * np.sqrt(self.dt) * torch.randn_like(like))
        return self.state


class TD3:
    def __init__(self, cfg: TD3Config, obs_space: spaces.Space, action_space: spaces.Box,
                 device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.action_dim = int(np.prod(action_space.shape))
        self.obs_ndim = space_ndim(obs_space)
        self.encoder = build_encoder(cfg.encoder, obs_space, device)
        feat = self.encoder.out_dim
        self.actor = DeterministicActor(feat, self.action_dim, cfg.hidden).to(device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = QEnsemble(feat, self.action_dim, cfg.hidden, cfg.n_critics).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        actor_params = [*self.actor.parameters()]
        if cfg.encoder.grad == "both":
            actor_params += [*self.encoder.parameters()]
        self.actor_opt = adam(actor_params, cfg.actor_lr)
        self.critic_opt = adam([*self.encoder.parameters(), *self.critic.parameters()],
                               cfg.critic_lr)
        self._online = [*self.critic.parameters(), *self.actor.parameters()]
        self._targets = [*self.critic_target.parameters(), *self.actor_target.parameters()]
        self.ou = OUNoise(cfg.exploration_noise, cfg.ou_theta) if cfg.noise_type == "ou" else None
        self.schedule = parse_schedule(cfg.noise_schedule) if cfg.noise_schedule else None
        self.num_updates = 0
        self.explore_steps = 0
        """Environment steps taken with exploration noise (drives ``noise_schedule``)."""

    _state = ("encoder", "actor", "actor_target", "critic", "critic_target",
              "actor_opt", "critic_opt")

    @torch.no_grad()
    def act(self, obs, eval: bool = False) -> np.ndarray:
        obs_t, single = obs_to_tensor(obs, self.device, self.obs_ndim)
        action = self.actor(self.encoder(obs_t))
        if not eval:
            noise = (self.ou(action) if self.ou is not None
                     else torch.randn_like(action) * self.exploration_std)
            action = (action + noise).clamp(-1.0, 1.0)
            self.explore_steps += action.shape[0]
        action = action.cpu().numpy()
        return action[0] if single else action

    @property
    def exploration_std(self) -> float:
        if self.schedule is None:
            return self.cfg.exploration_noise
        return self.schedule(self.explore_steps)

    @property
    def target_std(self) -> float:
        if self.schedule is None:
            return self.cfg.target_noise
        return self.schedule(self.explore_steps)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.num_updates += 1
        cfg = self.cfg
        obs, features, next_features = encode_batch(self.encoder, batch.obs, batch.next_obs,
                                                    cfg.encoder)
        with torch.no_grad():
            next_action = losses.smoothed_target_action(
                self.actor_target(next_features), self.target_std, cfg.target_noise_clip)
            next_q = self.critic_target(next_features, next_action)
            target = losses.clipped_double_q_target(batch.reward, batch.discount, next_q)
        q = self.critic(features, batch.action)
        critic_loss = losses.critic_loss(q, target)
        optimize(self.critic_opt, critic_loss)
        metrics = {"critic_loss": critic_loss.detach(), "q": q.detach().mean()}

        if self.num_updates % cfg.policy_delay == 0:
            features = actor_features(self.encoder, obs, features, cfg.encoder)
            metrics["actor_loss"] = self._update_actor(features)
            losses.soft_update_(self._targets, self._online, cfg.tau)
        return metrics

    def _update_actor(self, features: torch.Tensor) -> torch.Tensor:
        set_requires_grad(self.critic, False)
        first_only = self.cfg.actor_q == "first"
        q = self.critic(features, self.actor(features), members=1 if first_only else None)
        actor_loss = -(q[0] if first_only else q.min(0).values).mean()
        optimize(self.actor_opt, actor_loss)
        set_requires_grad(self.critic, True)
        return actor_loss.detach()

    def state_dict(self) -> dict:
        return {**collect_state(self, self._state), "num_updates": self.num_updates,
                "explore_steps": self.explore_steps}

    def load_state_dict(self, state: dict) -> None:
        restore_state(self, self._state, state)
        self.num_updates = int(state["num_updates"])
        self.explore_steps = int(state.get("explore_steps", 0))
