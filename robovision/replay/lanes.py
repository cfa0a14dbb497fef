"""One replay lane per env when an off-policy run collects with several envs in lockstep.

Each lane is a :class:`~robovision.replay.ReplayBuffer` of its own, so a lane stays in
time order: frame stacks and n-step returns read neighbouring slots of one env's
episodes, exactly as with one env. A batch takes the same share from every lane
(``batch_size // lanes``, the first ``batch_size % lanes`` lanes one more), uniform
within a lane (:meth:`~robovision.replay.ReplayBuffer.sample_starts`). Envs stepped in
lockstep fill their lanes at the same rate, so that is uniform over the stored
transitions.

The lanes' device counters are views into one tensor, :attr:`ReplayLanes.t_device`, so
sampling inside a CUDA graph reads every lane's end from one input, as with one lane.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._pytree import tree_map

from robovision.replay.batch import Batch
from robovision.replay.buffer import ReplayBuffer, other_env_count


class ReplayLanes:
    """The replay of a run with several envs: a lane each, sampled and saved together."""

    def __init__(self, lanes: list[ReplayBuffer]) -> None:
        if len(lanes) < 2:
            raise ValueError("ReplayLanes holds two lanes or more; one env needs one "
                             "ReplayBuffer")
        self.lanes = lanes
        first = lanes[0]
        self.device, self.storage_device = first.device, first.storage_device
        self.t_device = torch.zeros(len(lanes), dtype=torch.int64, device=self.storage_device)
        for i, lane in enumerate(lanes):
            self.t_device[i] = lane.t
            lane.t_device = self.t_device[i]  # a view: each lane's add writes its entry
        self.placement = ""
        """Where the replay lives and why (set by the factory)."""

    @property
    def capacity(self) -> int:
        return sum(lane.capacity for lane in self.lanes)

    @property
    def can_sample(self) -> bool:
        """Whether every lane holds a transition (host counters only)."""
        return all(lane.can_sample for lane in self.lanes)

    def __len__(self) -> int:
        return sum(len(lane) for lane in self.lanes)

    def end_episode(self) -> None:
        for lane in self.lanes:
            lane.end_episode()

    def shares(self, batch_size: int) -> list[int]:
        """How many transitions of a batch each lane gives."""
        base, extra = divmod(batch_size, len(self.lanes))
        return [base + (i < extra) for i in range(len(self.lanes))]

    def sample(self, batch_size: int, t: torch.Tensor | None = None) -> Batch:
        """``batch_size`` transitions, each lane's share in lane order; with ``t``
        (:attr:`t_device`) every lane samples from its device counter (CUDA graphs)."""
        parts = [lane.sample(n, None if t is None else t[i])
                 for i, (lane, n) in enumerate(zip(self.lanes, self.shares(batch_size),
                                                   strict=True)) if n]
        return tree_map(lambda *leaves: torch.cat(leaves), *parts)

    def state_dict(self) -> dict[str, Any]:
        return {"lanes": [lane.state_dict() for lane in self.lanes]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("lanes", [state])
        if len(saved) != len(self.lanes):
            raise other_env_count(len(saved), len(self.lanes))
        for lane, lane_state in zip(self.lanes, saved, strict=True):
            lane.load_state_dict(lane_state)


def lanes_of(replay: ReplayBuffer | ReplayLanes) -> list[ReplayBuffer]:
    """The replay's lanes in env order (one for a single env's replay)."""
    return replay.lanes if isinstance(replay, ReplayLanes) else [replay]
