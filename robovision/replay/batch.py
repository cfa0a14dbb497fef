"""The transition batch every off-policy agent consumes."""

from __future__ import annotations

from dataclasses import dataclass

import torch

Obs = torch.Tensor | dict[str, torch.Tensor]


@dataclass
class Batch:
    """Transitions sampled from a replay buffer.

    ``discount`` is ``gamma**n`` for an n-step transition that did not end in a
    true terminal (a time-limit truncation included) and ``0`` after one, so
    agents never need to know about n-step returns or time limits.
    """

    obs: Obs
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: Obs
    discount: torch.Tensor

    def __len__(self) -> int:
        return self.action.shape[0]
