"""PPO (Schulman et al. 2017) with a clipped surrogate, GAE(lambda), optionally
clipped value loss, entropy bonus, advantage normalisation and running
observation normalisation (its statistics live in the agent's state dict).

The loop collects a rollout with :meth:`PPO.explore` and hands it to
:meth:`PPO.update`, which computes GAE (:mod:`robovision.replay.rollout`) and runs
the epochs and minibatches. Reward normalisation, when configured, is gymnasium's
``NormalizeReward`` on the training envs (built by the factory).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from robovision import obs as obs_tree
from robovision.agents import losses
from robovision.agents.common import adam, build_encoder, collect_state, restore_state
from robovision.agents.configs import PPOConfig
from robovision.agents.protocol import PolicyStep
from robovision.nets.distributions import (
    categorical_entropy,
    categorical_log_prob,
    categorical_sample,
    gaussian_entropy,
    gaussian_log_prob,
)
from robovision.nets.mlp import mlp
from robovision.nets.normalize import RunningMeanStd
from robovision.obs import is_image_space
from robovision.replay.rollout import RolloutBuffer


def _ortho_init(net: nn.Sequential, last_gain: float) -> None:
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, last_gain if i == len(linears) - 1 else math.sqrt(2))
        nn.init.zeros_(layer.bias)


class PPO:
    def __init__(self, cfg: PPOConfig, obs_space: spaces.Space, action_space: spaces.Box,
                 device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.action_dim = 1 if self.discrete else int(np.prod(action_space.shape))
        out_dim = int(action_space.n) if self.discrete else self.action_dim
        self.obs_ndim = obs_tree.space_ndim(obs_space)
        self.encoder = build_encoder(cfg.encoder, obs_space, device)
        # running normalisation applies to state vectors; images are scaled in the encoder
        self.normalize_obs = (cfg.normalize_obs and isinstance(obs_space, spaces.Box)
                              and not is_image_space(obs_space))
        feat = self.encoder.out_dim
        self.actor = mlp(feat, cfg.hidden, out_dim, cfg.activation).to(device)
        self.critic = mlp(feat, cfg.hidden, 1, cfg.activation).to(device)
        self.log_std = nn.Parameter(torch.full((self.action_dim,), cfg.log_std_init,
                                               device=device))
        if cfg.ortho_init:
            _ortho_init(self.actor, 0.01)
            _ortho_init(self.critic, 1.0)
        self.obs_rms = RunningMeanStd(obs_space.shape if self.normalize_obs else ()).to(device)
        self.params = [*self.encoder.parameters(), *self.actor.parameters(),
                       *self.critic.parameters(), self.log_std]
        self.opt = adam(self.params, cfg.lr, eps=1e-5)
        self.num_updates = 0

    _state = ("encoder", "actor", "critic", "log_std", "obs_rms", "opt")

    def _prepare(self, obs, update_stats: bool) -> tuple[Any, bool]:
        obs_t, single = obs_tree.to_tensor(obs, self.device, self.obs_ndim)
        obs_t = obs_tree.map_obs(lambda v: v if v.dtype == torch.uint8 else v.float(), obs_t)
        if self.normalize_obs:  # a state vector (never a dict or an image)
            obs_t = obs_t.float()
            if update_stats:
                self.obs_rms.update(obs_t)
            obs_t = self.obs_rms.normalize(obs_t)
        return obs_t, single

    # -- the policy's distribution: diagonal Gaussian (Box) or categorical (Discrete) --

    def _sample(self, out: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return categorical_sample(out)
        return out + torch.randn_like(out) * self.log_std.exp()

    def _log_prob(self, out: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return categorical_log_prob(out, action)
        return gaussian_log_prob(action, out, self.log_std)

    def _entropy(self, out: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return categorical_entropy(out).mean()
        return gaussian_entropy(self.log_std).expand(out.shape[0]).mean()

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        """Env actions from policy samples: indices, or Gaussian samples clipped to [-1, 1]."""
        if self.discrete:
            return action.squeeze(-1).long().cpu().numpy()
        return action.clamp(-1.0, 1.0).cpu().numpy()

    @torch.no_grad()
    def explore(self, obs) -> PolicyStep:
        """Sample actions for a batch of observations, updating the normalisation stats."""
        net_obs, _ = self._prepare(obs, update_stats=True)
        features = self.encoder(net_obs)
        out = self.actor(features)
        action = self._sample(out)
        value = self.critic(features).squeeze(-1)
        return PolicyStep(self.to_env(action), net_obs, action, self._log_prob(out, action),
                          value)

    def episode_end(self, env_index: int = 0) -> None:
        """PPO keeps no per-episode state."""

    @torch.no_grad()
    def act(self, obs, eval: bool = False) -> np.ndarray:
        """Env actions; ``eval`` takes the mean (Gaussian) or the most likely action."""
        net_obs, single = self._prepare(obs, update_stats=False)
        out = self.actor(self.encoder(net_obs))
        if eval:
            action = out.argmax(-1, keepdim=True).float() if self.discrete else out
        else:
            action = self._sample(out)
        action = self.to_env(action)
        return action[0] if single else action

    @torch.no_grad()
    def value(self, obs) -> torch.Tensor:
        net_obs, _ = self._prepare(obs, update_stats=False)
        return self.critic(self.encoder(net_obs)).squeeze(-1)

    def update(self, rollout: RolloutBuffer, next_obs: Any, progress: float = 0.0
               ) -> dict[str, torch.Tensor]:
        """One PPO iteration: GAE over the rollout (bootstrapping from ``next_obs``),
        then the epochs; ``progress`` (the share of the budget spent) anneals the lr."""
        cfg = self.cfg
        if cfg.anneal_lr:
            for group in self.opt.param_groups:
                group["lr"] = max(0.0, 1.0 - progress) * cfg.lr
        data = rollout.finish(self.value(next_obs), cfg.gamma, cfg.gae_lambda)
        return self.update_minibatches(data)

    def update_minibatches(self, data: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The epochs and minibatches on a flattened rollout with keys ``obs, action,
        log_prob, value, advantage, return``."""
        cfg = self.cfg
        self.num_updates += 1
        size = data["action"].shape[0]
        mb_size = max(1, size // cfg.num_minibatches)
        stats: dict[str, list[torch.Tensor]] = {}
        for _ in range(cfg.epochs):
            perm = torch.randperm(size, device=self.device)
            for start in range(0, size - mb_size + 1, mb_size):
                idx = perm[start:start + mb_size]
                batch = {k: obs_tree.index(v, idx) for k, v in data.items()}
                for k, v in self._minibatch_step(batch).items():
                    stats.setdefault(k, []).append(v)
            if cfg.target_kl is not None and stats["approx_kl"][-1].item() > cfg.target_kl:
                break
        metrics = {k: torch.stack(v).mean() for k, v in stats.items()}
        metrics["lr"] = torch.tensor(self.opt.param_groups[0]["lr"])
        return metrics

    def _minibatch_step(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        features = self.encoder(mb["obs"])
        out = self.actor(features)
        log_prob = self._log_prob(out, mb["action"])
        value = self.critic(features).squeeze(-1)
        advantage = mb["advantage"]
        if cfg.norm_adv:
            advantage = losses.normalize_advantage(advantage)
        pg_loss, clip_fraction = losses.ppo_policy_loss(log_prob, mb["log_prob"], advantage,
                                                        cfg.clip)
        v_loss = losses.ppo_value_loss(value, mb["value"], mb["return"],
                                       cfg.clip if cfg.clip_vloss else None)
        entropy = self._entropy(out)
        loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm, foreach=True)
        self.opt.step()
        with torch.no_grad():
            log_ratio = log_prob - mb["log_prob"]
            approx_kl = ((log_ratio.exp() - 1) - log_ratio).mean()
        return {"policy_loss": pg_loss.detach(), "value_loss": v_loss.detach(),
                "entropy": entropy.detach(), "approx_kl": approx_kl,
                "clip_fraction": clip_fraction}

    def state_dict(self) -> dict:
        return {**collect_state(self, self._state), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        restore_state(self, self._state, state)
        self.num_updates = int(state["num_updates"])
