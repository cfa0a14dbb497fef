"""Replay buffer for state (or small dict) observations, with n-step returns.

Each transition stores ``obs`` and ``next_obs`` (so a time-limit truncation
bootstraps from the true final observation), the action, the (n-step) reward
and ``discount = gamma**k * (1 - terminated)``: terminated and truncated stay
apart all the way to the agent. Storage is torch tensors on ``storage_device``;
sampling draws indices there, so a CUDA-resident buffer never crosses the bus.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from robovision.agents.common import map_obs
from robovision.replay.batch import Batch


def _alloc(space: spaces.Space, capacity: int, device: torch.device) -> Any:
    if isinstance(space, spaces.Dict):
        return {k: _alloc(s, capacity, device) for k, s in space.spaces.items()}
    dtype = torch.uint8 if space.dtype == np.uint8 else torch.float32
    return torch.zeros((capacity, *space.shape), dtype=dtype, device=device)


class NStepAccumulator:
    """Turns a stream of 1-step transitions into n-step ones.

    A transition leaves once ``n`` steps have followed it or its episode ended
    (terminated or truncated); at an episode end every pending transition
    leaves with the shorter horizon it has.
    """

    def __init__(self, n: int, gamma: float) -> None:
        self.n, self.gamma = n, gamma
        self.pending: deque = deque()

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool
             ) -> list[tuple]:
        self.pending.append((obs, action, reward))
        out = []
        if len(self.pending) == self.n or terminated or truncated:
            while self.pending:
                out.append(self._emit(next_obs, terminated))
                if not (terminated or truncated):
                    break
        return out

    def _emit(self, next_obs, terminated: bool) -> tuple:
        obs, action, _ = self.pending[0]
        ret = sum(r * self.gamma**i for i, (_, _, r) in enumerate(self.pending))
        discount = 0.0 if terminated else self.gamma ** len(self.pending)
        self.pending.popleft()
        return obs, action, ret, next_obs, discount

    def clear(self) -> None:
        self.pending.clear()


class ReplayBuffer:
    def __init__(self, obs_space: spaces.Space, action_space: spaces.Box, capacity: int,
                 gamma: float, n_step: int = 1, device: torch.device | str = "cpu",
                 storage_device: torch.device | str = "cpu") -> None:
        self.capacity, self.gamma = capacity, gamma
        self.device, self.storage_device = torch.device(device), torch.device(storage_device)
        self.obs = _alloc(obs_space, capacity, self.storage_device)
        self.next_obs = _alloc(obs_space, capacity, self.storage_device)
        act_dim = int(np.prod(action_space.shape))
        self.action = torch.zeros((capacity, act_dim), device=self.storage_device)
        self.reward = torch.zeros(capacity, device=self.storage_device)
        self.discount = torch.zeros(capacity, device=self.storage_device)
        self.nstep = NStepAccumulator(n_step, gamma)
        self.pos, self.size = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool) -> None:
        """Add one env step; with n > 1 it is stored once its n-step return is known."""
        for item in self.nstep.push(obs, action, reward, next_obs, terminated, truncated):
            self._store(*item)

    def _store(self, obs, action, ret: float, next_obs, discount: float) -> None:
        i = self.pos
        _write(self.obs, i, obs)
        _write(self.next_obs, i, next_obs)
        self.action[i] = torch.as_tensor(np.asarray(action, dtype=np.float32).reshape(-1))
        self.reward[i] = float(ret)
        self.discount[i] = float(discount)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = torch.randint(0, self.size, (batch_size,), device=self.storage_device)

        def take(x: torch.Tensor) -> torch.Tensor:
            return x[idx].to(self.device, non_blocking=True)

        return Batch(obs=map_obs(take, self.obs), action=take(self.action),
                     reward=take(self.reward), next_obs=map_obs(take, self.next_obs),
                     discount=take(self.discount))

    def end_episode(self) -> None:
        """Drop pending n-step transitions, e.g. when a resumed run starts a new episode."""
        self.nstep.clear()

    def state_dict(self) -> dict:
        n = self.size

        def head(x: torch.Tensor) -> torch.Tensor:
            return x[:n].cpu().clone()

        return {"pos": self.pos, "size": n, "obs": map_obs(head, self.obs),
                "next_obs": map_obs(head, self.next_obs), "action": head(self.action),
                "reward": head(self.reward), "discount": head(self.discount)}

    def load_state_dict(self, state: dict) -> None:
        n = int(state["size"])
        if n > self.capacity:
            raise ValueError(f"checkpoint replay holds {n} transitions, capacity is "
                             f"{self.capacity}; set train.buffer_size >= {n}")
        for name in ("obs", "next_obs"):
            _load(getattr(self, name), state[name], n)
        for name in ("action", "reward", "discount"):
            getattr(self, name)[:n] = state[name].to(self.storage_device)
        self.pos, self.size = int(state["pos"]), n
        self.nstep.clear()


def _write(store: Any, i: int, value: Any) -> None:
    if isinstance(store, dict):
        for k in store:
            store[k][i] = torch.as_tensor(np.asarray(value[k]))
    else:
        store[i] = torch.as_tensor(np.asarray(value))


def _load(store: Any, saved: Any, n: int) -> None:
    if isinstance(store, dict):
        for k in store:
            store[k][:n] = saved[k].to(store[k].device)
    else:
        store[:n] = saved.to(store.device)
