"""Soft Actor-Critic (Haarnoja et al. 2018) with twin critics and a learned temperature.

Read top to bottom: config, construction, ``act``, ``update``. The encoder is
shared: the critic loss trains it and the actor sees detached features (the
DrQ-v2 scheme; for state observations the encoder is a flatten).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from gymnasium import spaces

from robovision.agents import losses
from robovision.agents.common import (
    QEnsemble,
    TanhGaussianActor,
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


@dataclass
class SACConfig:
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden layer sizes of actor and critics."""
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    """Polyak rate of the target critics."""
    n_critics: int = 2
    init_alpha: float = 1.0
    learn_alpha: bool = True
    target_entropy: float | None = None
    """Entropy target; ``None`` gives the usual ``-|A|``."""
    actor_update_every: int = 1
    target_update_every: int = 1
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


class SAC:
    def __init__(self, cfg: SACConfig, obs_space: spaces.Space, action_space: spaces.Box,
                 device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.action_dim = int(np.prod(action_space.shape))
        self.obs_ndim = space_ndim(obs_space)
        self.encoder = build_encoder(cfg.encoder, obs_space, device)
        feat = self.encoder.out_dim
        self.actor = TanhGaussianActor(feat, self.action_dim, cfg.hidden,
                                       cfg.log_std_min, cfg.log_std_max).to(device)
        self.critic = QEnsemble(feat, self.action_dim, cfg.hidden, cfg.n_critics).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(float(np.log(cfg.init_alpha)), device=device,
                                      requires_grad=True)
        self.target_entropy = (-float(self.action_dim) if cfg.target_entropy is None
                               else cfg.target_entropy)
        actor_params = [*self.actor.parameters()]
        if cfg.encoder.grad == "both":
            actor_params += [*self.encoder.parameters()]
        self.actor_opt = adam(actor_params, cfg.actor_lr)
        self.critic_opt = adam([*self.encoder.parameters(), *self.critic.parameters()],
                               cfg.critic_lr)
        self.alpha_opt = adam([self.log_alpha], cfg.alpha_lr)
        self._critic_params = list(self.critic.parameters())
        self._target_params = list(self.critic_target.parameters())
        self.num_updates = 0

    _state = ("encoder", "actor", "critic", "critic_target", "log_alpha",
              "actor_opt", "critic_opt", "alpha_opt")

    @torch.no_grad()
    def act(self, obs, eval: bool = False) -> np.ndarray:
        obs_t, single = obs_to_tensor(obs, self.device, self.obs_ndim)
        features = self.encoder(obs_t)
        action = self.actor.mode(features) if eval else self.actor.sample(features)[0]
        action = action.cpu().numpy()
        return action[0] if single else action

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.num_updates += 1
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

        if self.num_updates % self.cfg.actor_update_every == 0:
            features = actor_features(self.encoder, obs, features, self.cfg.encoder)
            metrics.update(self._update_actor(features, alpha))
        if self.num_updates % self.cfg.target_update_every == 0:
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

    def state_dict(self) -> dict:
        return {**collect_state(self, self._state), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        restore_state(self, self._state, state)
        self.num_updates = int(state["num_updates"])
