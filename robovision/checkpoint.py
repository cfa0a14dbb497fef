"""Checkpoints: plain state dicts, written atomically, loaded with ``weights_only=True``.

A checkpoint never holds pickled objects, so loading one cannot run code. A
write goes to a temporary file in the same folder and is renamed over the old
one, so a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or not a robovision checkpoint."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write atomically. A failed write (a full disk, no permission) raises a
    :class:`CheckpointError` that names the file and leaves the previous one intact."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save({"format_version": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        kept = f"the previous {path.name} is intact" if path.exists() else "none was written"
        raise CheckpointError(
            f"could not write checkpoint {path} ({type(exc).__name__}: {exc}); {kept}. The run "
            "stopped; free disk space or fix permissions, then `robovision resume` the run "
            "directory.") from exc
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated, corrupt, or holding pickled objects
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {str(exc)[:300]}. The file is "
            "corrupt or not a robovision checkpoint; it was left untouched.") from exc
    if not isinstance(state, dict) or "format_version" not in state:
        raise CheckpointError(f"{path} is not a robovision checkpoint (no format_version)")
    if state["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {state['format_version']}, newer than this "
            f"robovision reads ({FORMAT_VERSION}); upgrade robovision to load it.")
    return state
