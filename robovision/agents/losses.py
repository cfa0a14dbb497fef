"""Losses and target computations shared by all agents, as pure functions.

Shapes: ``q`` from a critic ensemble is ``(n_critics, batch)``; rewards,
discounts and log-probabilities are ``(batch,)``. ``discount`` already folds in
``gamma**n`` and the terminal mask: it is zero after a true terminal and
``gamma**n`` after a time-limit truncation, so truncated episodes bootstrap.
"""

from __future__ import annotations

import torch


def soft_q_target(reward: torch.Tensor, discount: torch.Tensor, next_q: torch.Tensor,
                  next_log_prob: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """SAC target: ``r + discount * (min_i Q_i(s', a') - alpha * log pi(a'|s'))``."""
    return reward + discount * (next_q.min(0).values - alpha * next_log_prob)


def clipped_double_q_target(reward: torch.Tensor, discount: torch.Tensor,
                            next_q: torch.Tensor) -> torch.Tensor:
    """TD3 target: ``r + discount * min_i Q_i(s', a')`` (one critic: DDPG's target)."""
    return reward + discount * next_q.min(0).values


def smoothed_target_action(next_action: torch.Tensor, noise_std: torch.Tensor | float,
                           noise_clip: float) -> torch.Tensor:
    """TD3 target policy smoothing: add clipped Gaussian noise, keep actions in [-1, 1].
    ``noise_std`` may be a 0-d tensor (a scheduled std inside a CUDA graph)."""
    noise = (torch.randn_like(next_action) * noise_std).clamp(-noise_clip, noise_clip)
    return (next_action + noise).clamp(-1.0, 1.0)


def critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over ensemble members of the mean squared TD error."""
    return (q - target.unsqueeze(0)).pow(2).mean(-1).sum()


def sac_actor_loss(q: torch.Tensor, log_prob: torch.Tensor,
                   alpha: torch.Tensor | float) -> torch.Tensor:
    """``E[alpha * log pi(a|s) - min_i Q_i(s, a)]`` with ``q`` of shape ``(n, batch)``."""
    return (alpha * log_prob - q.min(0).values).mean()


def sac_alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor,
                   target_entropy: float) -> torch.Tensor:
    """Temperature loss ``-E[log alpha * (log pi + target_entropy)]``."""
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


def ppo_policy_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor,
                    advantage: torch.Tensor, clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate ``-E[min(r A, clip(r, 1-eps, 1+eps) A)]``; also the clip fraction."""
    ratio = (log_prob - old_log_prob).exp()
    unclipped = ratio * advantage
    clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantage
    clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
    return -torch.min(unclipped, clipped).mean(), clip_fraction


def ppo_value_loss(value: torch.Tensor, old_value: torch.Tensor, returns: torch.Tensor,
                   clip: float | None) -> torch.Tensor:
    """``0.5 * E[(V - R)^2]``; with ``clip``, the pessimistic max with the clipped value."""
    loss = (value - returns).pow(2)
    if clip is not None:
        clipped = old_value + (value - old_value).clamp(-clip, clip)
        loss = torch.max(loss, (clipped - returns).pow(2))
    return 0.5 * loss.mean()


def normalize_advantage(advantage: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return (advantage - advantage.mean()) / (advantage.std() + eps)


@torch.no_grad()
def soft_update_(target: list[torch.Tensor], source: list[torch.Tensor], tau: float) -> None:
    """Polyak averaging ``target <- (1 - tau) * target + tau * source`` in one fused op."""
    torch._foreach_lerp_(target, source, tau)
