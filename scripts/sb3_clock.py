"""A Stable-Baselines3 callback that records the wall time of every environment step,
shared by the benchmark scripts."""

from __future__ import annotations

import time

from stable_baselines3.common.callbacks import BaseCallback


class StepClock(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.marks: dict[int, float] = {}

    def _on_step(self) -> bool:
        self.marks[self.num_timesteps] = time.perf_counter()
        return True

    def steps_per_second(self, start: int) -> float:
        """Steps per second from step ``start`` to the last step."""
        end = max(self.marks)
        return (end - start) / (self.marks[end] - self.marks[start])
