"""The sweep runner's parts without Ray running: trial status files, a trial's run with
``loop.train`` replaced, the progress bar's arithmetic, outcomes read from run
directories, the summary, the stop machinery and the sweep directory's files.
(tests/test_sweep.py runs whole sweeps on a local Ray.)"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import robovision.loop
from robovision.config import ConfigError
from robovision.evaluation import Evaluation
from robovision.lock import RunDirLocked, RunLock
from robovision.logging import RunLogger
from robovision.loop import Counters
from robovision.sweep import runner
from robovision.sweep.runner import Outcome
from robovision.sweep.spec import expand, load_spec

NAN = math.nan


def _trials(**spec):
    return expand(load_spec({"preset": "pendulum_sac", **spec}))


# --------------------------------------------------------------------------- status


def test_a_trial_without_a_readable_status_is_pending(tmp_path):
    assert runner.read_status(tmp_path / "never") == {"status": "pending"}
    (tmp_path / runner.STATUS_FILE).write_text('{"status": "runn')  # cut mid-write
    assert runner.read_status(tmp_path) == {"status": "pending"}


def test_writing_a_status_keeps_the_fields_it_does_not_change(tmp_path):
    run_dir = tmp_path / "trial"
    runner.write_status(run_dir, status="running", pid=12)
    runner.write_status(run_dir, status="finished", step=300)
    status = runner.read_status(run_dir)
    assert {k: status[k] for k in ("status", "pid", "step")} == {"status": "finished",
                                                                  "pid": 12, "step": 300}
    assert time.strptime(status["updated"], "%Y-%m-%d %H:%M:%S")
    assert [p.name for p in run_dir.iterdir()] == [runner.STATUS_FILE]  # no temporary left


# --------------------------------------------------------------------------- a trial


@pytest.fixture
def sweep(tmp_path):
    """A sweep directory and its one trial's config as Tune hands it over."""
    (trial,) = _trials(overrides={"train.total_steps": 500})
    return SimpleNamespace(dir=tmp_path, trial=trial, run_dir=tmp_path / trial.name,
                           config={"trial": asdict(trial), "sweep_dir": str(tmp_path)})


def _fake_train(monkeypatch, body):
    """``loop.train`` replaced by ``body(cfg, run_dir, resume, observer, run)``, where
    ``run`` stands for the training run the observer is told about."""
    calls = []

    def train(cfg, run_dir, resume=False, observer=None):
        run = SimpleNamespace(counters=Counters(step=42), stop_requested=False, action_repeat=2)
        observer.started(run)
        calls.append((cfg, run_dir, resume))
        return body(cfg, run_dir, resume, observer, run)

    monkeypatch.setattr(robovision.loop, "train", train)
    return calls


def test_a_trial_trains_in_its_run_dir_and_resumes_from_its_checkpoint(sweep, monkeypatch):
    calls = _fake_train(monkeypatch, lambda *a: Counters(step=500, last_eval=-7.5))
    runner.run_trial(sweep.config)
    status = runner.read_status(sweep.run_dir)
    assert (status["status"], status["step"], status["last_eval"]) == ("finished", 500, -7.5)
    assert status["started_at_step"] == 42 and status["pid"] == os.getpid()
    (sweep.run_dir / "checkpoints").mkdir()
    (sweep.run_dir / "checkpoints" / "latest.pt").write_bytes(b"")
    runner.run_trial(sweep.config)
    (cfg, run_dir, resume), (_, _, resumed) = calls
    assert (run_dir, cfg.run_dir, cfg.seed) == (sweep.run_dir, str(sweep.run_dir), 0)
    assert cfg.train.progress is False and cfg.train.total_steps == 500
    assert (resume, resumed) == (False, True)
    log = (sweep.run_dir / runner.LOG_FILE).read_text()
    assert f"trial {sweep.trial.name} on " in log
    assert log.index("(starting)") < log.index("(resuming)")


def test_no_trial_starts_while_the_sweep_is_stopping(sweep, monkeypatch):
    calls = _fake_train(monkeypatch, lambda *a: Counters())
    (sweep.dir / runner.STOP_FILE).touch()
    runner.run_trial(sweep.config)
    assert not calls and not sweep.run_dir.exists()


def test_a_failing_trial_writes_its_error_and_traceback_and_raises(sweep, monkeypatch):
    def fails(*args):
        raise ValueError("x" * 600)

    _fake_train(monkeypatch, fails)
    with pytest.raises(ValueError):
        runner.run_trial(sweep.config)
    status = runner.read_status(sweep.run_dir)
    assert status["status"] == "error" and status["error"] == f"ValueError: {'x' * 500}"
    assert "Traceback" in (sweep.run_dir / runner.LOG_FILE).read_text()


def test_a_trial_the_sweep_stops_ends_interrupted_at_its_checkpoint(sweep, monkeypatch):
    """The stop file reaches the run through the watcher; the run stops as after Ctrl-C."""
    def stopped_by_the_watcher(cfg, run_dir, resume, observer, run):
        (sweep.dir / runner.STOP_FILE).touch()
        deadline = time.monotonic() + 10
        while not run.stop_requested and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.stop_requested, "the watcher did not pass the stop on"
        raise KeyboardInterrupt

    _fake_train(monkeypatch, stopped_by_the_watcher)
    runner.run_trial(sweep.config)  # not raised: the trial ended as asked
    status = runner.read_status(sweep.run_dir)
    assert (status["status"], status["step"]) == ("interrupted", 42)
    log = (sweep.run_dir / runner.LOG_FILE).read_text()
    assert f"stopped at step 42 with a checkpoint; robovision sweep --resume {sweep.dir}" in log
    assert not any(t.name == "robovision-sweep-stop" for t in threading.enumerate())


@pytest.mark.parametrize("ended_by", [KeyboardInterrupt, SystemExit])
def test_a_trial_ray_ends_is_interrupted_and_raises(sweep, monkeypatch, ended_by):
    def ended(*args):
        raise ended_by

    _fake_train(monkeypatch, ended)
    with pytest.raises(ended_by):
        runner.run_trial(sweep.config)
    status = runner.read_status(sweep.run_dir)
    assert status["status"] == "interrupted" and "step" not in status
    assert "resumes from its latest checkpoint" in (sweep.run_dir / runner.LOG_FILE).read_text()


def test_each_evaluation_is_reported_to_tune_with_its_units(monkeypatch, tmp_path):
    import ray.tune

    reported = []
    monkeypatch.setattr(ray.tune, "report", reported.append)
    reporter = runner._TuneReporter(tmp_path, tmp_path / runner.STOP_FILE)
    run = SimpleNamespace(action_repeat=4)
    reporter.evaluated(run, Evaluation(np.array([1.0, 3.0]), [], None), step=100)
    reporter.evaluated(run, Evaluation(np.array([5.0]), [], np.array([1.0, 0.0])), step=250)
    assert reported == [
        {"eval/return_mean": 2.0, "steps": 100, "frames": 400, "evaluations": 1},
        {"eval/return_mean": 5.0, "steps": 250, "frames": 1000, "evaluations": 2,
         "eval/success_rate": 0.5}]
    assert not reporter.stopped_by_sweep  # never started


# --------------------------------------------------------------------------- budgets and bar


def test_asha_counts_evaluations_as_the_trials_budgets_allow():
    trials = _trials(search={"train.total_steps": {"grid": [1000, 2500]}},
                     overrides={"train.eval_every": 500})
    assert runner._largest_budget(trials, "steps") == 2500
    assert runner._largest_budget(trials, "evaluations") == 2500 // 500 + 1
    never = _trials(overrides={"train.total_steps": 300, "train.eval_every": 0})
    assert runner._largest_budget(never, "evaluations") == 301


def _tune_trial(trial, status="RUNNING"):
    return SimpleNamespace(config={"trial": asdict(trial)}, status=status)


@pytest.fixture
def progress(tmp_path):
    """The sweep bar over two trials (1000 agent steps, and 4000 frames), one done."""
    trials = _trials(search={"train.unit": {"grid": ["steps", "frames"]}},
                     overrides={"train.total_steps": 1000})
    trials[1].overrides["train.total_steps"] = 4000
    bar = runner.SweepProgress(trials, 1, False, tmp_path, mode="min")
    return SimpleNamespace(bar=bar, trials=trials, dir=tmp_path,
                           tune=[_tune_trial(t) for t in trials])


def test_the_bar_counts_each_trial_in_its_own_unit_and_never_goes_back(progress):
    bar, (steps_trial, frames_trial) = progress.bar, progress.tune
    assert bar.bar.total == 3 and bar.bar.n == 1
    assert bar.bar.disable  # show=False
    state = bar.__getstate__()  # what Tune pickles: everything but the bar
    assert "bar" not in state and state["budgets"] == bar.budgets
    bar.on_trial_result(0, progress.tune, steps_trial, {"steps": 250, "frames": 1000})
    bar.on_trial_result(0, progress.tune, frames_trial, {"steps": 250, "frames": 1000})
    assert bar.bar.n == pytest.approx(1 + 0.25 + 0.25)
    bar.on_trial_result(0, progress.tune, steps_trial, {"steps": 100, "frames": 400})
    assert bar.bar.n == pytest.approx(1.5)  # an earlier report does not move it back
    bar.on_trial_result(0, progress.tune, frames_trial, {"steps": 9000, "frames": 36000})
    assert bar.fraction[progress.trials[1].name] == 1.0  # never more than the whole trial


def test_the_bar_keeps_the_best_by_the_specs_mode_and_counts_endings(progress):
    bar, tune_trials = progress.bar, progress.tune
    for value in (5.0, 2.0, 3.0):
        bar.on_trial_result(0, tune_trials, tune_trials[0],
                            {"steps": 10, "frames": 10, "eval/return_mean": value})
    assert bar.best == 2.0  # mode min
    bar.on_trial_result(0, tune_trials, tune_trials[0], {"steps": 10, "frames": 10})
    assert bar.best == 2.0  # a result without the metric changes nothing
    bar.on_trial_error(0, tune_trials, tune_trials[1])
    assert bar.fraction[progress.trials[1].name] == 1.0  # a failed trial is over
    bar.on_trial_complete(0, tune_trials, tune_trials[0])
    assert bar.fraction[progress.trials[0].name] == 1.0
    assert bar.counts == {"done": 1, "failed": 1} and bar.bar.n == pytest.approx(3)
    assert bar.bar.postfix == "running 2, done 1, failed 1, best eval/return_mean 2"
    tune_trials[1].status = "ERROR"
    bar.on_trial_result(0, tune_trials, tune_trials[0], {"steps": 10, "frames": 10})
    assert bar.bar.postfix.startswith("running 1, ")


def test_a_trial_that_completes_while_the_sweep_stops_is_not_done(progress):
    (progress.dir / runner.STOP_FILE).touch()
    progress.bar.on_trial_complete(0, progress.tune, progress.tune[0])
    assert progress.bar.counts["done"] == 0 and progress.bar.bar.n == 1


def test_the_bar_reads_running_trials_csvs_at_most_every_poll_interval(progress, monkeypatch):
    run_dir = progress.dir / progress.trials[0].name
    run_dir.mkdir()
    logger = RunLogger(run_dir, 0, 1000, progress=False, tensorboard=False)
    logger.log(500, 500, {"train/loss": 1.0})
    logger.close()
    clock = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    progress.tune[0].status = "PENDING"
    progress.bar.on_step_begin(0, progress.tune)
    assert progress.bar.bar.n == 1  # not running: not read
    progress.tune[0].status = "RUNNING"
    clock[0] += runner.PROGRESS_POLL_S / 2
    progress.bar.on_step_begin(0, progress.tune)
    assert progress.bar.bar.n == 1  # too soon after the last poll
    clock[0] += runner.PROGRESS_POLL_S / 2  # a whole interval since the last poll
    progress.bar.on_step_begin(0, progress.tune)
    assert progress.bar.bar.n == pytest.approx(1.5)


# --------------------------------------------------------------------------- outcomes


def _metrics(run_dir: Path, rows):
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "metrics.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "frames", "wall_time", "name", "value"])
        writer.writerows([step, frames, 0.0, name, value] for step, frames, name, value in rows)


def test_an_outcome_says_how_far_a_trial_got_and_what_it_reached(tmp_path):
    trial = _trials()[0]
    run_dir = tmp_path / trial.name
    _metrics(run_dir, [(100, 200, "eval/return_mean", 5.0), (100, 200, "eval/success_rate", 0.4),
                       (200, 400, "eval/return_mean", 9.0), (200, 400, "eval/success_rate", 0.6),
                       (300, 600, "eval/return_mean", 7.0), (300, 600, "eval/success_rate", 0.2),
                       (350, 700, "train/loss", 1.0)])
    runner.write_status(run_dir, status="error", error="ValueError: bad")
    assert runner.outcome(tmp_path, trial) == Outcome(
        trial.name, "error", 350, 700, 7.0, 9.0, 0.2, "ValueError: bad",
        str(run_dir / runner.LOG_FILE))
    empty = runner.outcome(tmp_path, _trials(seeds=[5])[0])
    assert (empty.status, empty.steps, empty.frames, empty.error) == ("pending", 0, 0, "")
    assert all(math.isnan(x) for x in (empty.final, empty.best, empty.success))


def test_the_summary_csv_has_a_column_per_outcome_field(tmp_path):
    outcomes = [Outcome("a", "finished", 1, 2, 3.0, 4.0, NAN, "", "a.log"),
                Outcome("b", "error", 0, 0, NAN, NAN, NAN, "E: x", "b.log")]
    runner.write_summary(outcomes, tmp_path / "summary.csv")
    with (tmp_path / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [field.name for field in fields(Outcome)]
    assert [(r["name"], r["status"], r["frames"], r["final"], r["error"]) for r in rows] == [
        ("a", "finished", "2", "3.0", ""), ("b", "error", "0", "nan", "E: x")]


def test_the_best_trial_is_a_finished_or_stopped_one_with_a_score():
    outcomes = [Outcome("running", "running", 1, 1, 99.0, 99.0, 1.0, "", ""),
                Outcome("unscored", "finished", 1, 1, NAN, NAN, NAN, "", ""),
                Outcome("low", "stopped", 1, 1, -3.0, 1.0, 0.1, "", ""),
                Outcome("high", "finished", 1, 1, 4.0, 4.0, NAN, "", "")]
    assert runner.best_of(outcomes).name == "high"
    assert runner.best_of(outcomes, "min").name == "low"
    assert runner.best_of(outcomes, metric="eval/success_rate").name == "low"  # high: no success
    assert runner.best_of(outcomes[:2]) is None


def test_the_summary_table_sorts_best_first_by_mode_then_unscored_then_failures():
    outcomes = [Outcome("failed", "error", 0, 0, NAN, NAN, NAN, "", "f.log"),
                Outcome("unscored", "pending", 0, 0, NAN, NAN, NAN, "", ""),
                Outcome("low", "finished", 10, 40, -3.0, 1.0, 0.25, "", ""),
                Outcome("high", "finished", 10, 40, 4.0, 4.0, NAN, "", "")]
    table = runner.summary_table(outcomes, mode="min").splitlines()
    assert [line.split()[0] for line in table[1:5]] == ["low", "high", "unscored", "failed"]
    assert table[0].split() == ["trial", "status", "steps", "frames", "final", "eval", "best",
                                "eval", "success"]
    assert table[1].split() == ["low", "finished", "10", "40", "-3.00", "1.00", "25%"]
    assert table[5:] == ["FAILED failed: ?", "  log: f.log", "best trial: low (final eval -3.00)"]
    by_success = runner.summary_table(outcomes, metric="eval/success_rate").splitlines()[-1]
    assert by_success == ("best trial by eval/success_rate (max): low (final eval -3.00, "
                          "success 25%)")
    assert runner.summary_table(outcomes, mode="max").splitlines()[1].startswith("high ")
    assert table[1].index("finished") == table[0].index("status")  # columns line up
    short = runner.summary_table([Outcome("a", "finished", 1, 1, 1.0, 1.0, NAN, "", "")])
    assert short.splitlines()[0].startswith("trial  status  ")  # at least "trial" wide
    assert short.splitlines()[1].startswith("a      finished  ")


# --------------------------------------------------------------------------- stopping


def test_the_sweep_ends_only_when_stopping_and_no_trial_runs(tmp_path):
    stop_file = tmp_path / runner.STOP_FILE
    stopper, counter = runner._stop_when_no_trial_runs(stop_file)
    stop_file.touch()
    assert stopper.stop_all()  # stopping before any trial ran
    stop_file.unlink()
    running = [SimpleNamespace(status="RUNNING"), SimpleNamespace(status="PENDING")]
    counter.on_step_begin(0, running)
    assert not stopper.stop_all() and not stopper("trial", {})
    stop_file.touch()
    assert not stopper.stop_all()  # a trial still writes its checkpoint
    running[0].status = "TERMINATED"
    counter.on_step_begin(0, running)
    assert stopper.stop_all()


def test_ctrl_c_in_the_driver_asks_the_trials_to_stop_and_a_second_aborts(tmp_path, capsys,
                                                                          monkeypatch):
    stop_file = tmp_path / runner.STOP_FILE
    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "0")
    before = signal.getsignal(signal.SIGTERM)
    with runner._stop_gracefully_on_signals(stop_file):
        assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1"
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        assert stop_file.exists()
        assert "each running trial writes a checkpoint" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "0"
    assert signal.getsignal(signal.SIGTERM) is before
    monkeypatch.delenv("TUNE_DISABLE_SIGINT_HANDLER")
    with runner._stop_gracefully_on_signals(stop_file):
        pass
    assert "TUNE_DISABLE_SIGINT_HANDLER" not in os.environ


def test_off_the_main_thread_the_signals_are_left_alone(tmp_path):
    seen = []

    def in_thread():
        with runner._stop_gracefully_on_signals(tmp_path / runner.STOP_FILE):
            seen.append(os.environ.get("TUNE_DISABLE_SIGINT_HANDLER"))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")]
    assert signal.getsignal(signal.SIGINT) is before


# --------------------------------------------------------------------------- the directory


def test_a_sweep_directory_keeps_its_spec_and_trials_and_is_not_overwritten(tmp_path):
    spec = load_spec({"name": "lr", "preset": "pendulum_sac", "seeds": [0, 1],
                      "search": {"agent.tau": {"grid": [0.01, 0.02]}}})
    trials = runner.prepare(spec, tmp_path / "sweep")
    assert len(trials) == 4
    reopened_spec, reopened = runner.reopen(tmp_path / "sweep")
    assert reopened == trials and reopened_spec.name == "lr"
    assert reopened_spec.search == spec.search
    with pytest.raises(ConfigError, match="already holds a sweep; resume it"):
        runner.prepare(spec, tmp_path / "sweep")
    with pytest.raises(ConfigError, match=r"is .* a sweep directory"):
        runner.reopen(tmp_path)


def test_a_worker_that_died_without_an_error_status_is_marked_failed(tmp_path):
    def result(name, error):
        return SimpleNamespace(config={"trial": {"name": name}}, error=error)

    runner.write_status(tmp_path / "interrupted", status="interrupted")
    runner.write_status(tmp_path / "failed", status="error", error="ValueError: own")
    runner.write_status(tmp_path / "killed", status="running")
    runner._note_crashes(tmp_path, [result("fine", None), result("interrupted", OSError("x")),
                                    result("failed", OSError("y")),
                                    result("killed", RuntimeError("z" * 600))])
    assert not (tmp_path / "fine").exists()
    assert runner.read_status(tmp_path / "interrupted")["status"] == "interrupted"
    assert runner.read_status(tmp_path / "failed")["error"] == "ValueError: own"
    killed = runner.read_status(tmp_path / "killed")
    assert (killed["status"], killed["error"]) == ("error", f"RuntimeError: {'z' * 500}")


def test_status_files_are_json(tmp_path):
    runner.write_status(tmp_path, status="running")
    assert json.loads((tmp_path / runner.STATUS_FILE).read_text())["status"] == "running"


def test_a_trial_waits_for_its_run_dir_to_be_free_and_says_so_once(tmp_path, capsys):
    held = RunLock(tmp_path)  # an orphaned worker of a killed driver, still training
    threading.Timer(2.5, held.release).start()
    start = time.monotonic()
    runner._wait_for_run_dir(tmp_path, timeout=30)
    assert 2.0 <= time.monotonic() - start < 15
    assert capsys.readouterr().out.count("robovision sweep: waiting up to 30 s: ") == 1


def test_a_trial_gives_up_on_a_run_dir_held_past_its_timeout(tmp_path):
    held = RunLock(tmp_path)
    try:
        start = time.monotonic()
        with pytest.raises(RunDirLocked):
            runner._wait_for_run_dir(tmp_path, timeout=1.5)
        assert time.monotonic() - start >= 1.5
    finally:
        held.release()
