"""The replay (off-policy) and rollout storage with GAE (on-policy)."""

from robovision.replay.batch import Batch
from robovision.replay.buffer import ReplayBuffer
from robovision.replay.lanes import ReplayLanes, lanes_of
from robovision.replay.rollout import RolloutBuffer, compute_gae

__all__ = ["Batch", "ReplayBuffer", "ReplayLanes", "RolloutBuffer", "compute_gae", "lanes_of"]
