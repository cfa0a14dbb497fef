"""Hyper-parameter schedules given as short strings in configs, parsed (never evaluated).

``"0.2"`` is a constant; ``"linear(1.0,0.1,500000)"`` goes from 1.0 to 0.1 over
500000 steps and stays there (DrQ-v2's exploration-noise schedule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_LINEAR = re.compile(rf"linear\({_NUMBER},{_NUMBER},{_NUMBER}\)")


@dataclass(frozen=True)
class Schedule:
    start: float
    end: float
    duration: int

    def __call__(self, step: int) -> float:
        if self.duration <= 0:
            return self.end
        mix = min(max(step / self.duration, 0.0), 1.0)
        return (1.0 - mix) * self.start + mix * self.end


def parse_schedule(text: str) -> Schedule:
    text = text.strip()
    match = _LINEAR.fullmatch(text)
    if match:
        start, end, duration = match.groups()
        return Schedule(float(start), float(end), int(float(duration)))
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"schedule '{text}' is neither a number nor linear(start,end,steps)"
                         ) from None
    return Schedule(value, value, 0)
