"""TD3 (Fujimoto et al. 2018): clipped double Q, target policy smoothing, delayed
actor and target updates. DDPG is this agent with one critic, no smoothing and
no delay (:class:`robovision.agents.configs.DDPGConfig`)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from robovision.agents import losses
from robovision.agents.common import (
    ActorCritic,
    actor_features,
    encode_batch,
    optimize,
    set_requires_grad,
)
from robovision.agents.configs import TD3Config
from robovision.nets.heads import DeterministicActor
from robovision.replay.batch import Batch
from robovision.schedule import parse_schedule


class OUNoise:
    """Ornstein-Uhlenbeck exploration noise with ``dt = 1e-2`` (the DDPG paper's process),
    one independent process per row of the action batch."""

    def __init__(self, sigma: float, theta: float, dt: float = 1e-2) -> None:
        self.sigma, self.theta, self.dt = sigma, theta, dt
        self.state: torch.Tensor | None = None

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        if self.state is None or self.state.shape != like.shape:
            self.state = torch.zeros_like(like)
        self.state = (self.state - self.theta * self.state * self.dt
                      + self.sigma * np.sqrt(self.dt) * torch.randn_like(like))
        return self.state

    def reset(self, row: int | None = None) -> None:
        """Restart the process from zero (for one row, or all)."""
        if self.state is None:
            return
        if row is None or self.state.shape[0] <= row:
            self.state = None
        else:
            self.state[row] = 0.0


class TD3(ActorCritic):
    STATE: ClassVar[tuple[str, ...]] = (*ActorCritic.STATE, "actor_target")
    COUNTERS: ClassVar[tuple[str, ...]] = ("num_updates", "explore_steps")

    def __init__(self, cfg: TD3Config, obs_space: spaces.Space, action_space: spaces.Box,
                 device: torch.device) -> None:
        super().__init__(cfg, obs_space, action_space, device, lambda feat, trunk: (
            DeterministicActor(feat, int(np.prod(action_space.shape)), cfg.hidden,
                               trunk=trunk)))
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self._online = [*self.critic.parameters(), *self.actor.parameters()]
        self._targets = [*self.critic_target.parameters(), *self.actor_target.parameters()]
        self.ou = OUNoise(cfg.exploration_noise, cfg.ou_theta) if cfg.noise_type == "ou" else None
        self.schedule = parse_schedule(cfg.noise_schedule) if cfg.noise_schedule else None
        self.explore_steps = 0
        """Environment steps taken with exploration noise (drives ``noise_schedule``)."""
        self._target_std = torch.zeros((), device=device)
        """The target smoothing std of the current update, as the update reads it."""

    def policy_phase(self, eval: bool) -> None:
        """One deterministic policy for evaluation and exploration."""
        return None

    def policy(self, obs: Any, phase: None) -> torch.Tensor:
        return self.actor(self.encoder(obs))

    def explore(self, action: torch.Tensor, eval: bool) -> torch.Tensor:
        """Gaussian (on the noise schedule) or OU noise, clipped to the action bounds;
        outside the policy's graph, since the std and the OU state change every step."""
        if eval:
            return action
        noise = (self.ou(action) if self.ou is not None
                 else torch.randn_like(action) * self.exploration_std)
        self.explore_steps += action.shape[0]
        return (action + noise).clamp(-1.0, 1.0)

    def episode_end(self, env_index: int = 0) -> None:
        """OU noise is correlated within an episode only: restart it."""
        if self.ou is not None:
            self.ou.reset(env_index)

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

    def next_phase(self) -> tuple[bool, bool]:
        """(do the actor and the targets update, is the target action smoothed); sets the
        smoothing std, which follows the noise schedule, in its device tensor."""
        std = self.target_std
        if std > 0:
            self._target_std.fill_(std)
        return self.num_updates % self.cfg.policy_delay == 0, std > 0

    def learn(self, batch: Batch, phase: tuple[bool, bool]) -> dict[str, torch.Tensor]:
        update_actor, smooth = phase
        cfg = self.cfg
        obs, features, next_features = encode_batch(self.encoder, batch.obs, batch.next_obs,
                                                    cfg.encoder)
        with torch.no_grad():
            next_action = self.actor_target(next_features)
            if smooth:
                next_action = losses.smoothed_target_action(next_action, self._target_std,
                                                            cfg.target_noise_clip)
            next_q = self.critic_target(next_features, next_action)
            target = losses.clipped_double_q_target(batch.reward, batch.discount, next_q)
        q = self.critic(features, batch.action)
        critic_loss = losses.critic_loss(q, target)
        optimize(self.critic_opt, critic_loss)
        metrics = {"critic_loss": critic_loss.detach(), "q": q.detach().mean()}

        if update_actor:
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
