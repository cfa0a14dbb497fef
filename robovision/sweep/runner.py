"""Run a sweep's trials as Ray Tune trials, locally or on a Ray cluster.

Each trial is an ordinary ``robovision train`` run in ``SWEEP_DIR/<trial name>``
(config.yaml, metrics.csv, tb/, checkpoints/) plus ``trial.json``, its status
(``running``, ``finished``, ``stopped`` by the scheduler, ``interrupted`` by Ctrl-C,
or ``error`` with the message; ``train.log`` holds its output). Evaluations are reported to Tune, so
ASHA can stop the worse trials early.

Resuming (``robovision sweep --resume DIR``) needs nothing from Ray's own
experiment state, which a SIGKILLed driver may not have written: the sweep directory
holds the spec (``sweep.yaml``), the fixed trial list (``trials.yaml``) and each
trial's status and checkpoints. Finished and early-stopped trials are left alone;
every other trial is scheduled again and continues from its own latest checkpoint.

Ctrl-C (or SIGTERM) stops a sweep the way it stops ``robovision train``: the driver
writes ``SWEEP_DIR/stop-requested``, every running trial writes a checkpoint at its
next step and ends ``interrupted``, trials not started yet stay pending, and the driver
ends once no trial runs. A second Ctrl-C stops at once, losing what each trial did
since its last checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from robovision.config import ConfigError
from robovision.logging import EVAL_KEY, SUCCESS_KEY, last_logged, read_metrics
from robovision.sweep.spec import (
    SweepSpec,
    Trial,
    expand,
    load_spec,
    load_trials,
    save_trials,
    spec_to_dict,
)

SPEC_FILE = "sweep.yaml"
TRIALS_FILE = "trials.yaml"
STATUS_FILE = "trial.json"
LOG_FILE = "train.log"
DONE = ("finished", "stopped")
"""Statuses a resumed sweep leaves alone."""
STOP_FILE = "stop-requested"
"""In the sweep directory while the sweep is stopping (written at the driver's first
Ctrl-C); trials watch for it, so it reaches them on every node that mounts the directory."""
STOP_POLL_S = 0.5
PROGRESS_POLL_S = 2.0


# --------------------------------------------------------------------------- status


def read_status(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"status": "pending"}


def write_status(run_dir: Path, **fields: Any) -> None:
    """Update ``trial.json`` atomically (a kill mid-write leaves the old file)."""
    status = read_status(run_dir) | fields | {"updated": time.strftime("%Y-%m-%d %H:%M:%S")}
    path = Path(run_dir) / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=1))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- the trial


class _TuneReporter:
    """The run's observer inside a trial: its start in ``trial.json``, each evaluation
    to Tune, and the sweep's stop request to the run (a thread polls ``stop_file``, so
    the run checkpoints at its next step and ends as after Ctrl-C)."""

    def __init__(self, run_dir: Path, stop_file: Path) -> None:
        self.run_dir, self.stop_file = run_dir, stop_file
        self.evaluations = 0
        self.run = None
        self._closed = threading.Event()

    def started(self, run) -> None:
        self.run = run
        write_status(self.run_dir, status="running", started_at_step=run.counters.step,
                     pid=os.getpid())
        threading.Thread(target=self._watch_for_stop, name="robovision-sweep-stop",
                         daemon=True).start()

    def _watch_for_stop(self) -> None:
        while not self._closed.wait(STOP_POLL_S):
            if self.stop_file.exists():
                self.run.stop_requested = True
                return

    def close(self) -> None:
        self._closed.set()

    @property
    def stopped_by_sweep(self) -> bool:
        """Off the main thread no signal reaches the run: only the watcher asks it to stop."""
        return self.run is not None and self.run.stop_requested

    def evaluated(self, run, result, step: int) -> None:
        from ray import tune

        self.evaluations += 1
        metrics = {EVAL_KEY: float(result.returns.mean()), "steps": step,
                   "frames": step * run.action_repeat, "evaluations": self.evaluations}
        if result.success_rate is not None:
            metrics[SUCCESS_KEY] = result.success_rate
        tune.report(metrics)


def run_trial(config: dict[str, Any]) -> None:
    """The Tune trainable: train one trial in its run directory, resuming from its own
    checkpoint when an earlier attempt left one. Output goes to ``train.log``. While the
    sweep is stopping, a trial does not start, and a running one checkpoints and ends."""
    from robovision.loop import train

    trial = Trial(**config["trial"])
    sweep_dir = Path(config["sweep_dir"])
    run_dir = sweep_dir / trial.name
    if (sweep_dir / STOP_FILE).exists():
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = trial.config(run_dir)
    cfg.train.progress = False
    reporter = _TuneReporter(run_dir, sweep_dir / STOP_FILE)
    with (run_dir / LOG_FILE).open("a") as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        _wait_for_run_dir(run_dir)
        resume = (run_dir / "checkpoints" / "latest.pt").exists()
        print(f"robovision sweep: trial {trial.name} on {os.uname().nodename} "
              f"({'resuming' if resume else 'starting'})", flush=True)
        try:
            counters = train(cfg, run_dir, resume=resume, observer=reporter)
        except (KeyboardInterrupt, SystemExit):
            if reporter.stopped_by_sweep:  # the sweep's Ctrl-C: a checkpoint was written
                step = reporter.run.counters.step
                print(f"robovision sweep: stopped at step {step} with a checkpoint; "
                      f"robovision sweep --resume {sweep_dir} goes on from there", flush=True)
                write_status(run_dir, status="interrupted", step=step)
                return
            # Ray ended the trial another way (its actor stopped): no checkpoint now
            print("robovision sweep: interrupted; the trial resumes from its latest "
                  "checkpoint", flush=True)
            write_status(run_dir, status="interrupted")
            raise
        except BaseException as exc:
            traceback.print_exc(file=log)
            write_status(run_dir, status="error",
                         error=f"{type(exc).__name__}: {str(exc)[:500]}")
            raise
        finally:
            reporter.close()
    write_status(run_dir, status="finished", step=counters.step, last_eval=counters.last_eval)


def _wait_for_run_dir(run_dir: Path, timeout: float = 120.0) -> None:
    """Wait while another process holds the run directory: after a driver is SIGKILLed,
    its trial workers live on for a few seconds, and a resumed sweep can start sooner."""
    from robovision.lock import RunDirLocked, RunLock

    deadline, said = time.time() + timeout, False
    while True:
        try:
            RunLock(run_dir).release()
            return
        except RunDirLocked as exc:
            if time.time() > deadline:
                raise
            if not said:
                print(f"robovision sweep: waiting up to {timeout:.0f} s: {exc}", flush=True)
                said = True
            time.sleep(1.0)


# --------------------------------------------------------------------------- the driver


@dataclass
class Outcome:
    """How one trial ended, for the summary table."""

    name: str
    status: str
    steps: int
    frames: int
    final: float
    best: float
    success: float
    error: str
    log: str


def trial_resources(spec: SweepSpec, trial: Trial) -> dict[str, float]:
    """What Ray reserves for a trial: the spec's ``resources``, and one CPU more for each
    env the trial steps in a worker process (``train.env_worker``: ``env.num_envs`` of
    them), which is busy while the learner updates, and one for the evaluator of a trial
    that evaluates in the background (``train.eval_async``; ``auto`` does for a trial
    given a GPU), which plays its episodes on the CPU while the learner trains.
    Evaluation workers (``train.eval_workers``) reserve nothing: they idle between
    evaluations."""
    resources = dict(spec.resources)
    cfg = trial.config()
    if cfg.train.env_worker:
        resources["cpu"] = resources.get("cpu", 0) + cfg.env.num_envs
    on_gpu = resources.get("gpu", 0) > 0 and cfg.device != "cpu"
    if cfg.train.evaluates_in_background("cuda" if on_gpu else "cpu"):
        resources["cpu"] = resources.get("cpu", 0) + 1
    return {k: v for k, v in resources.items() if v > 0}


def _scheduler(spec: SweepSpec, trials: list[Trial], stopped: set[str]):
    if spec.scheduler.kind == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class RecordingASHA(ASHAScheduler):
        """ASHA that remembers whom it stopped: those trials are done, not interrupted."""

        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)
            if decision == TrialScheduler.STOP:
                stopped.add(trial.config["trial"]["name"])
            return decision

    sched = spec.scheduler
    max_t = sched.max_t or _largest_budget(trials, sched.time_attr)
    return RecordingASHA(time_attr=sched.time_attr, metric=spec.metric, mode=spec.mode,
                         max_t=max_t, grace_period=min(sched.grace_period, max_t),
                         reduction_factor=sched.reduction_factor)


def _largest_budget(trials: list[Trial], time_attr: str) -> int:
    budgets = []
    for trial in trials:
        train = trial.config().train
        if time_attr == "evaluations":
            budgets.append(train.total_steps // max(train.eval_every, 1) + 1)
        else:
            budgets.append(train.total_steps)
    return max(budgets)


class SweepProgress:
    """One bar over the sweep: trials' fractions of their budgets, with rate and ETA.
    Between evaluations (which trials report), the running trials' metrics.csv say how
    far they are. The hooks are Tune's ``Callback`` ones (``_progress_callback`` mixes
    that class in, so that Ray is imported only by a sweep)."""

    def __init__(self, trials: list[Trial], done: int, show: bool, sweep_dir: Path,
                 metric: str = EVAL_KEY, mode: str = "max") -> None:
        from tqdm import tqdm

        self.budgets = {t.name: (train.total_steps, train.unit)
                        for t in trials for train in [t.config().train]}
        self.sweep_dir, self.stop_file = sweep_dir, sweep_dir / STOP_FILE
        self.done, self.metric, self.mode = done, metric, mode
        self.polled = 0.0
        self.fraction: dict[str, float] = {}
        for name in self.budgets:  # where resumed trials go on from, so the rate is right
            logged = last_logged(sweep_dir / name)
            if logged is not None:
                self.fraction[name] = self._fraction(name, *logged)
        self.bar = tqdm(total=len(trials) + done, initial=done + sum(self.fraction.values()),
                        unit="trial", bar_format="{l_bar}{bar}| {n:.2f}/{total} trials "
                                                 "[{elapsed}<{remaining}{postfix}]",
                        disable=not show, dynamic_ncols=True)
        self.best = math.nan
        self.counts = {"done": 0, "failed": 0}

    def __getstate__(self) -> dict:  # Tune pickles its callbacks; the bar stays here
        return {k: v for k, v in self.__dict__.items() if k != "bar"}

    def _set(self, name: str, fraction: float) -> None:
        self.fraction[name] = fraction
        self.bar.n = min(self.bar.total, self.done + sum(self.fraction.values()))
        self.bar.refresh()

    def _fraction(self, name: str, steps: int, frames: int) -> float:
        total, unit = self.budgets[name]
        return min(1.0, (frames if unit == "frames" else steps) / total)

    def _reached(self, name: str, steps: int, frames: int) -> None:
        fraction = self._fraction(name, steps, frames)
        if fraction > self.fraction.get(name, 0.0):
            self._set(name, fraction)

    def _better(self, value: float) -> bool:
        return math.isnan(self.best) or (value > self.best if self.mode == "max"
                                         else value < self.best)

    def on_step_begin(self, iteration, trials, **info):
        if time.monotonic() - self.polled < PROGRESS_POLL_S:
            return
        self.polled = time.monotonic()
        for trial in trials:
            name = trial.config["trial"]["name"]
            if trial.status == "RUNNING" and name in self.budgets:
                logged = last_logged(self.sweep_dir / name)
                if logged is not None:
                    self._reached(name, *logged)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._reached(trial.config["trial"]["name"], result["steps"], result["frames"])
        if self.metric in result and self._better(result[self.metric]):
            self.best = result[self.metric]
        self._postfix(trials)

    def on_trial_complete(self, iteration, trials, trial, **info):
        if not self.stop_file.exists():  # else stopped, not done
            self._set(trial.config["trial"]["name"], 1.0)
            self.counts["done"] += 1
        self._postfix(trials)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._set(trial.config["trial"]["name"], 1.0)
        self.counts["failed"] += 1
        self._postfix(trials)

    def _postfix(self, trials) -> None:
        running = sum(t.status == "RUNNING" for t in trials)
        best = "-" if math.isnan(self.best) else f"{self.best:.3g}"
        self.bar.set_postfix_str(f"running {running}, done {self.counts['done']}, failed "
                                 f"{self.counts['failed']}, best {self.metric} {best}")

    def on_experiment_end(self, trials, **info):
        self.bar.close()


def _progress_callback(trials: list[Trial], done: int, show: bool, sweep_dir: Path,
                       metric: str = EVAL_KEY, mode: str = "max"):
    """The sweep's bar as a Tune callback."""
    from ray.tune import Callback

    class Progress(SweepProgress, Callback):
        pass

    return Progress(trials, done, show, sweep_dir, metric, mode)


def _quiet_tune_output():
    """Tune's per-trial printing, silenced (it would print "Trial ... completed" for a
    trial stopped before its first evaluation): the sweep's bar and summary say it all."""
    from ray.tune.progress_reporter import TrialProgressCallback

    class Quiet(TrialProgressCallback):
        def on_trial_result(self, *args, **kwargs):
            pass

        def on_trial_error(self, *args, **kwargs):
            pass

        def on_trial_complete(self, *args, **kwargs):
            pass

    return Quiet()


def _stop_when_no_trial_runs(stop_file: Path):
    """Tune's stopper and its callback: the experiment ends once the sweep is stopping
    and no trial runs any more, so running trials finish their checkpoints and pending
    ones are not started."""
    from ray.tune import Callback
    from ray.tune.stopper import Stopper

    class CountRunning(Callback):
        running = 0

        def on_step_begin(self, iteration, trials, **info):
            self.running = sum(t.status == "RUNNING" for t in trials)

    counter = CountRunning()

    class StopWhenIdle(Stopper):
        def __call__(self, trial_id, result) -> bool:
            return False

        def stop_all(self) -> bool:
            return counter.running == 0 and stop_file.exists()

    return StopWhenIdle(), counter


@contextlib.contextmanager
def _stop_gracefully_on_signals(stop_file: Path):
    """Ctrl-C or SIGTERM in the driver writes ``stop_file`` instead of letting Tune end
    the trials' actors (which loses what each trial did since its last checkpoint); a
    second one aborts at once. Ray's own processes ignore the terminal's SIGINT, and
    the trial workers run in process groups of their own, so only the driver sees it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        if stop_file.exists():
            raise KeyboardInterrupt
        stop_file.touch()
        print("\nrobovision: stopping the sweep: each running trial writes a checkpoint at "
              "its next step and stops; trials not started stay pending (Ctrl-C again to "
              "stop at once, losing what followed each trial's last checkpoint)",
              file=sys.stderr, flush=True)

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    tune_handler = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Tune's would stop every trial now
    for sig in signals:
        signal.signal(sig, request_stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if tune_handler is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = tune_handler


def _init_ray(spec: SweepSpec, address: str | None) -> bool:
    """Start local Ray (or join a cluster); True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    address = address or spec.ray.get("address") or os.environ.get("RAY_ADDRESS")
    env_vars = {k: os.environ[k] for k in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "ROBOVISION_DATA")
                if k in os.environ}
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "logging_level": logging.ERROR,
                               "runtime_env": {"env_vars": env_vars}}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=spec.ray.get("num_cpus"), num_gpus=spec.ray.get("num_gpus"),
                 **options)
    return True


def prepare(spec: SweepSpec, sweep_dir: Path) -> list[Trial]:
    """Write the spec and its trial list into a new sweep directory."""
    sweep_dir = Path(sweep_dir)
    if (sweep_dir / TRIALS_FILE).exists():
        raise ConfigError(f"{sweep_dir} already holds a sweep; resume it with robovision sweep "
                          f"--resume {sweep_dir}, or choose another directory")
    trials = expand(spec)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / SPEC_FILE).write_text(yaml.safe_dump(spec_to_dict(spec), sort_keys=False))
    save_trials(trials, sweep_dir / TRIALS_FILE)
    return trials


def reopen(sweep_dir: Path) -> tuple[SweepSpec, list[Trial]]:
    """The spec and trial list of an existing sweep directory."""
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / TRIALS_FILE).exists():
        raise ConfigError(f"{sweep_dir / TRIALS_FILE} not found: is {sweep_dir} a sweep "
                          "directory (written by robovision sweep or train with seeds)?")
    return load_spec(sweep_dir / SPEC_FILE), load_trials(sweep_dir / TRIALS_FILE)


def run_sweep(spec: SweepSpec, sweep_dir: Path, resume: bool = False,
              address: str | None = None, progress: bool = True) -> list[Outcome]:
    """Run (or, with ``resume``, go on with) a sweep; the outcome of every trial."""
    from ray import tune

    sweep_dir = Path(sweep_dir).resolve()
    if resume:
        spec, trials = reopen(sweep_dir)
    else:
        trials = prepare(spec, sweep_dir)
    pending = [t for t in trials if read_status(sweep_dir / t.name)["status"] not in DONE]
    if pending:
        # Tune's own tables and banners off (verbose=0 alone keeps the banner): the sweep
        # shows one progress bar and prints its summary at the end
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        # A trial stopped before its first evaluation ends without the metric; the spec
        # has checked the metric's name, so Tune's check would only fail such trials
        os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
        started = _init_ray(spec, address)
        stopped: set[str] = set()
        trainable = tune.with_resources(run_trial, lambda config: trial_resources(
            spec, Trial(**config["trial"])))
        attempt = 1 + sum(1 for _ in (sweep_dir / ".tune").glob("attempt_*"))
        stop_file = sweep_dir / STOP_FILE
        stop_file.unlink(missing_ok=True)  # left by a stopped attempt
        stopper, count_running = _stop_when_no_trial_runs(stop_file)
        tuner = tune.Tuner(
            trainable,
            param_space={"sweep_dir": str(sweep_dir),
                         "trial": tune.grid_search([asdict(t) for t in pending])},
            tune_config=tune.TuneConfig(
                metric=spec.metric, mode=spec.mode,
                scheduler=_scheduler(spec, pending, stopped),
                max_concurrent_trials=spec.max_concurrent or None,
                trial_dirname_creator=lambda t: t.config["trial"]["name"][:100]),
            run_config=tune.RunConfig(
                name=f"attempt_{attempt}", storage_path=str(sweep_dir / ".tune"), verbose=0,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                stop=stopper,
                callbacks=[count_running, _quiet_tune_output(),
                           _progress_callback(pending, len(trials) - len(pending), progress,
                                              sweep_dir, spec.metric, spec.mode)]))
        try:
            with _stop_gracefully_on_signals(stop_file):
                results = tuner.fit()
        finally:
            if started:
                import ray

                ray.shutdown()
            stop_file.unlink(missing_ok=True)
        for name in stopped:
            write_status(sweep_dir / name, status="stopped")
        _note_crashes(sweep_dir, results)
    outcomes = [outcome(sweep_dir, t) for t in trials]
    write_summary(outcomes, sweep_dir / "summary.csv")
    return outcomes


def _note_crashes(sweep_dir: Path, results) -> None:
    """A worker that died without a Python exception (killed, out of memory, a segfault)
    wrote no error status; take Tune's word for it."""
    for result in results:
        if result.error is None:
            continue
        name = result.config["trial"]["name"]
        if read_status(sweep_dir / name)["status"] not in ("error", "interrupted"):
            write_status(sweep_dir / name, status="error",
                         error=f"{type(result.error).__name__}: {str(result.error)[-500:]}")


def outcome(sweep_dir: Path, trial: Trial) -> Outcome:
    run_dir = Path(sweep_dir) / trial.name
    status = read_status(run_dir)
    steps = frames = 0
    final = best = success = math.nan
    if (run_dir / "metrics.csv").exists():
        metrics = read_metrics(run_dir)
        reached = [(int(s[-1]), int(f[-1])) for s, f, _ in metrics.values()]
        if reached:  # how far the trial got, evaluated or not
            steps, frames = max(reached)
        if EVAL_KEY in metrics:
            v = metrics[EVAL_KEY][2]
            final, best = float(v[-1]), float(v.max())
        if SUCCESS_KEY in metrics:
            success = float(metrics[SUCCESS_KEY][2][-1])
    return Outcome(trial.name, status["status"], steps, frames, final, best, success,
                   status.get("error", ""), str(run_dir / LOG_FILE))


def write_summary(outcomes: list[Outcome], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[field.name for field in fields(Outcome)])
        writer.writeheader()
        writer.writerows(asdict(o) for o in outcomes)


def best_of(outcomes: list[Outcome], mode: str = "max",
            metric: str = EVAL_KEY) -> Outcome | None:
    """The best finished or early-stopped trial by its last ``metric`` (the final
    evaluation return, or its success rate)."""
    def score(o: Outcome) -> float:
        return o.success if metric == SUCCESS_KEY else o.final

    scored = [o for o in outcomes if o.status in DONE and not math.isnan(score(o))]
    if not scored:
        return None
    return (max if mode == "max" else min)(scored, key=score)


def summary_table(outcomes: list[Outcome], mode: str = "max", metric: str = EVAL_KEY) -> str:
    """The trials as a text table, best first, failures last with their logs."""
    sign = -1 if mode == "max" else 1
    rows = sorted(outcomes, key=lambda o: (o.status == "error", math.isnan(o.final),
                                           sign * (0 if math.isnan(o.final) else o.final)))
    width = max([len(o.name) for o in rows] + [5])
    lines = [f"{'trial':<{width}}  {'status':<8}  {'steps':>9}  {'frames':>10}  "
             f"{'final eval':>10}  {'best eval':>10}  {'success':>7}"]
    for o in rows:
        success = "" if math.isnan(o.success) else f"{o.success:.0%}"
        lines.append(f"{o.name:<{width}}  {o.status:<8}  {o.steps:>9}  {o.frames:>10}  "
                     f"{o.final:>10.2f}  {o.best:>10.2f}  {success:>7}")
    for o in rows:
        if o.status == "error":
            lines.append(f"FAILED {o.name}: {o.error.splitlines()[-1] if o.error else '?'}\n"
                         f"  log: {o.log}")
    best = best_of(outcomes, mode, metric)
    if best is not None:
        lines.append(f"best trial by {metric} ({mode}): {best.name} (final eval "
                     f"{best.final:.2f}, success {best.success:.0%})" if metric == SUCCESS_KEY
                     else f"best trial: {best.name} (final eval {best.final:.2f})")
    return "\n".join(lines)


def print_summary(outcomes: list[Outcome], mode: str = "max", metric: str = EVAL_KEY) -> None:
    print(summary_table(outcomes, mode, metric), file=sys.stdout, flush=True)
