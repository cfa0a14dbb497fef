"""Process-level settings that make small-tensor training faster on the CPU."""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_tuned = False


def tune_allocator() -> bool:
    """Keep freed tensor memory in glibc's heap instead of returning it to the OS.

    A training step allocates and frees the same few-hundred-kB activations
    thousands of times a second. glibc serves blocks above its mmap threshold
    with fresh ``mmap`` calls, so every step pays page faults on first touch
    (measured here: ReLU forward on a 2x256x256 activation 107 us instead of
    33 us inside an SAC update). Raising the mmap and trim thresholds keeps that
    memory mapped and reused. Linux/glibc only; a no-op elsewhere.
    """
    global _tuned
    if _tuned or not sys.platform.startswith("linux"):
        return _tuned
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1 and ok
    except (OSError, AttributeError):
        return False
    _tuned = ok
    return ok
