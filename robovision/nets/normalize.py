"""Running mean and variance for observation normalisation inside an agent.

Kept here rather than gymnasium's ``NormalizeObservation``: the statistics live on
the training device in the agent's state dict, so evaluation and a resumed run use
exactly the statistics the policy was trained with. (Reward normalisation is
gymnasium's ``NormalizeReward`` on the training envs.)"""

from __future__ import annotations

import torch
from torch import nn


class RunningMeanStd(nn.Module):
    """Streaming mean and variance (Chan et al. parallel update), kept in float64 buffers."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        batch = batch.to(self.mean.device, torch.float64).reshape(-1, *self.mean.shape)
        b_mean, b_var, b_count = batch.mean(0), batch.var(0, unbiased=False), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean += delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta.pow(2) * self.count * b_count / total
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def normalize(self, x: torch.Tensor, clip: float = 10.0, eps: float = 1e-8) -> torch.Tensor:
        mean, std = self.mean.to(x.dtype), (self.var + eps).sqrt().to(x.dtype)
        return ((x - mean) / std).clamp(-clip, clip)
