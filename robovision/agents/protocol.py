"""What the loop may ask of an agent: the declared protocols every agent implements.

Agents own their networks, optimisers and the exploration state; they do not own
envs, loggers, the replay or the rollout. The loop hands them data and hears
metrics back (tensors that stay on the device until they are logged).

- :class:`OffPolicyAgent` learns from batches the loop samples from the replay.
- :class:`OnPolicyAgent` learns from the rollout the loop just collected with
  :meth:`OnPolicyAgent.explore`.

Both hear when an episode ends (``episode_end``), so exploration state that
spans an episode (TD3/DDPG's OU noise) restarts with the next one.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch

from robovision.replay.batch import Batch
from robovision.replay.rollout import RolloutBuffer


@runtime_checkable
class Agent(Protocol):
    device: torch.device

    def act(self, obs: Any, eval: bool = False) -> np.ndarray:
        """Env actions for one observation or a batch; ``eval``: deterministic."""
        ...

    def episode_end(self, env_index: int = 0) -> None:
        """The episode in env ``env_index`` ended; the next observation starts a new one."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class OffPolicyAgent(Agent, Protocol):
    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient update on a sampled batch; returns metrics."""
        ...


class PolicyStep(NamedTuple):
    """One collection step of an on-policy agent for a batch of envs."""

    env_action: np.ndarray
    """What the envs are stepped with (clipped to the action space)."""
    obs: Any
    """The observation as the network saw it (normalised), stored in the rollout."""
    action: torch.Tensor
    """The policy's raw sample, whose ``log_prob`` is stored."""
    log_prob: torch.Tensor
    value: torch.Tensor


@runtime_checkable
class OnPolicyAgent(Agent, Protocol):
    def explore(self, obs: Any) -> PolicyStep:
        """Sample actions for a batch of observations (updating running statistics)."""
        ...

    def value(self, obs: Any) -> torch.Tensor:
        """V(obs) for a batch; the loop asks it for episodes cut by a time limit."""
        ...

    def update(self, rollout: RolloutBuffer, next_obs: Any, progress: float
               ) -> dict[str, torch.Tensor]:
        """Learn from a full rollout. ``next_obs`` follows its last step (to bootstrap);
        ``progress`` in [0, 1) is the fraction of the run's budget already spent."""
        ...
