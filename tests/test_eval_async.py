"""Evaluations in the background (``train.eval_async``): the same numbers as in the
training process, logged at the step whose weights were played, nothing lost or
doubled when a run stops or is resumed, and ``best.pt`` holding the weights that won."""

import csv
import multiprocessing
import signal
import subprocess
import sys

import gymnasium as gym
import psutil
import pytest
import torch

from robovision import factory, loop
from robovision.checkpoint import CheckpointError, load_checkpoint
from robovision.config import load_config
from robovision.evaluation import (
    EVAL_SEED_OFFSET,
    BackgroundEvaluator,
    EvaluatorError,
    evaluate,
    read_snapshot,
    snapshot,
)
from robovision.logging import read_metrics

SMALL = ["agent.hidden=32,32", "train.learning_starts=100", "train.batch_size=32",
         "train.eval_episodes=3", "train.log_every=100", "train.progress=false", "threads=1"]


def _cfg(*extra):
    return load_config("pendulum_sac", [*SMALL, *extra])


def _rows(run_dir):
    """Every metric row but its wall time, in the order written."""
    with (run_dir / "metrics.csv").open() as f:
        return [(r["step"], r["frames"], r["name"], r["value"]) for r in csv.DictReader(f)]


def _eval_rows(run_dir):
    return [row for row in _rows(run_dir) if row[2].startswith("eval/")]


# --------------------------------------------------------------------------- the setting


@pytest.mark.parametrize(("setting", "device", "background"), [
    ("auto", "cpu", False), ("auto", "cuda", True), (True, "cpu", True), (False, "cuda", False)])
def test_auto_evaluates_in_the_background_when_training_on_cuda(setting, device, background):
    cfg = _cfg(f"train.eval_async={str(setting).lower()}")
    assert cfg.train.evaluates_in_background(device) is background


# --------------------------------------------------------------------------- whole runs


STEPS = ["train.total_steps=400", "train.eval_every=200", "train.checkpoint_every=200"]
PPO = ["agent.hidden=32,32", "train.eval_episodes=3", "train.progress=false", "threads=1",
       "train.rollout_steps=128", "train.total_steps=1024", "train.eval_every=512",
       "train.checkpoint_every=512"]
"""Two rollouts of 4 envs x 128 steps, an evaluation after each."""


def _same_modules(saved, expected):
    """The module weights of two saved agents are equal (optimiser states aside)."""
    for name, part in expected.items():
        if isinstance(part, dict) and "state" not in part:
            for key, tensor in part.items():
                assert torch.equal(saved[name][key], tensor), (name, key)


@pytest.mark.parametrize("preset", ["pendulum_sac", "inverted_pendulum_ppo"])
def test_background_evaluations_give_the_numbers_of_the_training_process(tmp_path, preset):
    """The same run evaluated in the training process and in the background: the same
    rows (training untouched, evaluations equal), and ``best.pt`` with the same weights."""
    overrides = [*SMALL, *STEPS] if preset == "pendulum_sac" else PPO
    every = 200 if preset == "pendulum_sac" else 512
    here, background = tmp_path / "here", tmp_path / "background"
    loop.train(load_config(preset, [*overrides, "train.eval_async=false"]), here)
    loop.train(load_config(preset, [*overrides, "train.eval_async=true"]), background)

    assert sorted(_rows(background)) == sorted(_rows(here))  # written later, at its step
    assert [int(r[0]) for r in _eval_rows(background)
            if r[2] == "eval/return_mean"] == [every, 2 * every]  # the final one not twice
    best_here = load_checkpoint(here / "checkpoints" / "best.pt")
    best_background = load_checkpoint(background / "checkpoints" / "best.pt")
    assert best_background["counters"] == best_here["counters"]
    _same_modules(best_background["agent"], best_here["agent"])
    assert load_checkpoint(background / "checkpoints" / "latest.pt")["counters"][
        "eval_pending"] == -1  # the last checkpoint waited for the final evaluation


def test_a_run_stopped_with_its_evaluation_under_way_evaluates_it_once_on_resume(
        tmp_path, monkeypatch):
    """Stopped hard at step 300, after step 200's evaluation was logged, and resumed from
    the checkpoint of step 200, which was saved while that evaluation was under way: the
    resumed run drops the row the stopped one logged and evaluates the checkpoint's
    weights again, to the same numbers as a run never stopped."""
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    loop.train(_cfg(*STEPS, "train.eval_async=true"), whole)
    real_after_steps = loop.Run.after_steps

    class Killed(Exception):
        pass

    def after_steps(run, before, metrics):
        real_after_steps(run, before, metrics)
        if run.counters.step == 300:
            run.collect_evaluation(wait=True)  # step 200's evaluation reaches the CSV...
            raise Killed  # ...and the run dies before its next checkpoint

    monkeypatch.setattr(loop.Run, "after_steps", after_steps)
    with pytest.raises(Killed):
        loop.train(_cfg(*STEPS, "train.eval_async=true"), stopped)
    monkeypatch.setattr(loop.Run, "after_steps", real_after_steps)
    latest = load_checkpoint(stopped / "checkpoints" / "latest.pt")
    assert latest["counters"]["step"] == 200 and latest["counters"]["eval_pending"] == 200
    assert [r[0] for r in _eval_rows(stopped) if r[2] == "eval/return_mean"] == ["200"]
    assert not multiprocessing.active_children()  # the evaluator went with the run

    loop.train(_cfg(*STEPS, "train.eval_async=true"), stopped, resume=True)
    # The same rows at the same steps, step 200's evaluation once and with the same numbers
    # (a resumed env starts a new episode, so what follows step 200 may differ)
    assert sorted(r[:3] for r in _rows(stopped)) == sorted(r[:3] for r in _rows(whole))
    at_200 = [r for r in _eval_rows(whole) if r[0] == "200"]
    assert [r for r in _eval_rows(stopped) if r[0] == "200"] == at_200


def test_videos_of_background_evaluations_are_written_for_their_steps(tmp_path):
    cfg = load_config("pendulum_sac", [
        *SMALL, "env.spec=robovision/PointReach-v0", "train.video=true", "train.eval_episodes=1",
        "train.total_steps=300", "train.eval_every=100", "train.eval_async=true"])
    loop.train(cfg, tmp_path)
    assert read_metrics(tmp_path)["eval/return_mean"][0].tolist() == [100, 200, 300]
    videos = sorted(p.name for p in (tmp_path / "videos").glob("*.mp4"))
    assert videos == [f"eval_{step:09d}.mp4" for step in (100, 200, 300)]


# --------------------------------------------------------------------------- the run's side


class HeldEvaluator:
    """Stands in for the evaluator process: plays each snapshot at once in this process,
    but hands the result over only once the test releases it (``wait`` always does, as
    the real one blocks until its evaluation is done)."""

    def __init__(self, cfg, seed, **_):
        self.cfg, self.seed = cfg, seed
        self.env = factory.build_env(cfg, seed=seed, evaluation=True)
        self.pending, self.released, self.waited = None, False, []

    def submit(self, step, weights, record):
        assert self.pending is None
        agent = factory.build_agent(self.cfg, self.env.observation_space,
                                    self.env.action_space, torch.device("cpu"))
        agent.load_state_dict(read_snapshot(weights))
        self.result = evaluate(agent, self.env, self.cfg.train.eval_episodes, seed=self.seed)
        self.pending = step

    def check_started(self):
        return True

    def poll(self):
        return self.wait() if self.released and self.pending is not None else None

    def wait(self):
        if self.pending is None:
            return None
        self.waited.append(self.pending)
        step, self.pending = self.pending, None
        return step, self.result, None

    def close(self):
        self.env.close()


@pytest.fixture
def held_run(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "BackgroundEvaluator", HeldEvaluator)
    run = loop.Run(_cfg("train.total_steps=1000", "train.eval_async=true"), tmp_path)
    yield run
    run.close()


def _first_weight(agent):
    """The name and tensor of the actor's first parameter."""
    return next(iter(agent.actor.named_parameters()))


def test_a_background_evaluation_is_logged_at_its_step_with_the_weights_it_was_sent(held_run):
    run, evaluator = held_run, held_run.evaluator
    run.counters.step = 100
    assert run.evaluate() is None  # sent, not played here
    assert run.counters.eval_pending == 100
    name, weight = _first_weight(run.agent)
    sent = weight.detach().clone()
    with torch.no_grad():
        weight.add_(1.0)  # training goes on and changes the weights

    run.counters.step = 150
    run.after_steps(149, {})
    assert "eval/return_mean" not in read_metrics(run.run_dir)  # not done yet: not waited for

    evaluator.released = True
    run.counters.step = 151
    run.after_steps(150, {})
    steps, frames, values = read_metrics(run.run_dir)["eval/return_mean"]
    assert steps.tolist() == [100] and frames.tolist() == [100]
    mean = float(evaluator.result.returns.mean())
    assert values[0] == pytest.approx(mean, rel=1e-5)  # the CSV keeps 6 digits
    assert run.counters.eval_pending == -1 and run.counters.last_eval == mean
    best = load_checkpoint(run.ckpt_dir / "best.pt")
    assert best["counters"]["step"] == 100 and best["counters"]["eval_pending"] == -1
    assert best["counters"]["best_eval"] == mean
    assert torch.equal(best["agent"]["actor"][name], sent)


def test_one_background_evaluation_at_a_time(held_run):
    run, evaluator = held_run, held_run.evaluator
    run.counters.step = 100
    run.evaluate()
    run.counters.step = 200
    run.evaluate()  # waits for step 100's first
    assert evaluator.waited == [100] and evaluator.pending == 200
    assert read_metrics(run.run_dir)["eval/return_mean"][0].tolist() == [100]


def test_a_checkpoint_waits_only_for_an_earlier_steps_evaluation(held_run):
    run, evaluator = held_run, held_run.evaluator
    run.counters.step = 100
    run.evaluate()
    run.save()  # its own step's evaluation stays under way, and the checkpoint says so
    assert evaluator.waited == [] and evaluator.pending == 100
    assert load_checkpoint(run.latest)["counters"]["eval_pending"] == 100

    run.counters.step = 200
    run.save()  # step 100's evaluation is logged before a checkpoint of step 200
    assert evaluator.waited == [100]
    assert load_checkpoint(run.latest)["counters"]["eval_pending"] == -1
    assert read_metrics(run.run_dir)["eval/return_mean"][0].tolist() == [100]


# --------------------------------------------------------------------------- the process


def test_the_evaluator_process_plays_the_episodes_of_the_training_process(tmp_path):
    cfg = _cfg("train.total_steps=200", "train.eval_envs=2")
    seed = cfg.seed + EVAL_SEED_OFFSET
    env = factory.build_env(cfg, seed=seed, evaluation=True)
    agent = factory.build_agent(cfg, env.observation_space, env.action_space,
                                torch.device("cpu"))
    here = evaluate(agent, env, cfg.train.eval_episodes, seed=seed)
    env.close()
    evaluator = BackgroundEvaluator(cfg, seed=seed, threads=1)
    try:
        assert evaluator.poll() is None  # nothing sent
        assert evaluator.check_started() is False  # still building: said without waiting
        assert evaluator._connection.poll(120)  # built
        assert evaluator.check_started() is True
        evaluator.submit(7, snapshot(agent), record=False)
        assert evaluator.poll() is None  # under way: poll does not wait for it
        with pytest.raises(RuntimeError, match="step 7"):
            evaluator.submit(8, snapshot(agent), record=False)
        assert evaluator._connection.poll(120)  # done
        step, result, video_problem = evaluator.poll()  # collected without waiting
        assert step == 7 and video_problem is None and evaluator.pending is None
        torch.testing.assert_close(torch.as_tensor(result.returns), torch.as_tensor(here.returns))

        evaluator.submit(9, b"not a snapshot", record=False)
        with pytest.raises(EvaluatorError, match="evaluating step 9"):
            evaluator.wait()
    finally:
        evaluator.close()
    assert not multiprocessing.active_children()


def test_an_env_the_evaluator_cannot_build_stops_the_run_with_what_to_do(tmp_path):
    """An env registered in this process only (inside a script's main(), say): the
    evaluator's fresh process cannot make it."""
    gym.register(id="LocalOnlyPendulum-v1", max_episode_steps=200,
                 entry_point="gymnasium.envs.classic_control:PendulumEnv")
    try:
        cfg = _cfg("env.spec=LocalOnlyPendulum-v1", "train.total_steps=300",
                   "train.eval_every=100", "train.eval_async=true")
        with pytest.raises(EvaluatorError, match="registered when a module is imported") as err:
            loop.train(cfg, tmp_path)
        assert "train.eval_async=false" in str(err.value)
    finally:
        gym.registry.pop("LocalOnlyPendulum-v1")
    assert not multiprocessing.active_children()


# --------------------------------------------------------------------------- signals


def _start(run_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "robovision.cli", "train", "pendulum_sac", f"run_dir={run_dir}",
         *SMALL, "train.eval_episodes=5", "train.total_steps=100000", "train.eval_every=100",
         "train.eval_async=true", *extra], stderr=subprocess.PIPE)


def _evaluated(run_dir, count):
    """Whether ``count`` evaluations are in the run's CSV (a mean and a std row each)."""
    return (run_dir / "metrics.csv").exists() and len(_eval_rows(run_dir)) >= 2 * count


def test_ctrl_c_logs_the_evaluation_under_way_before_its_checkpoint(tmp_path, wait_for):
    proc = _start(tmp_path)
    wait_for(lambda: _evaluated(tmp_path, 2), 180, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    counters = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["counters"]
    assert counters["eval_pending"] == -1  # waited for, not left pending
    evaluated = read_metrics(tmp_path)["eval/return_mean"][0].tolist()
    assert evaluated == list(range(100, evaluated[-1] + 1, 100))  # none skipped at the end
    assert evaluated[-1] >= counters["step"] - 100


def test_a_killed_run_leaves_no_evaluator_behind(tmp_path, wait_for):
    proc = _start(tmp_path, "train.eval_envs=3", "train.eval_workers=true")
    wait_for(lambda: _evaluated(tmp_path, 1), 180, proc)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 3  # the evaluator and its two env workers (and a resource tracker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, [p.cmdline() for p in alive]


def test_a_run_that_fails_to_build_stops_its_evaluator(tmp_path):
    cfg = _cfg("train.total_steps=300", "train.eval_async=true")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        loop.Run(cfg, tmp_path, resume=True)  # the evaluator starts before the restore
    assert not multiprocessing.active_children()


def test_a_dead_evaluator_stops_the_run_with_a_checkpoint_to_resume_from(tmp_path, monkeypatch):
    """The evaluator dies (killed, as the OOM killer would) while it plays step 200: the
    run stops with the error and a checkpoint of the step it reached, and resumes."""
    cfg = _cfg("train.total_steps=400", "train.eval_every=200", "train.checkpoint_every=0",
               "train.eval_async=true")
    real_evaluate = loop.Run.evaluate

    def evaluate_then_die(run):
        real_evaluate(run)
        run.evaluator._process.kill()

    monkeypatch.setattr(loop.Run, "evaluate", evaluate_then_die)
    with pytest.raises(EvaluatorError, match="died while evaluating step 200"):
        loop.train(cfg, tmp_path)
    monkeypatch.setattr(loop.Run, "evaluate", real_evaluate)
    saved = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["counters"]
    assert 200 <= saved["step"] < 400 and saved["eval_pending"] in (-1, saved["step"])
    assert not multiprocessing.active_children()

    resumed = _cfg("train.total_steps=400", "train.eval_every=200", "train.checkpoint_every=0",
                   "train.eval_async=false")
    assert loop.train(resumed, tmp_path, resume=True).step == 400
    assert read_metrics(tmp_path)["eval/return_mean"][0].tolist()[-1] == 400


# --------------------------------------------------------------------------- small parts


@pytest.mark.parametrize(("cores", "threads"), [
    (None, 1), (1, 1), (7, 1), (8, 2), (12, 3), (16, 4), (64, 4)])
def test_the_evaluator_takes_a_quarter_of_the_cores_from_one_to_four(monkeypatch, cores,
                                                                      threads):
    from robovision import evaluation

    monkeypatch.setattr(evaluation.os, "cpu_count", lambda: cores)
    assert evaluation.evaluator_threads() == threads


def test_a_recorder_that_fails_once_stops_recording_and_keeps_why():
    from robovision.evaluation import _Recorder

    class Breaks:
        calls = 0

        def render(self):
            self.calls += 1
            if self.calls == 2:
                raise OSError("x" * 400)
            return self.calls

    env = Breaks()
    recorder = _Recorder(env)
    assert recorder() == 1 and recorder.problem is None
    assert recorder() is None and recorder.problem == f"OSError: {'x' * 300}"
    assert recorder() is None and env.calls == 2  # not asked again


class _Executes:
    """Anything pickle would rebuild by calling code: what weights_only refuses."""

    def __reduce__(self):
        return (print, ("a snapshot ran code",))


def test_a_snapshot_is_read_as_weights_only():
    import io

    data = io.BytesIO()
    torch.save({"actor": _Executes()}, data)
    with pytest.raises(Exception, match="Weights only load failed"):
        read_snapshot(data.getvalue())
