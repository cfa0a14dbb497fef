"""Soft Actor-Critic (Haarnoja et al. 2018) with twin critics and a learned temperature.

Read top to bottom: construction, ``act``, the update (``next_phase``, ``learn``). The
encoder is shared: the critic loss trains it and the actor sees detached features (the
DrQ scheme; for state observations the encoder is a flatten). Hyper-parameters: :class:`SACConfig`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from robovision.agents import losses
from robovision.agents.common import (
    ActorCritic,
    actor_features,
    adam,
    encode_batch,
    optimize,
    set_requires_grad,
)
from robovision.agents.configs import SACConfig
from robovision.nets.heads import TanhGaussianActor
from robovision.replay.batch import Batch


class SAC(ActorCritic):
    STATE: ClassVar[tuple[str, ...]] = (*ActorCritic.STATE, "log_alpha", "alpha_opt")

    def __init__(self, cfg: SACConfig, obs_space: spaces.Space, action_space: spaces.Box,
                 device: torch.device) -> None:
        super().__init__(cfg, obs_space, action_space, device, lambda feat, trunk: (
            TanhGaussianActor(feat, int(np.prod(action_space.shape)), cfg.hidden,
                              cfg.log_std_min, cfg.log_std_max, trunk=trunk)))
        self.log_alpha = torch.tensor(float(np.log(cfg.init_alpha)), device=device,
                                      requires_grad=True)
        self.target_entropy = (-float(self.action_dim) if cfg.target_entropy is None
                               else cfg.target_entropy)
        self.alpha_opt = adam([self.log_alpha], cfg.alpha_lr)
        self._critic_params = list(self.critic.parameters())
        self._target_params = list(self.critic_target.parameters())

    def policy_phase(self, eval: bool) -> bool:
        """Evaluation takes the mean action, exploration a sample (inside the graph)."""
        return eval

    def policy(self, obs: Any, phase: bool) -> torch.Tensor:
        features = self.encoder(obs)
        return self.actor.mode(features) if phase else self.actor.sample(features)[0]

    def next_phase(self) -> tuple[bool, bool]:
        """(does the actor update, does the target update) in this update."""
        n, cfg = self.num_updates, self.cfg
        return n % cfg.actor_update_every == 0, n % cfg.target_update_every == 0

    def learn(self, batch: Batch, phase: tuple[bool, bool]) -> dict[str, torch.Tensor]:
        update_actor, update_target = phase
        alpha = self.log_alpha.detach().exp()
        obs, features, next_features = encode_batch(self.encoder, batch.obs, batch.next_obs,
                                                    self.cfg.encoder)
        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(next_features)
            next_q = self.critic_target(next_features, next_action)
            target = losses.soft_q_target(batch.reward, batch.discount, next_q, next_log_prob,
                                          alpha)
        q = self.critic(features, batch.action)
        critic_loss = losses.critic_loss(q, target)
        optimize(self.critic_opt, critic_loss)
        metrics = {"critic_loss": critic_loss.detach(), "q": q.detach().mean(), "alpha": alpha}

        if update_actor:
            features = actor_features(self.encoder, obs, features, self.cfg.encoder)
            metrics.update(self._update_actor(features, alpha))
        if update_target:
            losses.soft_update_(self._target_params, self._critic_params, self.cfg.tau)
        return metrics

    def _update_actor(self, features: torch.Tensor, alpha: torch.Tensor) -> dict:
        set_requires_grad(self.critic, False)
        action, log_prob = self.actor.sample(features)
        actor_loss = losses.sac_actor_loss(self.critic(features, action), log_prob, alpha)
        optimize(self.actor_opt, actor_loss)
        set_requires_grad(self.critic, True)
        metrics = {"actor_loss": actor_loss.detach(), "entropy": -log_prob.detach().mean()}
        if self.cfg.learn_alpha:
            alpha_loss = losses.sac_alpha_loss(self.log_alpha, log_prob, self.target_entropy)
            optimize(self.alpha_opt, alpha_loss)
            metrics["alpha_loss"] = alpha_loss.detach()
        return metrics
