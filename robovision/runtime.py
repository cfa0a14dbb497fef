"""Process-level settings and facts: the GL/triton load order, the allocator settings that
make small-tensor training faster on the CPU, and whether a device computes bf16
natively."""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any


def llvm_loaded() -> bool:
    """Whether a GL backend has already loaded Mesa's LLVM (libLLVM) into this process:
    EGL through Mesa and OSMesa both do, as soon as dm_control is imported."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libLLVM" in line for line in maps)
    except OSError:
        return False


def order_triton_and_gl(preload: bool = True) -> str:
    """Make torch's triton and a Mesa GL backend coexist, whatever the user imported first.

    torch's Linux wheels ship triton (with its own LLVM), which torch imports lazily,
    for example when the first fused optimiser is built. Loading it after Mesa's
    libLLVM is in the process kills the interpreter with a segfault; loading it
    before is fine. So: if a GL backend is already loaded (dm_control imported or
    rendered first), keep triton out of this process: torch then treats it as absent,
    which CPU kernels, fused optimisers and ``torch.compile``'s C++ CPU backend do not
    need. Otherwise, with ``preload``, load triton now, before robovision loads GL.
    On an NVIDIA machine EGL uses the driver, not Mesa, and nothing is kept out.

    ``import robovision`` calls this without ``preload`` (a cheap check, so the import
    stays fast); building a MuJoCo env or importing the networks (torch) preloads.
    Returns ``"loaded"``, ``"blocked"``, ``"absent"`` or ``"deferred"``.
    """
    if "triton" in sys.modules:
        return "loaded" if sys.modules["triton"] is not None else "blocked"
    if llvm_loaded():
        sys.modules["triton"] = None  # `import triton` now raises ImportError
        return "blocked"
    if not preload:
        return "deferred"
    try:
        import triton  # noqa: F401
    except ImportError:
        return "absent"
    return "loaded"


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


CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""x86 ``/proc/cpuinfo`` flags of CPUs that compute bf16 natively (AMX tiles, AVX-512
BF16); on ARM the ``bf16`` feature."""


def cpu_bf16_flag(cpuinfo: str | None = None) -> str | None:
    """The first flag in ``cpuinfo`` (default: this machine's ``/proc/cpuinfo``) that says
    the CPU computes bf16 natively, or None.

    Without one, bf16 convolutions are emulated and slower than float32: the main job's
    update took 6.1 s in bf16 against 0.77 s in float32 on a CPU held to AVX2, and 1.4
    against 0.72 s held to AVX-512 without BF16; with AVX-512 BF16, 0.40 against 0.73 s
    (BENCHMARKS.md section 25).
    """
    if cpuinfo is None:
        cpuinfo = _this_cpuinfo()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return next((flag for flag in (*CPU_BF16_FLAGS, "bf16") if flag in flags), None)


@functools.cache
def _this_cpuinfo() -> str:
    """This machine's ``/proc/cpuinfo``, read once ("" where there is none)."""
    try:
        with open("/proc/cpuinfo") as file:
            return file.read()
    except OSError:
        return ""


def native_bf16(device: Any) -> tuple[bool, str]:
    """Whether ``device`` (a ``torch.device`` or its name: ``"cpu"``, ``"cuda"``,
    ``"cuda:1"``) computes bf16 natively, and what says so, for a message."""
    if str(device).startswith("cuda"):
        import torch

        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:  # Ampere on: bf16 tensor cores; before, bf16 is emulated
            return True, f"its compute capability {major}.{minor} has bf16 tensor cores"
        return False, f"its compute capability {major}.{minor} has no bf16 tensor cores"
    flag = cpu_bf16_flag()
    if flag:
        return True, f"this CPU has {flag}"
    return False, ("this CPU lists no bf16 instructions (avx512_bf16, amx_bf16, ARM bf16), "
                   "so bf16 is emulated")
