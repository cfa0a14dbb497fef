"""Running statistics for observation and reward normalisation (saved in checkpoints)."""

from __future__ import annotations

import numpy as np
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


class RewardScaler:
    """Scale rewards by the running std of the discounted return (as gymnasium's
    ``NormalizeReward``), one return accumulator per parallel env."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, eps: float = 1e-8) -> None:
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.returns = np.zeros(num_envs)
        self.rms = RunningMeanStd(())

    def __call__(self, reward: np.ndarray, terminated: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma * (1.0 - terminated) + reward
        self.rms.update(torch.as_tensor(self.returns))
        scaled = reward / np.sqrt(self.rms.var.item() + self.eps)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict:
        return {"returns": torch.as_tensor(self.returns), "rms": self.rms.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.returns = state["returns"].numpy().copy()
        self.rms.load_state_dict(state["rms"])
