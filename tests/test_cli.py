"""The ``robovision`` command's own logic, with training, sweeps and checks replaced by
recorders: which run each command starts, with what, where, and the exit code and the
line a user reads. (tests/test_run.py runs the commands for real.)"""

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import robovision.checkenv
import robovision.factory
import robovision.logging
import robovision.loop
import robovision.sweep.aggregate
import robovision.sweep.runner
import robovision.sweep.spec
from robovision import cli
from robovision.checkenv import Finding
from robovision.config import ConfigError
from robovision.evaluation import Evaluation
from robovision.loop import Counters
from robovision.make import UnknownEnvError
from robovision.sweep.runner import Outcome, prepare


@pytest.fixture
def trained(monkeypatch):
    """Calls of ``loop.train``: (cfg, run_dir, kwargs); each returns fixed counters."""
    calls = []

    def train(cfg, run_dir, **kwargs):
        calls.append((cfg, Path(run_dir), kwargs))
        return Counters(step=300, last_eval=-123.45, best_eval=-99.0)

    monkeypatch.setattr(robovision.loop, "train", train)
    return calls


def test_train_runs_one_seed_in_its_run_dir_and_reports(trained, tmp_path, capsys):
    assert cli.main(["train", "pendulum_sac", f"run_dir={tmp_path}", "seeds=7"]) == 0
    [(cfg, run_dir, kwargs)] = trained
    assert (cfg.seed, cfg.seeds, run_dir, cfg.run_dir, kwargs) == (7, [], tmp_path,
                                                                   str(tmp_path), {})
    out = capsys.readouterr().out
    assert f"training sac on Pendulum-v1 (seed 7) -> {tmp_path}" in out
    assert "done: 300 steps, last eval return -123.5, best -99.0" in out


def test_a_run_without_a_directory_gets_one_under_runs_named_by_name_or_algo(trained, tmp_path,
                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "pendulum_sac"]) == 0  # a preset names its runs
    assert cli.main(["train", "pendulum_sac", "name=my_run"]) == 0
    assert cli.main(["train", "pendulum_sac", "name=", "algo=td3"]) == 0  # no name: the algo
    stamp = r"\d{8}-\d{6}"
    dirs = [str(run_dir) for _, run_dir, _ in trained]
    for run_dir, name in zip(dirs, ("pendulum_sac", "my_run", "td3"), strict=True):
        assert re.fullmatch(rf"runs/{name}/{stamp}", run_dir), run_dir


@pytest.fixture
def reported(monkeypatch):
    """Calls of ``cli._run_and_report``: (spec, sweep_dir, resume, address)."""
    calls = []
    monkeypatch.setattr(cli, "_run_and_report", lambda spec, sweep_dir, resume, address: (
        calls.append((spec, sweep_dir, resume, address)) or 0))
    return calls


@pytest.mark.parametrize(("device", "cuda", "gpu"), [
    ("cpu", True, 0.0), ("auto", False, 0.0), ("auto", True, 0.25), ("cuda", True, 0.25)])
def test_several_seeds_are_one_sweep_sharing_the_gpu(reported, trained, monkeypatch, tmp_path,
                                                     device, cuda, gpu):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert cli.main(["train", "pendulum_sac", "seeds=0,1,2,3", "seed=9", f"run_dir={tmp_path}",
                     "name=four", f"device={device}", "threads=3",
                     "train.total_steps=500"]) == 0
    [(spec, sweep_dir, resume, address)] = reported
    assert not trained and (sweep_dir, resume, address) == (tmp_path, False, None)
    assert spec.seeds == [0, 1, 2, 3] and spec.presets == ["pendulum_sac"]
    assert spec.name == "four"
    assert spec.overrides == {"device": device, "threads": "3", "train.total_steps": "500"}
    assert spec.resources == {"cpu": 3, "gpu": gpu}


def test_several_seeds_take_at_least_one_cpu_each(reported, tmp_path):
    assert cli.main(["train", "pendulum_sac", "seeds=0,1", f"run_dir={tmp_path}",
                     "threads=0"]) == 0
    assert reported[0][0].resources["cpu"] == 1


def test_sweep_starts_a_spec_in_its_dir_or_resumes_one(reported, tmp_path, monkeypatch):
    spec = tmp_path / "lr.yaml"
    spec.write_text("preset: pendulum_sac\nseeds: [0, 1]\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep", str(spec)]) == 0
    assert cli.main(["sweep", str(spec), "--dir", "here", "--address", "auto"]) == 0
    assert cli.main(["sweep", "--resume", "old"]) == 0
    (first, default_dir, resume, _), (_, here, resume_here, address), resumed = reported
    assert first.name == "lr" and re.fullmatch(r"runs/sweeps/lr/\d{8}-\d{6}", str(default_dir))
    assert (here, address, resume, resume_here) == (Path("here"), "auto", False, False)
    assert resumed == (None, Path("old"), True, None)
    with pytest.raises(SystemExit, match="give a spec"):
        cli.main(["sweep"])


def _outcome(status):
    return Outcome(name=f"t-{status}", status=status, steps=1, frames=1, final=0.0, best=0.0,
                   success=float("nan"), error="", log="")


@pytest.mark.parametrize(("statuses", "code"), [
    (["done", "done"], 0), (["done", "stopped"], 0), (["done", "error"], 1),
    (["error", "interrupted"], 130), (["done", "running"], 130), (["pending"], 130)])
def test_a_sweeps_exit_code_says_whether_it_is_complete_and_clean(monkeypatch, tmp_path, capsys,
                                                                  statuses, code):
    summaries = []
    monkeypatch.setattr(robovision.sweep.runner, "run_sweep",
                        lambda spec, sweep_dir, resume, address: [_outcome(s) for s in statuses])
    monkeypatch.setattr(robovision.sweep.runner, "print_summary",
                        lambda outcomes, mode, metric: summaries.append((mode, metric)))
    monkeypatch.setattr(robovision.sweep.aggregate, "aggregate_dirs",
                        lambda dirs, out: (out, out.with_suffix(".csv")))
    spec = robovision.sweep.spec.load_spec({"preset": "pendulum_sac", "mode": "min"})
    assert cli._run_and_report(spec, tmp_path, resume=False, address=None) == code
    out, err = capsys.readouterr()
    assert summaries == [("min", "eval/return_mean")]
    assert f"aggregates over seeds: {tmp_path / 'aggregate.png'}" in out
    assert ("sweep --resume" in err) == (code == 130)


def test_a_resumed_sweep_reports_by_the_metric_and_mode_of_its_own_spec(monkeypatch, tmp_path,
                                                                        capsys):
    prepare(robovision.sweep.spec.load_spec({"preset": "pendulum_sac", "mode": "min",
                                             "metric": "eval/success_rate"}), tmp_path)
    runs, summaries = [], []
    monkeypatch.setattr(robovision.sweep.runner, "run_sweep", lambda spec, sweep_dir, resume,
                        address: runs.append((spec, resume)) or [_outcome("done")])
    monkeypatch.setattr(robovision.sweep.runner, "print_summary",
                        lambda outcomes, mode, metric: summaries.append((mode, metric)))
    assert cli.main(["sweep", "--resume", str(tmp_path)]) == 0
    assert runs == [(None, True)] and summaries == [("min", "eval/success_rate")]
    assert f"robovision: resuming sweep -> {tmp_path}" in capsys.readouterr().out


def test_a_sweep_without_results_says_there_is_no_aggregate(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(robovision.sweep.runner, "run_sweep", lambda *a, **k: [_outcome("done")])
    monkeypatch.setattr(robovision.sweep.runner, "print_summary", lambda *a: None)

    def nothing(dirs, out):
        raise FileNotFoundError("no metrics.csv under it")

    monkeypatch.setattr(robovision.sweep.aggregate, "aggregate_dirs", nothing)
    spec = robovision.sweep.spec.load_spec({"preset": "pendulum_sac"})
    assert cli._run_and_report(spec, tmp_path, resume=False, address=None) == 0
    assert "robovision: no aggregate: no metrics.csv under it" in capsys.readouterr().err


def test_resume_goes_on_from_the_checkpoint_asked_with_the_overrides(trained, tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("algo: sac\nenv: {spec: Pendulum-v1}\n")
    assert cli.main(["resume", str(tmp_path), "train.total_steps=900",
                     "--checkpoint", "best"]) == 0
    [(cfg, run_dir, kwargs)] = trained
    assert (run_dir, cfg.run_dir, kwargs) == (tmp_path, str(tmp_path),
                                              {"resume": True, "checkpoint": "best"})
    assert cfg.train.total_steps == 900
    assert "done: 300 steps, last eval return -123.5" in capsys.readouterr().out


def test_resume_of_a_sweep_or_a_directory_without_config_says_what_to_do(trained, tmp_path):
    (tmp_path / "trials.yaml").write_text("[]\n")
    with pytest.raises(SystemExit, match=f"sweep --resume {re.escape(str(tmp_path))}"):
        cli.main(["resume", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"is .* a run directory"):
        cli.main(["resume", str(tmp_path / "nothing")])
    assert not trained


@pytest.fixture
def checked(monkeypatch):
    """``checkenv.check`` replaced: ``checked.calls`` holds (spec, kwargs) of each call,
    and each returns ``checked.findings``."""
    checked = SimpleNamespace(calls=[], findings=[Finding("ok", "frames", "fine")])

    def check(spec, **kwargs):
        checked.calls.append((spec, kwargs))
        return checked.findings

    monkeypatch.setattr(robovision.checkenv, "check", check)
    return checked


def test_check_env_passes_cameras_options_and_a_frame_source(checked, capsys):
    assert cli.main(["check-env", "mjcf:scene.xml", "reward=m:reward", "max_episode_steps=30",
                     "--camera", "front,wrist", "--frames", "folder:imgs", "--obs", "state",
                     "--image-size", "48", "--frame-stack", "2", "--seed", "4"]) == 0
    assert cli.main(["check-env", "dmc/cheetah-run", "--camera", "side"]) == 0
    (spec, options), (_, default) = checked.calls
    assert spec == "mjcf:scene.xml"
    assert options == {"obs": "state", "image_size": 48, "frame_stack": 2,
                       "camera": ["front", "wrist"], "seed": 4, "reward": "m:reward",
                       "max_episode_steps": 30, "frames": "folder:imgs"}
    assert default == {"obs": "pixels", "image_size": 84, "frame_stack": 3, "camera": "side",
                       "seed": 0}
    assert capsys.readouterr().out.count("ready to train") == 2


@pytest.mark.parametrize(("level", "code"), [("ok", 0), ("warn", 0), ("fail", 1)])
def test_check_env_fails_only_on_a_failed_check(checked, capsys, level, code):
    checked.findings = [Finding("ok", "a", "x"), Finding(level, "b", "y")]
    assert cli.main(["check-env", "Pendulum-v1"]) == code


def test_plot_draws_curves_of_runs_and_aggregates_of_sweeps(monkeypatch, tmp_path, capsys):
    curves, aggregates = [], []
    monkeypatch.setattr(robovision.logging, "plot_curves", lambda dirs, out, metric, x: (
        curves.append((dirs, out, metric, x)) or out))
    monkeypatch.setattr(robovision.sweep.aggregate, "aggregate_dirs",
                        lambda dirs, out, metric, reps: aggregates.append(
                            (dirs, out, metric, reps)) or (out, out.with_suffix(".csv")))
    run, sweep = tmp_path / "run", tmp_path / "sweep"
    run.mkdir(), sweep.mkdir()
    (sweep / "trials.yaml").write_text("[]\n")
    assert cli.main(["plot", str(run), "--x", "frames", "--metric", "eval/success_rate"]) == 0
    assert cli.main(["plot", str(run), str(sweep), "--reps", "50"]) == 0
    assert cli.main(["plot", str(run), "--rliable", "--out", str(tmp_path / "a.png")]) == 0
    assert curves == [([run], run / "curve.png", "eval/success_rate", "frames")]
    assert aggregates == [([run, sweep], run / "aggregate.png", "eval/return_mean", 50),
                          ([run], tmp_path / "a.png", "eval/return_mean", 2000)]
    assert capsys.readouterr().out.splitlines()[0] == str(run / "curve.png")


def test_eval_plays_the_checkpoint_asked_and_reports_spread_and_success(monkeypatch, tmp_path,
                                                                       capsys):
    (tmp_path / "config.yaml").write_text("algo: sac\nenv: {spec: Pendulum-v1}\n")
    built, closed, played = [], [], []
    env = SimpleNamespace(observation_space=None, action_space=None,
                          close=lambda: closed.append("env"))
    monkeypatch.setattr(robovision.factory, "build_eval_env",
                        lambda cfg, seed, record: built.append((seed, record)) or env)
    monkeypatch.setattr(robovision.factory, "build_extra_eval_envs",
                        lambda cfg, seed: built.append((cfg.train.eval_episodes, seed)) or [])
    monkeypatch.setattr(robovision.factory, "restore_agent",
                        lambda cfg, ckpt, obs, act, device: played.append((ckpt.name, device)))
    monkeypatch.setattr(robovision.loop, "evaluate", lambda agent, env, episodes, seed, record,
                        extra_envs: played.append((episodes, seed, record)) or Evaluation(
                            np.array([1.0, 2.0, 6.0]), [], np.array([1.0, 0.0, 1.0])))
    assert cli.main(["eval", str(tmp_path), "train.eval_envs=2"]) == 0
    assert built == [(12345, False), (10, 12345)] and closed == ["env"]
    assert played == [("best.pt", torch.device("cpu")), (10, 12345, False)]
    assert capsys.readouterr().out.strip() == (
        "Pendulum-v1 best.pt (train.eval_envs=2): return 3.00 +- 2.16 over 3 episodes "
        "(min 1.00, max 6.00), success 67%")
    played.clear()
    assert cli.main(["eval", str(tmp_path), "--checkpoint", "latest", "--episodes", "4",
                     "--seed", "3", "--device", "cpu"]) == 0
    assert played[0][0] == "latest.pt" and played[1] == (4, 3, False)


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main([])
    assert stopped.value.code == 2 and "required: command" in capsys.readouterr().err


def test_key_value_items_after_options_join_the_overrides_and_others_are_refused(capsys):
    args = cli._parse(cli.build_parser(), ["eval", "run", "--episodes", "5", "seed=1", "a.b=2"])
    assert (args.overrides, args.episodes) == (["seed=1", "a.b=2"], 5)
    args = cli._parse(cli.build_parser(), ["check-env", "Pendulum-v1", "--seed", "2", "x=1"])
    assert args.options == ["x=1"]
    with pytest.raises(SystemExit):
        cli._parse(cli.build_parser(), ["eval", "run", "--episodes", "5", "seed=1", "stray"])
    assert "unrecognized arguments: stray\n" in capsys.readouterr().err  # only the stray one
    for argv in (["eval", "run", "--episodes", "5", "stray"],
                 ["eval", "run", "--episodes", "5", "--nope=1"],
                 ["envs", "cheetah", "a=1"]):  # envs takes no key=value items
        with pytest.raises(SystemExit):
            cli._parse(cli.build_parser(), argv)
        assert "unrecognized arguments" in capsys.readouterr().err


def test_errors_a_user_can_fix_are_one_line_and_others_a_traceback(monkeypatch, capsys):
    def fails_with(exc):
        def command(args):
            raise exc
        return command

    def run(exc):
        monkeypatch.setattr(cli, "cmd_envs", fails_with(exc))
        return cli.main(["envs"])

    assert run(ConfigError("agent.lr: not a key")) == 2
    assert capsys.readouterr().err == "robovision: error: agent.lr: not a key\n"
    assert run(FileNotFoundError("no such run")) == 2
    assert run(MemoryError("replay too big")) == 2
    assert run(KeyboardInterrupt()) == 130
    with pytest.raises(ValueError, match="a bug"):
        run(ValueError("a bug"))


def test_a_user_error_class_is_looked_up_only_in_modules_already_imported(monkeypatch):
    assert cli.is_user_error(UnknownEnvError("x"))
    monkeypatch.delitem(sys.modules, "robovision.make")
    assert not cli.is_user_error(UnknownEnvError("x"))  # never imported: never raised
    assert not cli.is_user_error(RuntimeError("x"))
