"""A run survives its side jobs and damaged files: each failure reproduced, each test
asserting that training goes on or that the error names the file and the fix."""

import errno
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from robovision import logging as rv_logging
from robovision import loop
from robovision.checkpoint import CheckpointError, load_checkpoint
from robovision.cli import main
from robovision.config import load_config
from robovision.lock import RunDirLocked, RunLock
from robovision.logging import read_metrics

FAST = ["train.learning_starts=50", "train.batch_size=16", "agent.hidden=16,16",
        "train.eval_episodes=1", "train.log_every=50", "train.progress=false"]


def _cfg(*extra, preset="pendulum_sac", steps=300):
    return load_config(preset, [*FAST, f"train.total_steps={steps}", *extra])


def _train(cfg, run_dir, **kwargs):
    return loop.train(cfg, run_dir, **kwargs)


# --------------------------------------------------------------------------- side jobs


def test_missing_pygame_switches_videos_off_and_training_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pygame", None)  # as if it were not installed
    counters = _train(_cfg("train.video=true", "train.eval_every=100"), tmp_path)
    assert counters.step == 300 and counters.last_eval == counters.last_eval  # finite
    evals = read_metrics(tmp_path)["eval/return_mean"][0].tolist()
    assert evals == [100, 200, 300]
    err = capsys.readouterr().err
    assert err.count("video failed") == 1 and "pygame" in err  # said once, with the fix
    assert not (tmp_path / "videos").exists()
    assert (tmp_path / "checkpoints" / "latest.pt").exists()


def test_missing_ffmpeg_switches_videos_off(tmp_path, monkeypatch, capsys):
    import imageio.v2

    def no_ffmpeg(*args, **kwargs):
        raise RuntimeError("No ffmpeg exe could be found. Install ffmpeg on your system")

    monkeypatch.setattr(imageio.v2, "mimsave", no_ffmpeg)
    cfg = _cfg("env.spec=robovision/PointReach-v0", "train.video=true", "train.eval_every=100")
    counters = _train(cfg, tmp_path)
    assert counters.step == 300
    assert len(read_metrics(tmp_path)["eval/return_mean"][0]) == 3
    err = capsys.readouterr().err
    assert err.count("video failed") == 1 and "ffmpeg" in err


def test_failing_plot_tensorboard_and_csv_writes_do_not_stop_training(tmp_path, monkeypatch,
                                                                      capsys):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(loop, "plot_curves", disk_full)
    monkeypatch.setattr(rv_logging.RunLogger, "_write_tensorboard", disk_full)
    monkeypatch.setattr(rv_logging.RunLogger, "_write_rows", disk_full)
    counters = _train(_cfg("train.eval_every=100", "train.checkpoint_every=100"), tmp_path)
    assert counters.step == 300
    assert load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["counters"]["step"] == 300
    err = capsys.readouterr().err
    for job in ("plot", "tensorboard", "csv"):
        assert err.count(f"{job} failed") == 1, job


def test_a_failed_checkpoint_write_stops_cleanly_with_the_last_good_one_intact(
        tmp_path, monkeypatch):
    cfg = _cfg("train.eval_every=0", "train.checkpoint_every=100")
    real_save = torch.save
    calls = []

    def save_then_fill_the_disk(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_then_fill_the_disk)
    with pytest.raises(CheckpointError, match=r"latest\.pt.*previous latest\.pt is intact"):
        _train(cfg, tmp_path)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["counters"]["step"] == 100
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))  # no half-written leftovers
    # the run directory is usable again: the lock went with the failed run
    assert _train(_cfg("train.eval_every=0", "train.checkpoint_every=100"), tmp_path,
                  resume=True).step == 300


# --------------------------------------------------------------------------- damaged files


def _killed_run(tmp_path):
    """A run checkpointed at 200 whose metrics.csv goes on to step 300 (as after a kill)."""
    _train(_cfg("train.eval_every=100", "train.checkpoint_every=200"), tmp_path)
    state = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")
    state["counters"]["step"] = 200
    torch.save(state, tmp_path / "checkpoints" / "latest.pt")


def test_resume_repairs_a_csv_cut_mid_line(tmp_path, capsys):
    _killed_run(tmp_path)
    csv_path = tmp_path / "metrics.csv"
    text = csv_path.read_text()
    csv_path.write_text(text[: len(text) - 7])  # the last row torn mid-write
    assert main(["resume", str(tmp_path), "train.total_steps=400"]) == 0
    assert "dropped 1 damaged row" in capsys.readouterr().err
    evals = read_metrics(tmp_path)["eval/return_mean"][0].tolist()
    assert evals == [100, 200, 300, 400]  # rows past the checkpoint were replaced


def test_resume_sets_aside_a_csv_with_a_broken_header(tmp_path, capsys):
    _killed_run(tmp_path)
    (tmp_path / "metrics.csv").write_text("step,fra")  # cut inside the header
    assert main(["resume", str(tmp_path), "train.total_steps=400"]) == 0
    assert "damaged header" in capsys.readouterr().err
    assert len(list(tmp_path.glob("metrics.csv.damaged-*"))) == 1  # kept, renamed
    assert read_metrics(tmp_path)["eval/return_mean"][0].tolist() == [300, 400]


def test_plotting_a_damaged_csv_skips_bad_rows(tmp_path):
    _train(_cfg("train.eval_every=100"), tmp_path)
    with (tmp_path / "metrics.csv").open("a") as f:
        f.write("350,350,1.0\n,,\nnot-a-number,1,1,eval/return_mean,3\n")
    assert len(read_metrics(tmp_path)["eval/return_mean"][0]) == 3
    assert main(["plot", str(tmp_path)]) == 0


def test_truncated_checkpoint_names_the_file_and_the_other_checkpoint(tmp_path, capsys):
    _train(_cfg("train.eval_every=100", "train.checkpoint_every=100"), tmp_path)
    latest = tmp_path / "checkpoints" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    assert main(["resume", str(tmp_path), "train.total_steps=400"]) == 2
    err = capsys.readouterr().err
    assert "latest.pt" in err and "--checkpoint best" in err and "Traceback" not in err
    # and the way out it names works: the best weights, a replay that refills
    assert main(["resume", str(tmp_path), "train.total_steps=400", "--checkpoint", "best"]) == 0
    assert "holds no replay" in capsys.readouterr().err
    assert load_checkpoint(latest)["counters"]["step"] == 400


@pytest.mark.parametrize(("override", "message"), [
    ("algo=td3", "holds a 'sac' agent"), ("agent.hidden=32,32", "does not fit this run")])
def test_checkpoint_of_another_algorithm_or_shape_is_a_clear_error(tmp_path, capsys, override,
                                                                   message):
    _train(_cfg("train.eval_every=0", "train.checkpoint_every=100"), tmp_path)
    assert main(["resume", str(tmp_path), override]) == 2
    err = capsys.readouterr().err
    assert message in err and "latest.pt" in err and "Traceback" not in err


def test_missing_config_says_what_a_run_directory_holds(tmp_path):
    with pytest.raises(SystemExit, match=r"config\.yaml not found.*holds config\.yaml"):
        main(["resume", str(tmp_path)])


def test_eval_video_on_an_env_that_cannot_render_says_why_first(tmp_path, monkeypatch, capsys):
    _train(_cfg("train.eval_every=0"), tmp_path)
    monkeypatch.setitem(sys.modules, "pygame", None)
    assert main(["eval", str(tmp_path), "--video", "--checkpoint", "latest"]) == 2
    captured = capsys.readouterr()
    assert "cannot render" in captured.err and "pygame" in captured.err
    assert "return" not in captured.out  # it stopped before evaluating


# --------------------------------------------------------------------------- the lock


def test_a_second_run_on_a_locked_directory_refuses(tmp_path, capsys):
    held = RunLock(tmp_path)
    try:
        assert main(["train", "pendulum_sac", f"run_dir={tmp_path}", *FAST]) == 2
        assert f"pid {os.getpid()}" in capsys.readouterr().err
        with pytest.raises(RunDirLocked, match="in use by another run"):
            RunLock(tmp_path)
    finally:
        held.release()
    RunLock(tmp_path).release()  # free again once released


def test_a_lock_left_by_a_killed_process_is_not_stuck(tmp_path):
    code = (f"from robovision.lock import RunLock; RunLock({str(tmp_path)!r}); "
            "print('locked', flush=True); import time; time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirLocked):
            RunLock(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.time() + 10
    while True:  # the kernel drops a dead process's flock
        try:
            RunLock(tmp_path).release()
            break
        except RunDirLocked:
            assert time.time() < deadline
            time.sleep(0.1)
    assert "pid" in (tmp_path / ".lock").read_text()  # the file stays, naming the last owner


def test_the_lock_file_names_exactly_its_live_owner(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").write_text("pid 123456789 on a-host-with-a-long-name-from-before\n")
    lock = RunLock(run_dir)
    try:
        owner = f"pid {os.getpid()} on {socket.gethostname()}\n"
        assert (run_dir / ".lock").read_text() == owner  # nothing left of the last owner
    finally:
        lock.release()
    RunLock(tmp_path / "a" / "b").release()  # the run directory is made when missing
    assert (tmp_path / "a" / "b" / ".lock").exists()
