"""The replay: one time-ordered ring for state, pixel and dict observations.

Layout: ``capacity`` slots in time order. Slot ``g`` holds observation ``o_g`` and,
if an action was taken from it, that action, the reward, and whether the step
terminated or ended the episode. An episode of ``T`` steps uses ``T + 1`` slots,
so every observation is stored once (the final one of a truncated episode too,
so time limits bootstrap from the true final observation).

Each observation leaf is stored as it is, except stacked images: with
``frame_stack = k`` only the newest frame of a pixel leaf is kept (uint8, 21 KB
at 84x84 RGB instead of 127 KB for two stacks of 3), and stacks are rebuilt at
sample time. Indices before the episode's first slot clamp to it, exactly the
reset padding of :class:`robovision.wrappers.FrameStack`, so no frame of a
previous episode leaks into a stack.

n-step returns are computed at sample time: they stop at episode ends and
bootstrap with ``gamma**m`` unless the episode terminated (``terminated`` and
``truncated`` stay apart all the way to the agent's ``discount``). Nothing is
pending at insert time, so a checkpoint holds the buffer exactly. Storage lives
on ``storage_device``; sampling draws indices there, so a CUDA-resident buffer
never crosses the bus.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psutil
import torch
from gymnasium import spaces

from robovision import obs as obs_tree
from robovision.replay.batch import Batch


def available_memory(device: torch.device) -> int:
    """Bytes that can still be allocated on ``device``."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return int(psutil.virtual_memory().available)


def other_env_count(saved: int, here: int) -> ValueError:
    """The error for a checkpoint whose replay has ``saved`` lanes (one per env) loaded
    into a run with ``here`` envs."""
    lanes = f"{saved} lane{'s' if saved > 1 else ''}"
    envs = "one env" if here == 1 else f"{here} envs"
    return ValueError(f"the checkpoint's replay has {lanes}, one per env, and this run has "
                      f"{envs}; resume with env.num_envs={saved}")


class StagedWriter:
    """Host arrays into rows of device tensors without waiting for the device.

    A copy from pageable host memory into a CUDA tensor first synchronises the stream,
    so writing a transition into a GPU replay would wait for every kernel queued before
    it (the update the loop just launched). Here each value goes into one of ``depth``
    pinned staging rows and is copied asynchronously; a row is written again only after
    the copy that read it has finished (an event per row, almost always long done).
    On a CPU storage device rows are plain memory and copies are immediate, which is how
    the tests exercise the ring.
    """

    def __init__(self, stores: dict[str, torch.Tensor], depth: int = 64) -> None:
        cuda = next(iter(stores.values())).device.type == "cuda"
        self.depth, self.next_row = depth, 0
        self.rows = {name: torch.empty((depth, *store.shape[1:]), dtype=store.dtype,
                                       pin_memory=cuda) for name, store in stores.items()}
        self.views = {name: rows.numpy() for name, rows in self.rows.items()}
        self.events = [torch.cuda.Event() if cuda else None for _ in range(depth)]
        self.used = [False] * depth

    def write(self, values: list[tuple[str, np.ndarray, int]],
              stores: dict[str, torch.Tensor]) -> None:
        """``stores[name][slot] = value`` for each ``(name, value, slot)``, as one staged
        row."""
        row = self.next_row
        self.next_row = (row + 1) % self.depth
        event = self.events[row]
        if event is not None and self.used[row]:
            event.synchronize()
        for name, value, slot in values:
            self.views[name][row] = value
            stores[name][slot].copy_(self.rows[name][row], non_blocking=True)
        if event is not None:
            event.record()
        self.used[row] = True


class ReplayBuffer:
    REDRAWS = 3
    """How often :meth:`sample_starts` draws again a slot without a step: for episodes of
    20 steps (5 % of slots without one), 6e-6 of the draws go to a neighbour instead of
    the 5 % that one draw gives it."""

    def __init__(self, obs_space: spaces.Space, action_space: spaces.Box, capacity: int,
                 gamma: float, n_step: int = 1, frame_stack: int = 1,
                 device: torch.device | str = "cpu",
                 storage_device: torch.device | str = "cpu", staged: bool | None = None
                 ) -> None:
        """``staged``: write through :class:`StagedWriter` (default: when the storage is
        on a CUDA device)."""
        self.capacity, self.gamma, self.n, self.k = capacity, gamma, n_step, frame_stack
        self.device, self.storage_device = torch.device(device), torch.device(storage_device)
        self.leaves = obs_tree.leaf_spaces(obs_space)
        self.stacked = {key: frame_stack > 1 and obs_tree.is_image_space(s)
                        for key, s in self.leaves.items()}
        slot_shapes = {key: self._slot_shape(key, s) for key, s in self.leaves.items()}
        action_dim = int(np.prod(action_space.shape))
        self.bytes_per_slot = self.bytes_needed(obs_space, action_space, 1, frame_stack)
        self._check_fits()
        on = {"device": self.storage_device}
        self.obs = {key: torch.zeros((capacity, *shape), dtype=obs_tree.torch_dtype(
            self.leaves[key]), **on) for key, shape in slot_shapes.items()}
        self.action = torch.zeros((capacity, action_dim), **on)
        self.reward = torch.zeros(capacity, **on)
        self.terminated = torch.zeros(capacity, dtype=torch.bool, **on)
        self.last = torch.zeros(capacity, dtype=torch.bool, **on)
        self.has_action = torch.zeros(capacity, dtype=torch.bool, **on)
        self.episode_start = torch.zeros(capacity, dtype=torch.int64, **on)
        self.t = 0  # global index of the next slot to write
        self.t_device = torch.zeros((), dtype=torch.int64, **on)
        """``t`` on the storage device, for sampling inside a CUDA graph
        (:meth:`sample` with ``t``); set after each ``add`` without a host sync."""
        if staged is None:
            staged = self.storage_device.type == "cuda"
        self._host_stores = {"action": self.action,
                             **{self._obs_name(key): store for key, store in self.obs.items()}}
        """The stores written from host arrays, by name (the rest are filled from Python
        scalars, which needs no copy)."""
        self._staging = StagedWriter(self._host_stores) if staged else None
        self.current_start: int | None = None  # first slot of the open episode
        self.placement = ""
        """Where the replay lives and why (set by the factory)."""

    @staticmethod
    def bytes_needed(obs_space: spaces.Space, action_space: spaces.Box, capacity: int,
                     frame_stack: int = 1) -> int:
        """Bytes a replay of ``capacity`` slots takes (before allocating it)."""
        per_slot = 4 * int(np.prod(action_space.shape)) + 4 + 3 + 8
        for space in obs_tree.leaf_spaces(obs_space).values():
            size = int(np.prod(space.shape))
            if obs_tree.is_image_space(space):
                per_slot += size // (frame_stack if frame_stack > 1 else 1)
            else:
                per_slot += 4 * size
        return capacity * per_slot

    def _slot_shape(self, key: str | None, space: spaces.Box) -> tuple[int, ...]:
        if not self.stacked[key]:
            return tuple(space.shape)
        channels, height, width = space.shape
        if channels % self.k:
            raise ValueError(f"{channels} channels of '{key or 'pixels'}' are not a stack of "
                             f"{self.k} frames (frame_stack)")
        return channels // self.k, height, width

    def _check_fits(self) -> None:
        self.check_fits(self.capacity, self.bytes_per_slot, self.storage_device)

    @staticmethod
    def check_fits(capacity: int, bytes_per_slot: int, device: torch.device) -> None:
        """A MemoryError naming the largest ``train.buffer_size`` that fits, if a replay of
        ``capacity`` slots (all lanes together) would not fit in ``device``'s free memory."""
        need = capacity * bytes_per_slot
        free = available_memory(device)
        if need > 0.9 * free:
            fits = int(0.9 * free // bytes_per_slot)
            raise MemoryError(
                f"a replay of {capacity:,} transitions needs {need / 2**30:.1f} GiB "
                f"on {device} but {free / 2**30:.1f} GiB are available; the largest "
                f"capacity that fits is {fits:,} (set train.buffer_size={fits})")

    @property
    def can_sample(self) -> bool:
        """Whether a transition is stored (read from host counters: no device sync)."""
        return self.t - 2 >= self._oldest_start()

    def __len__(self) -> int:
        """Transitions that can be sampled."""
        return int(self.has_action[: min(self.t, self.capacity)].sum())

    # -- writing --------------------------------------------------------------------

    def _put(self, values: list[tuple[str, np.ndarray, int]]) -> None:
        """``store[slot] = value`` for each ``(store name, value, slot)``."""
        if self._staging is not None:
            self._staging.write(values, self._host_stores)
            return
        for name, value, slot in values:
            self._host_stores[name][slot] = torch.as_tensor(value)

    def _write_obs(self, obs: Any, start: int, action: np.ndarray | None = None) -> None:
        """Write ``obs`` into the next slot; ``action`` (if given) into the slot before."""
        slot = self.t % self.capacity
        values = obs if isinstance(obs, dict) else {None: obs}
        host = []
        for key, store in self.obs.items():
            value = np.asarray(values[key])
            if self.stacked[key]:
                value = value[-store.shape[1]:]
            host.append((self._obs_name(key), value, slot))
        if action is not None:
            host.append(("action", action, (slot - 1) % self.capacity))
        self._put(host)
        self.has_action[slot] = False
        self.last[slot] = False
        self.terminated[slot] = False
        self.episode_start[slot] = start
        self.t += 1

    def add(self, obs: Any, action: Any, reward: float, next_obs: Any, terminated: bool,
            truncated: bool) -> None:
        """Store one env step. ``obs`` must be the previous step's ``next_obs`` within an
        episode; the first step of an episode also stores ``obs``."""
        if self.current_start is None:
            self.current_start = self.t
            self._write_obs(obs, self.current_start)
        slot = (self.t - 1) % self.capacity
        self.reward[slot] = float(reward)
        self.terminated[slot] = bool(terminated)
        self.last[slot] = bool(terminated or truncated)
        self.has_action[slot] = True
        self._write_obs(next_obs, self.current_start,
                        action=np.asarray(action, dtype=np.float32).reshape(-1))
        self.t_device.fill_(self.t)
        if terminated or truncated:
            self.current_start = None

    def end_episode(self) -> None:
        """Close the open episode (e.g. before a resumed run starts a new one)."""
        self.current_start = None

    # -- reading --------------------------------------------------------------------

    def observation(self, g: torch.Tensor) -> Any:
        """The observations at global slots ``g`` as the agent saw them."""
        slots = g % self.capacity
        leaves = {}
        for key, store in self.obs.items():
            if self.stacked[key]:
                offsets = torch.arange(self.k - 1, -1, -1, device=g.device)
                start = self.episode_start[slots]
                idx = torch.maximum(g[:, None] - offsets[None, :], start[:, None]) % self.capacity
                # index_select on the flat index: 6x faster than store[idx] on the CPU
                frames = store.index_select(0, idx.flatten())  # (B*k, C, H, W)
                leaves[key] = frames.view(len(g), -1, *store.shape[2:])  # (B, k*C, H, W)
            else:
                leaves[key] = store.index_select(0, slots)
        return obs_tree.from_leaves(leaves)

    def _oldest_start(self, t: torch.Tensor | None = None) -> int | torch.Tensor:
        """The oldest global slot a transition may start from, for ``self.t`` or for the
        device count ``t`` (then computed on the device)."""
        # once the ring has wrapped, a stack may reach k-1 slots back: keep those alive
        if t is None:
            oldest = max(0, self.t - self.capacity)
            return oldest + self.k - 1 if oldest > 0 else 0
        oldest = (t - self.capacity).clamp(min=0)
        return torch.where(oldest > 0, oldest + self.k - 1, oldest)

    def sample_starts(self, batch_size: int, t: torch.Tensor | None = None) -> torch.Tensor:
        """Global slots of ``batch_size`` random transitions (slots that hold an action).
        With ``t`` (:attr:`t_device`), the bounds are computed on the device from it, so
        a CUDA graph can capture the sampling while the replay grows.

        The draw is uniform over the slots that hold a step, up to a share of about
        ``q ** (REDRAWS + 1)`` where ``q`` is the share of slots without one (an
        episode's final observation): such a draw is drawn again, up to
        :attr:`REDRAWS` times, and only then given to the step next to it. Redrawing a
        fixed number of times needs no host sync, where drawing until valid would."""
        if t is None:
            low, high = self._oldest_start(), self.t - 2
            if high < low:
                raise RuntimeError("the replay holds no complete transition yet")

            def draw() -> torch.Tensor:
                return torch.randint(low, high + 1, (batch_size,), device=self.storage_device)
        else:
            low = self._oldest_start(t)
            span = t - 1 - low  # the starts low..t-2

            def draw() -> torch.Tensor:
                u = torch.rand(batch_size, device=self.storage_device)
                return low + torch.minimum((u * span).long(), span - 1)
        g = draw()
        for _ in range(self.REDRAWS):
            g = torch.where(self.has_action[g % self.capacity], g, draw())
        # still without an action: take the step before it, or after it at the ring's
        # oldest edge
        before = torch.where(g - 1 >= low, g - 1, g + 1)
        return torch.where(self.has_action[g % self.capacity], g, before)

    def valid_starts(self) -> torch.Tensor:
        """Every global slot a transition can start from, oldest first (for tests and tools)."""
        low = self._oldest_start()
        g = torch.arange(low, max(low, self.t - 1), device=self.storage_device)
        return g[self.has_action[g % self.capacity]]

    def sample(self, batch_size: int, t: torch.Tensor | None = None) -> Batch:
        """``batch_size`` random n-step transitions on the training device; with ``t``
        (:attr:`t_device`, storage on the training device) every op reads device tensors
        only, which is what a CUDA graph of sampling and update together needs."""
        return self.transitions(self.sample_starts(batch_size, t), t)

    def transitions(self, g: torch.Tensor, t: torch.Tensor | None = None) -> Batch:
        """The n-step transitions starting at global slots ``g``, on the training device
        (``t``: the end of the stored steps as a device tensor, else ``self.t``)."""
        ret, m, discount = self._n_step(g, self.t if t is None else t)
        move = self._mover()
        return Batch(obs=obs_tree.map_obs(move, self.observation(g)),
                     action=move(self.action[g % self.capacity]), reward=move(ret),
                     next_obs=obs_tree.map_obs(move, self.observation(g + m)),
                     discount=move(discount))

    def _mover(self):
        """Host storage feeding a CUDA device: copy through pinned memory, asynchronously."""
        to = self.device
        if self.storage_device.type == "cpu" and to.type == "cuda":
            return lambda x: x.pin_memory().to(to, non_blocking=True)
        return lambda x: x.to(to, non_blocking=True)

    def _n_step(self, g: torch.Tensor, t: int | torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(return, steps m, discount)``: up to n rewards of g's episode, ``gamma**m``
        unless the m-th step terminated."""
        first = g % self.capacity
        if self.n == 1:
            discount = torch.where(self.terminated[first], 0.0, self.gamma)
            return self.reward[first], torch.ones_like(g), discount
        j = torch.arange(self.n, device=g.device)
        idx = g[:, None] + j[None, :]
        slots = idx % self.capacity
        same_episode = self.episode_start[slots] == self.episode_start[first][:, None]
        usable = (idx < t) & self.has_action[slots] & same_episode
        ended_before = torch.cat([torch.zeros_like(usable[:, :1]), self.last[slots][:, :-1]], 1)
        included = (usable & ~ended_before).cumprod(1).bool()
        m = included.sum(1)
        ret = (self.reward[slots] * self.gamma ** j.float() * included).sum(1)
        final_slot = (g + m - 1) % self.capacity
        discount = torch.where(self.terminated[final_slot], 0.0, self.gamma ** m.float())
        return ret, m, discount

    # -- checkpoint -----------------------------------------------------------------

    _FIELDS = ("action", "reward", "terminated", "last", "has_action", "episode_start")

    @staticmethod
    def _obs_name(key: str | None) -> str:
        return "obs" if key is None else f"obs.{key}"

    def state_dict(self) -> dict[str, Any]:
        n = min(self.t, self.capacity)
        state: dict[str, Any] = {"t": self.t, "current_start": -1 if self.current_start is None
                                 else self.current_start}
        for key, store in self.obs.items():
            state[self._obs_name(key)] = store[:n].cpu().clone()
        for name in self._FIELDS:
            state[name] = getattr(self, name)[:n].cpu().clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "lanes" in state:
            raise other_env_count(len(state["lanes"]), 1)
        n, t = state["action"].shape[0], int(state["t"])
        if n > self.capacity or (t > n and n != self.capacity):
            raise ValueError(f"checkpoint replay has {n} slots, this buffer {self.capacity}; "
                             f"set train.buffer_size={n}")
        missing = [self._obs_name(k) for k in self.obs if self._obs_name(k) not in state]
        if missing:
            raise ValueError(f"checkpoint replay lacks {missing}: it was saved for another "
                             "observation kind")
        for key, store in self.obs.items():
            store[:n] = state[self._obs_name(key)].to(self.storage_device)
        for name in self._FIELDS:
            getattr(self, name)[:n] = state[name].to(self.storage_device)
        self.t = t
        self.t_device.fill_(t)
        start = int(state["current_start"])
        self.current_start = None if start < 0 else start
