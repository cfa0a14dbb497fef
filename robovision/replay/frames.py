"""Image replay that stores every frame once and rebuilds stacks when sampling.

Layout: one ring of ``capacity`` slots in time order. Slot ``g`` holds the
newest frame of observation ``o_g`` (uint8 ``(C, H, W)``), the state vector for
dict observations, and, if an action was taken from ``o_g``, that action, the
reward, and whether the step terminated or ended the episode. An episode of
``T`` steps uses ``T + 1`` slots, so memory is about one frame per transition
(21 KB at 84x84 RGB) instead of two stacked observations (127 KB at stack 3).

A stacked observation at slot ``g`` is frames ``g-k+1 .. g``, with indices
before the episode's first slot clamped to it: exactly the reset padding of
:class:`robovision.wrappers.FrameStack`, so no frame of a previous episode
leaks into a stack. n-step returns stop at episode ends and bootstrap with
``gamma**m`` unless the episode terminated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces

from robovision.agents.common import map_obs
from robovision.replay.batch import Batch


def available_memory(device: torch.device) -> int:
    """Bytes that can still be allocated on ``device``."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 62  # unknown platform: do not block


class FrameReplayBuffer:
    def __init__(self, obs_space: spaces.Space, action_space: spaces.Box, capacity: int,
                 gamma: float, n_step: int = 1, frame_stack: int = 3,
                 device: torch.device | str = "cpu",
                 storage_device: torch.device | str = "cpu") -> None:
        self.dict_obs = isinstance(obs_space, spaces.Dict)
        pixels = obs_space["pixels"] if self.dict_obs else obs_space
        stacked_channels, height, width = pixels.shape
        if stacked_channels % frame_stack:
            raise ValueError(f"{stacked_channels} channels are not a stack of {frame_stack}")
        self.k, self.channels = frame_stack, stacked_channels // frame_stack
        self.capacity, self.gamma, self.n = capacity, gamma, n_step
        self.device, self.storage_device = torch.device(device), torch.device(storage_device)
        state_dim = int(np.prod(obs_space["state"].shape)) if self.dict_obs else 0
        action_dim = int(np.prod(action_space.shape))
        self.bytes_per_slot = (self.channels * height * width + 4 * state_dim + 4 * action_dim
                               + 4 + 3 + 8)
        self._check_fits()
        on = {"device": self.storage_device}
        self.frames = torch.zeros((capacity, self.channels, height, width), dtype=torch.uint8, **on)
        self.state = torch.zeros((capacity, state_dim), **on) if self.dict_obs else None
        self.action = torch.zeros((capacity, action_dim), **on)
        self.reward = torch.zeros(capacity, **on)
        self.terminated = torch.zeros(capacity, dtype=torch.bool, **on)
        self.last = torch.zeros(capacity, dtype=torch.bool, **on)
        self.has_action = torch.zeros(capacity, dtype=torch.bool, **on)
        self.episode_start = torch.zeros(capacity, dtype=torch.int64, **on)
        self.t = 0  # global index of the next slot to write
        self.current_start: int | None = None  # first slot of the open episode

    def _check_fits(self) -> None:
        need = self.capacity * self.bytes_per_slot
        free = available_memory(self.storage_device)
        if need > 0.9 * free:
            fits = int(0.9 * free // self.bytes_per_slot)
            raise MemoryError(
                f"an image replay of {self.capacity:,} transitions needs {need / 2**30:.1f} GiB "
                f"on {self.storage_device} but {free / 2**30:.1f} GiB are available; the largest "
                f"capacity that fits is {fits:,} (set train.buffer_size={fits})")

    def __len__(self) -> int:
        """Transitions that can be sampled."""
        return int(self.has_action[: min(self.t, self.capacity)].sum())

    # -- writing --------------------------------------------------------------------

    def _write_obs(self, obs, start: int) -> None:
        slot = self.t % self.capacity
        pixels = obs["pixels"] if self.dict_obs else obs
        self.frames[slot] = torch.as_tensor(np.asarray(pixels)[-self.channels:])
        if self.dict_obs:
            self.state[slot] = torch.as_tensor(np.asarray(obs["state"], dtype=np.float32))
        self.has_action[slot] = False
        self.last[slot] = False
        self.terminated[slot] = False
        self.episode_start[slot] = start
        self.t += 1

    def add(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool) -> None:
        """Store one env step. ``obs`` must be the previous step's ``next_obs`` within an
        episode; the first step of an episode also stores ``obs``'s newest frame."""
        if self.current_start is None:
            self.current_start = self.t
            self._write_obs(obs, self.current_start)
        slot = (self.t - 1) % self.capacity
        self.action[slot] = torch.as_tensor(np.asarray(action, dtype=np.float32).reshape(-1))
        self.reward[slot] = float(reward)
        self.terminated[slot] = bool(terminated)
        self.last[slot] = bool(terminated or truncated)
        self.has_action[slot] = True
        self._write_obs(next_obs, self.current_start)
        if terminated or truncated:
            self.current_start = None

    def end_episode(self) -> None:
        """Close the open episode (e.g. before a resumed run starts a new one)."""
        self.current_start = None

    # -- reading --------------------------------------------------------------------

    def stack(self, g: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """The observation at global slots ``g`` as the agent saw it."""
        offsets = torch.arange(self.k - 1, -1, -1, device=g.device)
        start = self.episode_start[g % self.capacity]
        idx = torch.maximum(g[:, None] - offsets[None, :], start[:, None]) % self.capacity
        frames = self.frames[idx]  # (B, k, C, H, W)
        pixels = frames.flatten(1, 2)
        if self.dict_obs:
            return {"pixels": pixels, "state": self.state[g % self.capacity]}
        return pixels

    def _sample_starts(self, batch_size: int) -> torch.Tensor:
        oldest = max(0, self.t - self.capacity)
        # once the ring has wrapped, a stack may reach k-1 slots back: keep those alive
        low = oldest + self.k - 1 if oldest > 0 else 0
        high = self.t - 2
        if high < low:
            raise RuntimeError("the image replay holds no complete transition yet")
        g = torch.randint(low, high + 1, (batch_size,), device=self.storage_device)
        # A slot without an action is an episode's final frame: take the step before it
        # (no host sync; that step exists because every episode has one).
        g = torch.where(self.has_action[g % self.capacity], g, g - 1).clamp_(min=low)
        return g

    def sample(self, batch_size: int) -> Batch:
        g = self._sample_starts(batch_size)
        j = torch.arange(self.n, device=g.device)
        idx = g[:, None] + j[None, :]
        slots = idx % self.capacity
        same_episode = self.episode_start[slots] == self.episode_start[g % self.capacity][:, None]
        usable = (idx < self.t) & self.has_action[slots] & same_episode
        ended_before = torch.cat([torch.zeros_like(usable[:, :1]), self.last[slots][:, :-1]], 1)
        included = (usable & ~ended_before).cumprod(1).bool()
        m = included.sum(1)
        discounts = self.gamma ** j.float()
        ret = (self.reward[slots] * discounts * included).sum(1)
        final_slot = (g + m - 1) % self.capacity
        discount = torch.where(self.terminated[final_slot], 0.0, self.gamma ** m.float())
        obs, next_obs = self.stack(g), self.stack(g + m)
        a = self.action[g % self.capacity]
        def to_device(x: torch.Tensor) -> torch.Tensor:
            return x.to(self.device, non_blocking=True)

        return Batch(obs=map_obs(to_device, obs), action=to_device(a),
                     reward=to_device(ret), next_obs=map_obs(to_device, next_obs),
                     discount=to_device(discount))

    # -- checkpoint -----------------------------------------------------------------

    _FIELDS = ("frames", "state", "action", "reward", "terminated", "last", "has_action",
               "episode_start")

    def state_dict(self) -> dict:
        n = min(self.t, self.capacity)
        state = {"t": self.t, "current_start": -1 if self.current_start is None
                 else self.current_start}
        for name in self._FIELDS:
            value = getattr(self, name)
            if value is not None:
                state[name] = value[:n].cpu().clone()
        return state

    def load_state_dict(self, state: dict) -> None:
        n = state["frames"].shape[0]
        if n > self.capacity or (int(state["t"]) > n and n != self.capacity):
            raise ValueError(f"checkpoint replay has {n} slots, this buffer {self.capacity}; "
                             f"set train.buffer_size={n}")
        for name in self._FIELDS:
            value = getattr(self, name)
            if value is not None:
                value[:n] = state[name].to(self.storage_device)
        self.t = int(state["t"])
        start = int(state["current_start"])
        self.current_start = None if start < 0 else start

