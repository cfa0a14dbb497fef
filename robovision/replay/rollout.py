"""On-policy rollout storage and generalised advantage estimation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from robovision import obs as obs_tree


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                terminated: torch.Tensor, episode_end: torch.Tensor, gamma: float,
                lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(lambda) over a ``(T, N)`` rollout; returns ``(advantages, returns)``.

    ``next_values[t]`` is ``V`` of the observation that followed step ``t``
    (after a truncation: of the final observation, so time limits bootstrap).
    ``terminated`` zeroes the bootstrap; ``episode_end`` (terminated or
    truncated) stops the advantage recursion at episode boundaries.
    """
    not_term = 1.0 - terminated.float()
    not_end = 1.0 - episode_end.float()
    deltas = rewards + gamma * not_term * next_values - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lam * not_end[t] * running
        advantages[t] = running
    return advantages, advantages + values


class RolloutBuffer:
    """``(T, N)`` storage for one PPO iteration, on the training device."""

    def __init__(self, steps: int, num_envs: int, obs_space: spaces.Space,
                 action_space: spaces.Space, device: torch.device) -> None:
        self.steps, self.num_envs = steps, num_envs
        shape = (steps, num_envs)
        action_dim = (1 if isinstance(action_space, spaces.Discrete)
                      else int(np.prod(action_space.shape)))
        self.obs = obs_tree.alloc(obs_space, shape, device)
        self.action = torch.zeros((*shape, action_dim), device=device)
        self.log_prob = torch.zeros(shape, device=device)
        self.value = torch.zeros(shape, device=device)
        self.reward = torch.zeros(shape, device=device)
        self.terminated = torch.zeros(shape, device=device)
        self.episode_end = torch.zeros(shape, device=device)
        self.bootstrap = torch.zeros(shape, device=device)
        """V(final observation) where a step was truncated, else 0."""

    def store(self, t: int, obs: Any, action: torch.Tensor, log_prob: torch.Tensor,
              value: torch.Tensor, reward: np.ndarray, terminated: np.ndarray,
              ended: np.ndarray, bootstrap: torch.Tensor) -> None:
        """Write step ``t`` for all envs (``obs`` as the network saw it)."""
        obs_tree.map_obs(lambda store, v: store[t].copy_(v), self.obs, obs)
        self.action[t] = action.reshape(self.action.shape[1:])
        self.log_prob[t], self.value[t] = log_prob, value
        self.reward[t] = torch.as_tensor(reward, dtype=torch.float32)
        self.terminated[t] = torch.as_tensor(terminated, dtype=torch.float32)
        self.episode_end[t] = torch.as_tensor(ended, dtype=torch.float32)
        self.bootstrap[t] = bootstrap

    def finish(self, last_value: torch.Tensor, gamma: float, lam: float
               ) -> dict[str, torch.Tensor]:
        """Compute GAE and return the flattened rollout for ``PPO.update``."""
        next_values = torch.cat([self.value[1:], last_value.unsqueeze(0)])
        # At an episode end the next stored value belongs to the next episode:
        # use V(final obs) instead (zero after a true terminal, masked anyway).
        next_values = torch.where(self.episode_end.bool(), self.bootstrap, next_values)
        adv, ret = compute_gae(self.reward, self.value, next_values, self.terminated,
                               self.episode_end, gamma, lam)
        flat = {"obs": self.obs, "action": self.action, "log_prob": self.log_prob,
                "value": self.value, "advantage": adv, "return": ret}
        return {k: obs_tree.map_obs(lambda x: x.flatten(0, 1), v) for k, v in flat.items()}
