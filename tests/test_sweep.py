"""Sweeps: specs checked before Ray starts, trials on local Ray Tune, failures kept to
their trial, resume after the driver is killed, and aggregates over seeds and tasks."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from robovision.checkpoint import load_checkpoint
from robovision.cli import main
from robovision.config import ConfigError
from robovision.sweep import aggregate as agg
from robovision.sweep.runner import _wait_for_run_dir
from robovision.sweep.spec import expand, load_spec

# Under pytest-xdist every test here runs in one worker, one Ray cluster at a time
pytestmark = pytest.mark.xdist_group("ray")

TINY = {"train.total_steps": 300, "train.learning_starts": 100, "train.batch_size": 32,
        "agent.hidden": [32, 32], "train.eval_episodes": 1, "train.eval_every": 150,
        "train.log_every": 50, "train.checkpoint_every": 150}


def _spec(tmp_path: Path, **fields) -> Path:
    data = {"preset": "pendulum_sac", "overrides": TINY, "resources": {"cpu": 1},
            "ray": {"num_cpus": 2}} | fields
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _sweep(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robovision.cli", "sweep", *args],
                          capture_output=True, text=True, timeout=timeout)


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "trial.json").read_text())


# --------------------------------------------------------------------------- specs


@pytest.mark.parametrize("search, named", [
    ({"agent.lr": {"grid": [1e-3]}}, "unknown config key 'agent.lr'"),
    ({"agent.actor_lr": {"grid": []}}, "search.agent.actor_lr.grid: the search space is empty"),
    ({"agent.actor_lr": {"choice": []}}, "search.agent.actor_lr.choice: the search space"),
    ({"agent.actor_lr": {"loguniform": [1e-3]}}, "search.agent.actor_lr.loguniform: expected"),
    ({"agent.actor_lr": {"loguniform": [0, 1e-3]}}, "low must be > 0"),
    ({"agent.tau": {"uniform": [0.1, 0.01]}}, "search.agent.tau.uniform: low must be below"),
    ({"train.batch_size": {"randint": [16.5, 64]}}, "expected integer bounds"),
    ({"agent.tau": {"normal": [0, 1]}}, "search.agent.tau: unknown space 'normal'"),
    ({"agent.actor_lr": {"grid": ["fast"]}}, "agent.actor_lr: expected float, got 'fast'"),
    ({"seed": {"grid": [1, 2]}}, "seed: a sweep sets it per trial"),
])
def test_a_bad_spec_stops_before_ray_starts_naming_the_key(tmp_path, monkeypatch, capsys,
                                                           search, named):
    from robovision.sweep import runner

    monkeypatch.setattr(runner, "_init_ray", lambda *a: pytest.fail("Ray started"))
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_spec({"preset": "pendulum_sac", "search": search})
    assert main(["sweep", str(_spec(tmp_path, search=search)), "--dir",
                 str(tmp_path / "s")]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_unknown_sweep_keys_and_samples_without_random_keys_are_named():
    with pytest.raises(ConfigError, match=r"unknown sweep key 'serch'\. Did you mean search"):
        load_spec({"preset": "pendulum_sac", "serch": {}})
    with pytest.raises(ConfigError, match="samples: 3 draws need a random key"):
        load_spec({"preset": "pendulum_sac", "samples": 3,
                   "search": {"agent.tau": {"grid": [0.01, 0.02]}}})
    with pytest.raises(ConfigError, match="unknown preset 'pendulum_sacc'"):
        load_spec({"preset": "pendulum_sacc"})
    with pytest.raises(ConfigError, match="scheduler: unknown scheduler 'hyperband'"):
        load_spec({"preset": "pendulum_sac", "scheduler": {"hyperband": {}}})
    with pytest.raises(ConfigError, match="metric: 'eval/return' is not reported to Tune; "
                                          "choose eval/return_mean or eval/success_rate"):
        load_spec({"preset": "pendulum_sac", "metric": "eval/return"})


@pytest.mark.parametrize(("fields", "named"), [
    ({"preset": []}, "preset: expected a preset name or a non-empty list, got []"),
    ({"preset": 5}, "preset: expected a preset name or a non-empty list, got 5"),
    ({"preset": ["pendulum_sac", 3]}, "preset: expected a preset name or a non-empty list"),
    ({"seeds": []}, "seeds: expected a non-empty list of integers, got []"),
    ({"seeds": "0,1"}, "seeds: expected a non-empty list of integers, got '0,1'"),
    ({"seeds": ["1"]}, "seeds[0]: expected an integer, got '1'"),
    ({"seeds": [0, True]}, "seeds[1]: expected an integer, got True"),
    ({"max_concurrent": "2"}, "max_concurrent: expected an integer, got '2'"),
    ({"samples": 0}, "samples: must be >= 1, got 0"),
    ({"samples": 2, "search": {"agent.tau": {"grid": [0.01, 0.02]}}},
     "samples: 2 draws need a random key"),
    ({"search": {"agent.tau": 0.01}}, "search.agent.tau: expected one of the forms"),
    ({"search": {"agent.tau": {"grid": [0.01], "choice": [0.02]}}},
     "search.agent.tau: expected one of the forms"),
    ({"search": {"agent.tau": {"uniform": [0.1, 0.1]}}},
     "search.agent.tau.uniform: low must be below high"),
    ({"search": {"agent.tau": {"uniform": ["low", 0.1]}}},
     "search.agent.tau.uniform: expected a number, got 'low'"),
    ({"resources": {"cpu": "2"}}, "resources.cpu: expected a number, got '2'"),
    ({"resources": {"cpu": True}}, "resources.cpu: expected a number, got True"),
    ({"resources": {"cpu": -1}}, "resources.cpu must be >= 0, got -1"),
    ({"resources": {"gpu": 1.5}}, "resources.gpu: 1.5; above 1 it must be a whole number"),
    ({"resources": {"memory": 1}}, "resources: unknown key 'memory'"),
    ({"scheduler": 5}, "scheduler: expected fifo, asha or"),
    ({"scheduler": {"asha": {}, "fifo": {}}}, "scheduler: expected fifo, asha or"),
    ({"scheduler": {"asha": {"reduction_factor": 1}}},
     "scheduler.asha.reduction_factor must be > 1"),
    ({"scheduler": {"asha": {"grace_period": 0}}}, "scheduler.asha.grace_period: must be >= 1"),
    ({"scheduler": {"asha": {"max_t": 1.5}}}, "scheduler.asha.max_t: expected an integer"),
    ({"scheduler": {"asha": {"time_attr": "hours"}}}, "scheduler.asha.time_attr: 'hours'"),
    ({"scheduler": {"asha": {"grace": 2}}}, "scheduler.asha: unknown key 'grace'"),
    ({"mode": "best"}, "mode: 'best' is not allowed; choose max or min"),
    ({"ray": {"gpus": 1}}, "ray: unknown key(s) ['gpus']"),
    ({"overrides": [1]}, "overrides: expected a mapping of config keys, got [1]"),
])
def test_every_sweep_setting_is_checked_naming_it(fields, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_spec({"preset": "pendulum_sac"} | fields)


def test_a_spec_takes_its_file_name_and_the_documented_defaults(tmp_path):
    from robovision.sweep.spec import Scheduler

    path = tmp_path / "lr_study.yaml"
    path.write_text("preset: pendulum_sac\n")
    spec = load_spec(path)
    assert spec.name == "lr_study" and load_spec({"preset": "pendulum_sac"}).name == "sweep"
    assert spec.seeds == [0] and spec.samples == 1 and spec.max_concurrent == 0
    assert spec.resources == {"cpu": 1.0, "gpu": 0.0} and spec.scheduler == Scheduler()
    assert load_spec({"preset": "pendulum_sac", "seeds": 3}).seeds == [3]
    asha = load_spec({"preset": "pendulum_sac", "scheduler": "asha"}).scheduler
    assert (asha.kind, asha.grace_period, asha.reduction_factor, asha.max_t) == ("asha", 1, 2, 0)
    assert load_spec({"preset": "pendulum_sac",
                      "scheduler": {"asha": {"reduction_factor": 1.5}}}
                     ).scheduler.reduction_factor == 1.5
    for gpu in (0.25, 1, 2):  # a fraction shares a GPU; above one, whole GPUs
        assert load_spec({"preset": "pendulum_sac", "resources": {"gpu": gpu}}
                         ).resources["gpu"] == gpu


def test_random_draws_cover_their_range_and_nothing_else():
    spec = load_spec({"preset": "pendulum_sac", "samples": 40,
                      "search": {"agent.tau": {"uniform": [0.01, 0.02]},
                                 "train.batch_size": {"randint": [30, 33]}}})
    taus = [t.overrides["agent.tau"] for t in expand(spec)]
    sizes = [t.overrides["train.batch_size"] for t in expand(spec)]
    assert all(0.01 <= tau < 0.02 for tau in taus) and len(set(taus)) == 40
    assert max(taus) - min(taus) > 0.005  # spread over the range, not one end of it
    assert set(sizes) == {30, 31, 32} and all(type(n) is int for n in sizes)  # [low, high)


def test_trial_names_label_only_what_varies():
    (alone,) = expand(load_spec({"preset": "pendulum_sac"}))
    assert (alone.name, alone.group, alone.variant) == ("seed_0", "pendulum_sac", "pendulum_sac")
    tasks = expand(load_spec({"preset": "pendulum_sac", "search": {
        "env.spec": {"grid": ["Pendulum-v1", "MountainCarContinuous-v0"]},
        "agent.tau": {"grid": [0.01]}}}))
    assert [t.name for t in tasks] == ["spec=Pendulum-v1,tau=0.01,seed_0",
                                       "spec=MountainCarContinuous-v0,tau=0.01,seed_0"]
    assert {t.variant for t in tasks} == {"tau=0.01"}  # one variant, aggregated over tasks
    alike = expand(load_spec({"preset": "pendulum_sac", "samples": 3,
                              "search": {"agent.gamma": {"choice": [0.99]}}}))
    assert [t.group for t in alike] == ["gamma=0.99", "gamma=0.99-2", "gamma=0.99-3"]


def test_a_trial_config_writes_to_the_run_dir_it_is_given(tmp_path):
    (trial,) = expand(load_spec({"preset": "pendulum_sac", "seeds": [4]}))
    assert trial.config().run_dir == "" and trial.config().seed == 4
    assert trial.config(tmp_path / "t").run_dir == str(tmp_path / "t")


def test_expansion_is_grid_times_samples_times_seeds_and_reproducible():
    data = {"preset": ["pendulum_sac", "pendulum_td3"], "seeds": [0, 1], "samples": 3,
            "search": {"env.spec": {"grid": ["Pendulum-v1", "MountainCarContinuous-v0"]},
                       "agent.actor_lr": {"loguniform": [1e-4, 1e-3]},
                       "agent.gamma": {"choice": [0.98, 0.99]}}}
    trials = expand(load_spec(data))
    assert len(trials) == 2 * 2 * 3 * 2
    assert len({t.name for t in trials}) == len(trials)
    assert all(1e-4 <= t.overrides["agent.actor_lr"] <= 1e-3 for t in trials)
    assert {t.overrides["agent.gamma"] for t in trials} <= {0.98, 0.99}
    assert {t.task for t in trials} == {"Pendulum-v1", "MountainCarContinuous-v0"}
    # the seeds of one group share its draws; aggregation groups by it
    for group in {t.group for t in trials}:
        members = [t for t in trials if t.group == group]
        assert sorted(t.seed for t in members) == [0, 1]
        assert len({t.overrides["agent.actor_lr"] for t in members}) == 1
    assert expand(load_spec(data)) == trials
    assert expand(load_spec(data | {"sampler_seed": 1})) != trials
    td3 = next(t for t in trials if t.preset == "pendulum_td3")
    assert td3.config().algo == "td3" and td3.variant.startswith("preset=pendulum_td3")


def test_a_trial_with_env_workers_reserves_a_cpu_for_each():
    from robovision.sweep.runner import trial_resources

    spec = load_spec({"preset": "pendulum_sac", "resources": {"cpu": 2, "gpu": 0.25},
                      "overrides": {"train.eval_async": False},
                      "search": {"train.env_worker": {"grid": [False, True]},
                                 "env.num_envs": {"grid": [1, 3]}}})
    reserved = {(t.overrides["train.env_worker"], t.overrides["env.num_envs"]):
                trial_resources(spec, t) for t in expand(spec)}
    assert reserved == {(False, 1): {"cpu": 2, "gpu": 0.25}, (False, 3): {"cpu": 2, "gpu": 0.25},
                        (True, 1): {"cpu": 3, "gpu": 0.25}, (True, 3): {"cpu": 5, "gpu": 0.25}}


@pytest.mark.parametrize(("gpu", "device", "setting", "cpus"), [
    (0.25, "auto", "auto", 2), (0.25, "cpu", "auto", 1), (0, "auto", "auto", 1),
    (0, "auto", "true", 2), (0.25, "auto", "false", 1)])
def test_a_trial_evaluating_in_the_background_reserves_a_cpu_for_its_evaluator(
        gpu, device, setting, cpus):
    from robovision.sweep.runner import trial_resources

    spec = load_spec({"preset": "pendulum_sac", "resources": {"cpu": 1, "gpu": gpu},
                      "overrides": {"device": device, "train.eval_async": setting},
                      "seeds": [0]})
    (trial,) = expand(spec)
    assert trial_resources(spec, trial).get("cpu") == cpus


def test_the_sweep_bar_follows_running_trials_between_evaluations(tmp_path):
    from robovision.logging import RunLogger
    from robovision.sweep.runner import _progress_callback

    spec = load_spec({"preset": "pendulum_sac", "seeds": [0, 1],
                      "overrides": {"train.total_steps": 1000}})
    trials = expand(spec)

    def log(trial, steps, start=0):
        (tmp_path / trial.name).mkdir(exist_ok=True)
        logger = RunLogger(tmp_path / trial.name, start, 1000, progress=False,
                           tensorboard=False)
        for step in steps:
            logger.log(step, step, {"train/loss": 1.0})
        logger.close()

    log(trials[0], [100, 200])  # resumed: the bar starts where it left off
    progress = _progress_callback(trials, 0, False, tmp_path)
    assert progress.bar.n == pytest.approx(0.2)
    log(trials[0], [300, 600], start=200)
    log(trials[1], [300])
    running = [SimpleNamespace(config={"trial": asdict(t)}, status="RUNNING") for t in trials]
    progress.on_step_begin(0, running)
    assert progress.bar.n == pytest.approx(0.9)


def test_asha_records_the_trials_it_stops():
    from ray.tune.experiment import Trial

    from robovision.sweep.runner import _scheduler

    spec = load_spec({"preset": "pendulum_sac", "overrides": {"train.total_steps": 400},
                      "scheduler": {"asha": {"grace_period": 100, "reduction_factor": 2}}})
    stopped: set[str] = set()
    sched = _scheduler(spec, expand(spec), stopped)
    good, bad = (Trial("fn", config={"trial": {"name": n}}, stub=True) for n in ("good", "bad"))
    for trial in (good, bad):
        sched.on_trial_add(None, trial)
    assert sched.on_trial_result(None, good, {"steps": 100, "eval/return_mean": 10.0}) == "CONTINUE"
    assert sched.on_trial_result(None, bad, {"steps": 100, "eval/return_mean": 1.0}) == "STOP"
    assert stopped == {"bad"}
    assert _scheduler(load_spec({"preset": "pendulum_sac"}), [], set()) is None


# --------------------------------------------------------------------------- aggregates


def _fake_run(run_dir: Path, task: str, values: list[float], unit: str = "steps") -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"env": {"spec": task},
                                                         "train": {"unit": unit}}))
    with (run_dir / "metrics.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "frames", "wall_time", "name", "value"])
        for i, v in enumerate(values, start=1):
            writer.writerow([100 * i, 400 * i, 0.0, "eval/return_mean", v])


def test_aggregates_per_task_and_over_tasks(tmp_path):
    rng = np.random.default_rng(0)
    trials = []
    for task, scale in (("A", 1.0), ("B", 100.0)):
        for variant, level in (("good", 2.0), ("bad", 1.0)):
            for seed in range(4):
                name = f"{variant},{task},seed_{seed}"
                finals = level * scale + rng.normal(0, 0.1 * scale)
                _fake_run(tmp_path / name, task, [0.5 * finals, finals],
                          unit="frames" if task == "B" else "steps")
                trials.append({"name": name, "group": f"{variant},{task}", "variant": variant})
    (tmp_path / "trials.yaml").write_text(yaml.safe_dump(trials))
    png, table = agg.aggregate_dirs([tmp_path], tmp_path / "aggregate.png", reps=300)
    assert png.stat().st_size > 10_000
    rows = list(csv.DictReader(table.open()))
    final = {(r["task"], r["variant"]): r for r in rows if r["kind"] == "final"}
    groups = {(g.task, g.variant): g for g in agg.collect([tmp_path])}
    for key, row in final.items():
        scores = np.sort(groups[key].aligned()[1][:, -1])
        assert float(row["iqm"]) == pytest.approx(scores[1:3].mean(), rel=1e-4)  # middle half
        assert float(row["ci_low"]) <= float(row["iqm"]) <= float(row["ci_high"])
    curve_x = {(r["task"], r["x"]) for r in rows if r["kind"] == "curve"}
    assert ("A", "200") in curve_x and ("B", "800") in curve_x  # steps vs frames per run
    over = {r["variant"]: float(r["iqm"]) for r in rows if r["kind"] == "final_normalised"}
    assert set(over) == {"good", "bad"} and 0 <= over["bad"] < over["good"] <= 1
    profile = [r for r in rows if r["kind"] == "profile" and r["variant"] == "good"]
    fractions = [float(r["iqm"]) for r in profile]
    assert fractions == sorted(fractions, reverse=True) and fractions[0] == 1.0


def test_iqm_cuts_a_quarter_of_the_values_from_each_end():
    assert agg.interquartile_mean(np.arange(1.0, 9.0), axis=0) == 4.5  # mean of 3, 4, 5, 6
    seven = np.array([100.0, 1, 2, 3, 4, 5, -100])
    assert agg.interquartile_mean(seven, axis=0) == 3.0  # int(7 / 4) = 1 cut from each end
    per_column = agg.interquartile_mean(np.arange(24.0).reshape(2, 3, 4), axis=(0, 1))
    assert per_column.tolist() == [10.0, 11.0, 12.0, 13.0]  # over runs and tasks, per column


def test_the_bootstrap_resamples_runs_within_each_task():
    """Task 0 scores 0 and task 1 scores 100 in every run: a resample that keeps the
    tasks apart always holds as many of each, so its IQM is always 50; one that drew
    runs across tasks would spread."""
    matrix = np.stack([np.zeros(6), np.full(6, 100.0)], axis=1)[..., None]  # (runs, tasks, 1)
    point, ci = agg._iqm_ci(matrix, reps=500)
    assert point.tolist() == [50.0] and ci.tolist() == [[50.0], [50.0]]


def test_the_interval_is_the_central_95_percent_of_the_resampled_statistic():
    """A statistic that numbers the resamples 0, 1, ... in the order drawn: the interval
    is then exactly the 2.5th and 97.5th percentiles of 0..1999."""
    drawn = iter(range(10_000))

    def numbered(m):
        return np.array([[next(drawn)] for _ in range(len(m))], dtype=float)

    point, ci = agg.bootstrap(np.zeros((5, 1)), numbered, reps=2000)
    assert point.tolist() == [0.0]  # the point estimate comes first
    assert ci[:, 0].tolist() == pytest.approx([np.percentile(np.arange(1, 2001), 2.5),
                                               np.percentile(np.arange(1, 2001), 97.5)])


def test_a_profile_counts_the_scores_strictly_above_each_threshold():
    profile, _ = agg._profile_ci(np.array([[0.0, 0.5, 1.0]]), np.array([0.0, 0.5, 1.0]), reps=10)
    assert profile.tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])


def test_intervals_agree_with_rliable_and_do_not_depend_on_the_block_size(monkeypatch):
    """The vectorised bootstrap against rliable's (arch's percentile bootstrap, one
    statistic call per resample): the same point estimates, and intervals that differ by
    Monte-Carlo noise only (2000 resamples each, different random streams)."""
    from rliable import library as rly
    from rliable import metrics

    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(10, 1, 6)) * 100  # 10 seeds, 6 evaluations
    point, ci = agg._iqm_ci(matrix, reps=2000)
    np.random.seed(0)
    ref_point, ref_ci = rly.get_interval_estimates(
        {"m": matrix}, lambda m: np.array([metrics.aggregate_iqm(m[..., k]) for k in range(6)]),
        reps=2000)
    np.testing.assert_allclose(point, ref_point["m"], rtol=1e-12)
    width = ref_ci["m"][1] - ref_ci["m"][0]
    assert np.all(np.abs(ci - ref_ci["m"]) <= 0.1 * width)

    scores, taus = rng.uniform(size=(8, 3)), np.linspace(0.0, 1.0, 11)
    profile, profile_ci = agg._profile_ci(scores, taus, reps=2000)
    np.random.seed(0)
    ref_profile, ref_profile_ci = rly.create_performance_profile({"m": scores}, taus, reps=2000)
    np.testing.assert_allclose(profile, ref_profile["m"], rtol=1e-12)
    assert np.all(np.abs(profile_ci - ref_profile_ci["m"]) <= 0.1)  # fractions of 24 scores

    monkeypatch.setattr(agg, "BLOCK", 50)  # one resample per block
    assert np.array_equal(agg._iqm_ci(matrix, reps=2000)[1], ci)


def test_the_bootstrap_computes_its_resamples_together():
    """rliable called the statistic once per resample (20 seeds evaluated 300 times took
    minutes); here the statistic sees whole blocks of resamples: the point estimate,
    then every resample in blocks of at most BLOCK values."""
    matrix = np.random.default_rng(0).normal(size=(20, 1, 300))
    seen = []

    def statistic(m):
        seen.append(m.shape[0])
        return agg.interquartile_mean(m, axis=(1, 2))

    agg.bootstrap(matrix, statistic, reps=2000)
    assert seen == [1, 666, 666, 666, 2]  # BLOCK // 6000 values a resample


# --------------------------------------------------------------------------- Ray Tune


def test_two_seeds_by_two_values_give_four_runs_and_aggregates(tmp_path):
    sweep = tmp_path / "sweep"
    spec = _spec(tmp_path, seeds=[0, 1], search={"agent.actor_lr": {"grid": [1e-3, 3e-4]}})
    result = _sweep(str(spec), "--dir", str(sweep))
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in sweep.iterdir() if (p / "trial.json").exists())
    assert [p.name for p in runs] == ["actor_lr=0.0003,seed_0", "actor_lr=0.0003,seed_1",
                                      "actor_lr=0.001,seed_0", "actor_lr=0.001,seed_1"]
    for run in runs:
        assert _status(run)["status"] == "finished"
        assert (run / "config.yaml").exists() and (run / "tb").is_dir()
        saved = load_checkpoint(run / "checkpoints" / "latest.pt")
        assert saved["counters"]["step"] == 300
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert f"actor_lr={config['agent']['actor_lr']:.3g}," in run.name
        assert f"seed_{config['seed']}" in run.name
    rows = list(csv.DictReader((sweep / "aggregate.csv").open()))
    finals = [r for r in rows if r["kind"] == "final"]
    assert {r["variant"] for r in finals} == {"actor_lr=0.001", "actor_lr=0.0003"}
    assert all(r["runs"] == "2" and r["x"] == "300" for r in finals)
    assert (sweep / "aggregate.png").stat().st_size > 10_000
    assert "best trial: actor_lr=" in result.stdout


def test_a_failing_trial_is_named_and_the_others_finish(tmp_path):
    sweep = tmp_path / "sweep"
    spec = _spec(tmp_path, search={"env.spec": {"grid": ["Pendulum-v1", "NoSuchEnv-v0"]}})
    result = _sweep(str(spec), "--dir", str(sweep))
    assert result.returncode == 1
    good, bad = sweep / "spec=Pendulum-v1,seed_0", sweep / "spec=NoSuchEnv-v0,seed_0"
    assert _status(good)["status"] == "finished"
    assert _status(bad)["status"] == "error" and "NoSuchEnv" in _status(bad)["error"]
    assert "Traceback" in (bad / "train.log").read_text()
    assert "FAILED spec=NoSuchEnv-v0,seed_0" in result.stdout
    assert str(bad / "train.log") in result.stdout


def test_a_killed_sweep_resumes_without_restarting_any_trial(tmp_path):
    sweep = tmp_path / "sweep"
    spec = _spec(tmp_path, seeds=[0, 1], max_concurrent=1,
                 overrides=TINY | {"train.total_steps": 1000, "train.checkpoint_every": 200,
                                   "train.eval_every": 500})
    driver = subprocess.Popen([sys.executable, "-m", "robovision.cli", "sweep", str(spec),
                               "--dir", str(sweep)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
    runs = [sweep / "seed_0", sweep / "seed_1"]

    def finished_and_checkpointed() -> tuple[Path, Path] | None:
        done = [r for r in runs if (r / "trial.json").exists()
                and _status(r)["status"] == "finished"]
        going = [r for r in runs if r not in done and (r / "checkpoints/latest.pt").exists()]
        return (done[0], going[0]) if done and going else None

    deadline = time.time() + 240
    while (pair := finished_and_checkpointed()) is None:
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "the sweep never got one trial done and one going"
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray processes it started
    driver.wait()
    done, cut = pair
    _wait_for_run_dir(cut, timeout=60)  # an orphaned trial worker lives a moment longer
    done_bytes, done_mtime = (done / "metrics.csv").read_bytes(), (done / "metrics.csv").stat()
    cut_step = load_checkpoint(cut / "checkpoints" / "latest.pt")["counters"]["step"]
    assert 0 < cut_step < 1000

    result = _sweep("--resume", str(sweep))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (done / "metrics.csv").read_bytes() == done_bytes
    assert (done / "metrics.csv").stat().st_mtime == done_mtime.st_mtime
    status = _status(cut)
    assert status["status"] == "finished" and status["step"] == 1000
    assert status["started_at_step"] == cut_step  # went on from its checkpoint
    assert "resuming" in (cut / "train.log").read_text()


def test_ctrl_c_checkpoints_every_running_trial_and_starts_no_other(tmp_path):
    """Ctrl-C as a terminal sends it, to the driver's process group. No periodic
    checkpoint or evaluation falls inside the runs, so a checkpoint can only be the
    one written on the way out."""
    sweep = tmp_path / "sweep"
    spec = _spec(tmp_path, seeds=[0, 1, 2],
                 overrides=TINY | {"train.total_steps": 100_000, "train.eval_every": 200_000,
                                   "train.checkpoint_every": 200_000})
    driver = subprocess.Popen([sys.executable, "-m", "robovision.cli", "sweep", str(spec),
                               "--dir", str(sweep)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)

    def training() -> list[Path]:
        logged = [r for r in sweep.glob("seed_*") if (r / "metrics.csv").exists()
                  and "train/" in (r / "metrics.csv").read_text()]
        return logged if len(logged) == 2 else []

    deadline = time.time() + 180
    while not (running := training()):
        assert driver.poll() is None, driver.stderr.read()[-3000:]
        assert time.time() < deadline, "two trials never started training"
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGINT)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err[-3000:]
    assert f"robovision sweep --resume {sweep}" in err and "stopping the sweep" in err
    for run in running:
        status = _status(run)
        assert status["status"] == "interrupted"
        assert load_checkpoint(run / "checkpoints" / "latest.pt")["counters"]["step"] == \
            status["step"] > 0
        assert "stopped at step" in (run / "train.log").read_text()
    not_started = {"seed_0", "seed_1", "seed_2"} - {r.name for r in running}
    assert not any((sweep / name / "trial.json").exists() for name in not_started)
    assert re.search(rf"{not_started.pop()}\s+pending", out)
    assert not (sweep / "stop-requested").exists()


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[1].glob("examples/sweeps/*.yaml")),
                         ids=lambda p: p.name)
def test_example_sweep_specs_load(path):
    assert expand(load_spec(path))


def test_the_summary_ranks_by_the_spec_metric_and_names_failures():
    from robovision.sweep.runner import Outcome, best_of, summary_table

    nan = float("nan")
    outcomes = [Outcome("high_return", "finished", 9, 9, 5.0, 6.0, 0.2, "", "a.log"),
                Outcome("high_success", "stopped", 9, 9, 3.0, 6.0, 0.9, "", "b.log"),
                Outcome("broken", "error", 0, 0, nan, nan, nan, "ValueError: bad", "c.log")]
    assert best_of(outcomes).name == "high_return"
    assert best_of(outcomes, "min").name == "high_success"
    assert best_of(outcomes, metric="eval/success_rate").name == "high_success"
    table = summary_table(outcomes)
    assert "FAILED broken: ValueError: bad\n  log: c.log" in table
    assert table.splitlines()[1].startswith("high_return")
