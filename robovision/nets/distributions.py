"""Action distributions as small pure functions (no torch.distributions overhead)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log density of a diagonal Gaussian, summed over the last dimension."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - LOG_SQRT_2PI).sum(-1)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of a diagonal Gaussian, summed over the last dimension."""
    return (log_std + 0.5 + LOG_SQRT_2PI).sum(-1)


def tanh_log_det_jacobian(u: torch.Tensor) -> torch.Tensor:
    """``sum log(1 - tanh(u)^2)`` over the last dim, computed stably as
    ``2 * (log 2 - u - softplus(-2u))``."""
    return (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)


def tanh_gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterised sample ``a = tanh(mean + std * eps)`` and its log-probability,
    including the change-of-variables correction for the tanh squashing."""
    eps = torch.randn_like(mean)
    u = mean + eps * log_std.exp()
    log_prob = (-0.5 * eps.pow(2) - log_std - LOG_SQRT_2PI).sum(-1) - tanh_log_det_jacobian(u)
    return torch.tanh(u), log_prob


def categorical_log_prob(logits: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Log-probability of integer actions (stored as floats of shape ``(..., 1)``)."""
    log_p = torch.log_softmax(logits, -1)
    return log_p.gather(-1, action.long().reshape(*logits.shape[:-1], 1)).squeeze(-1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    log_p = torch.log_softmax(logits, -1)
    return -(log_p.exp() * log_p).sum(-1)


def categorical_sample(logits: torch.Tensor) -> torch.Tensor:
    """One action index per row, as a float ``(..., 1)`` tensor (the rollout's layout)."""
    flat = logits.reshape(-1, logits.shape[-1])
    index = torch.multinomial(torch.softmax(flat, -1), 1)
    return index.reshape(*logits.shape[:-1], 1).float()
