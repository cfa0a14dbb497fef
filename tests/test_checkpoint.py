"""Checkpoint files: atomic, weights-only, clear errors."""

import os
import pickle

import pytest
import torch

from robovision.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip(tmp_path):
    save_checkpoint({"x": torch.arange(3), "n": 5}, tmp_path / "c.pt")
    state = load_checkpoint(tmp_path / "c.pt")
    assert state["n"] == 5 and torch.equal(state["x"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_checkpoint_is_reported_and_left_alone(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint({"x": torch.zeros(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)
    assert path.read_bytes() == data[: len(data) // 2]


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"format_version": 1, "x": Exploit()}, f)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_failed_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint({"v": 1}, path)

    class Unsaveable:
        pass

    with pytest.raises(Exception):  # noqa: B017
        save_checkpoint({"v": Unsaveable()}, path)  # torch.save of a local class fails
    assert load_checkpoint(path)["v"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]

