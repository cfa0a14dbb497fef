"""The transition batch every off-policy agent consumes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils._pytree import register_pytree_node

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


# A batch flattens to its tensors (the observations' dict leaves included), so a CUDA
# graph runner can copy it into the static batch it captured.
register_pytree_node(
    Batch,
    lambda batch: (list(vars(batch).values()), list(vars(batch))),
    lambda values, names: Batch(**dict(zip(names, values, strict=True))),
    serialized_type_name="robovision.replay.batch.Batch",
)
