"""Checkpoint files: atomic, weights-only, clear errors."""

import pickle
from pathlib import Path

import pytest
import torch

from robovision.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)


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
    """Unpickling it creates the file ``marker``: proof that loading ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_objects_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "pwned"
    for path, write in ((tmp_path / "evil.pt", torch.save), (tmp_path / "evil.pkl", pickle.dump)):
        with path.open("wb") as f:
            write({"format_version": 1, "x": Exploit(marker)}, f)
        with pytest.raises(CheckpointError):
            load_checkpoint(path)
        assert not marker.exists(), f"loading {path.name} ran the pickled code"


def test_a_dict_without_format_version_is_not_a_checkpoint(tmp_path):
    torch.save({"step": 3}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a robovision checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_a_checkpoint_from_a_newer_format_names_both_versions(tmp_path):
    torch.save({"format_version": FORMAT_VERSION + 1}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match=rf"format {FORMAT_VERSION + 1}.*reads "
                                              rf"\({FORMAT_VERSION}\)"):
        load_checkpoint(tmp_path / "new.pt")
    torch.save({"format_version": FORMAT_VERSION, "n": 1}, tmp_path / "same.pt")
    assert load_checkpoint(tmp_path / "same.pt")["n"] == 1


def test_missing_folders_are_created(tmp_path):
    path = tmp_path / "run" / "checkpoints" / "latest.pt"
    save_checkpoint({"n": 2}, path)
    assert load_checkpoint(path)["n"] == 2


def test_failed_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint({"v": 1}, path)

    class Unsaveable:
        pass

    with pytest.raises(Exception):  # noqa: B017
        save_checkpoint({"v": Unsaveable()}, path)  # torch.save of a local class fails
    assert load_checkpoint(path)["v"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]

