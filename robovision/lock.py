"""One run per run directory at a time.

A run holds an exclusive ``flock`` on ``RUN_DIR/.lock`` for its whole life. The
kernel releases it when the process ends, however it ends (SIGKILL included), so a
dead run never leaves a stuck lock; the file itself stays and names the last owner.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path


class RunDirLocked(RuntimeError):
    """Another live process is training in this run directory."""


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self._fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            raise RunDirLocked(
                f"{run_dir} is in use by another run ({owner}). Wait for it to finish or stop "
                "it (Ctrl-C saves a checkpoint), or give this run another run_dir.") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
