"""Whole runs: run directory, CLI commands, resume after SIGKILL, Ctrl-C, NaN losses."""

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from robovision.checkpoint import load_checkpoint
from robovision.cli import main
from robovision.config import load_config
from robovision.loop import NonFiniteLossError, train

FAST = ["train.learning_starts=100", "train.batch_size=32", "agent.hidden=32,32",
        "train.eval_episodes=1", "train.log_every=50", "train.progress=false"]


def metric_rows(run_dir: Path, name: str) -> list[tuple[int, float]]:
    with (run_dir / "metrics.csv").open() as f:
        return [(int(r["step"]), float(r["value"])) for r in csv.DictReader(f) if r["name"] == name]


def test_train_writes_run_directory_and_cli_reads_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "pendulum_sac", f"run_dir={run}", "train.total_steps=400",
                 "train.eval_every=200", "train.checkpoint_every=200", *FAST]) == 0
    for name in ("config.yaml", "metrics.csv", "curve.png", "checkpoints/latest.pt",
                 "checkpoints/best.pt"):
        assert (run / name).exists(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert [s for s, _ in metric_rows(run, "eval/return_mean")] == [200, 400]
    assert metric_rows(run, "train/critic_loss")
    assert load_checkpoint(run / "checkpoints/latest.pt")["counters"]["step"] == 400
    assert load_config(str(run / "config.yaml")).train.total_steps == 400

    assert main(["eval", str(run), "--episodes", "2"]) == 0
    assert "return" in capsys.readouterr().out
    out = tmp_path / "curves.png"
    assert main(["plot", str(run), str(run), "--out", str(out)]) == 0
    assert out.stat().st_size > 1000


def test_key_value_items_may_follow_the_options(capsys):
    from robovision.cli import _parse, build_parser

    def parse(*argv):
        return _parse(build_parser(), list(argv))

    assert parse("eval", "run", "a=1", "--episodes", "2", "b=2").overrides == ["a=1", "b=2"]
    assert parse("resume", "run", "--checkpoint", "best", "seed=3").overrides == ["seed=3"]
    assert parse("check-env", "Pendulum-v1", "--obs", "state", "g=9").options == ["g=9"]
    for argv in (["eval", "run", "--bogus"], ["eval", "run", "--episodes", "2", "oops"],
                 ["envs", "cheetah", "seed=1"]):
        with pytest.raises(SystemExit):
            parse(*argv)
        assert "unrecognized arguments" in capsys.readouterr().err


def test_envs_command_lists_dmc_and_gymnasium(capsys):
    assert main(["envs", "cheetah"]) == 0
    listed = capsys.readouterr().out.split()
    assert "dmc/cheetah-run" in listed and "HalfCheetah-v5" in listed


def test_config_error_exits_with_message(capsys):
    assert main(["train", "pendulum_sac", "agent.lr=1"]) == 2
    assert "unknown config key 'agent.lr'" in capsys.readouterr().err


def test_eval_video_on_dmc(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", "pendulum_sac", f"run_dir={run}", "env.spec=dmc/cartpole-balance",
                 "env.options.task_kwargs={time_limit: 1}", "train.total_steps=150",
                 "train.eval_every=0", *FAST]) == 0
    assert main(["eval", str(run), "--checkpoint", "latest", "--episodes", "1", "--video"]) == 0
    video = run / "videos" / "eval_latest.mp4"
    assert video.stat().st_size > 1000
    # Without imageio-ffmpeg (the GPU machine's image), imageio handed the .mp4 to tifffile
    # and eval died on a TypeError: now it scores, then says what the video needs.
    from robovision import logging as rv_logging

    video.unlink()
    monkeypatch.setattr(rv_logging, "ffmpeg_available", lambda: False)
    capsys.readouterr()
    assert main(["eval", str(run), "--checkpoint", "latest", "--episodes", "1", "--video"]) == 1
    out, err = capsys.readouterr()
    assert "return" in out and "video not written" in err and "imageio-ffmpeg" in err
    assert not video.exists()


def test_eval_plays_its_episodes_on_the_runs_eval_envs(tmp_path, monkeypatch, capsys):
    from robovision import factory

    run = tmp_path / "run"
    assert main(["train", "pendulum_sac", f"run_dir={run}", "train.total_steps=150",
                 "train.eval_every=0", *FAST]) == 0
    built, build = [], factory.build_extra_eval_envs
    monkeypatch.setattr(factory, "build_extra_eval_envs",
                        lambda cfg, seed: built.append(build(cfg, seed)) or built[-1])
    capsys.readouterr()
    assert main(["eval", str(run), "--checkpoint", "latest", "--episodes", "4"]) == 0
    alone = capsys.readouterr().out
    assert main(["eval", str(run), "train.eval_envs=3", "--checkpoint", "latest",
                 "--episodes", "4"]) == 0
    together = capsys.readouterr().out
    assert [len(envs) for envs in built] == [0, 2]
    assert alone.split(": return ")[1] == together.split(": return ")[1]  # the same episodes


@pytest.mark.xdist_group("ray")  # beside the sweep tests, one Ray cluster at a time
def test_multi_seed_runs_side_by_side(tmp_path):
    pytest.importorskip("ray")  # installed by `make setup`; absent where only a bundle travels
    run = tmp_path / "multi"
    assert main(["train", "pendulum_sac", f"run_dir={run}", "seeds=1,2", "train.total_steps=150",
                 "train.eval_every=150", *FAST]) == 0
    assert (run / "seed_1" / "metrics.csv").exists() and (run / "seed_2" / "metrics.csv").exists()
    assert (run / "aggregate.png").exists() and (run / "aggregate.csv").exists()
    assert load_config(str(run / "seed_2" / "config.yaml")).seed == 2
    assert main(["sweep", "--resume", str(run)]) == 0  # a seeds run is a sweep: nothing to redo


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "robovision.cli", *args]


def test_sigkilled_run_resumes_from_its_checkpoint(tmp_path, wait_for):
    run = tmp_path / "run"
    proc = subprocess.Popen(_cli("train", "pendulum_sac", f"run_dir={run}", *FAST,
                                 "train.total_steps=100000", "train.checkpoint_every=300",
                                 "train.eval_every=0"), stderr=subprocess.PIPE)
    latest = run / "checkpoints" / "latest.pt"
    wait_for(latest.exists, 120, proc)
    time.sleep(1.0)  # let it run past the checkpoint before the kill
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = load_checkpoint(latest)
    step = saved["counters"]["step"]
    assert step % 300 == 0 and step >= 300
    assert int(saved["replay"]["has_action"].sum()) == step  # one transition per step

    target = step + 200
    result = subprocess.run(_cli("resume", str(run), f"train.total_steps={target}"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    final = load_checkpoint(latest)
    assert final["counters"]["step"] == target
    assert load_config(str(run / "config.yaml")).train.total_steps == target  # persisted
    assert int(final["replay"]["has_action"].sum()) == target  # came back and grew by 200
    steps = [s for s, _ in metric_rows(run, "train/critic_loss")]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no rows from the killed run
    assert steps[-1] == target


def test_ctrl_c_writes_a_checkpoint_before_exiting(tmp_path, wait_for):
    run = tmp_path / "run"
    proc = subprocess.Popen(_cli("train", "pendulum_sac", f"run_dir={run}", *FAST,
                                 "train.total_steps=100000", "train.checkpoint_every=0",
                                 "train.eval_every=0"), stderr=subprocess.PIPE)
    wait_for(lambda: (run / "metrics.csv").exists() and len(
        metric_rows(run, "train/critic_loss")) >= 2, 120, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["counters"]["step"] >= 150
    assert b"robovision resume" in proc.stderr.read()


class NaNAfter(gym.Env):
    """A user-registered env whose rewards turn NaN after ``after`` steps."""

    def __init__(self, after: int = 250):
        self.observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)
        self.action_space = gym.spaces.Box(-1, 1, (1,), np.float32)
        self.after, self.t = after, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        reward = float("nan") if self.t > self.after else 0.0
        return self.observation_space.sample(), reward, False, self.t % 50 == 0, {}


gym.register("test/NaNAfter-v0", entry_point=NaNAfter)


def test_nan_loss_stops_run_and_keeps_last_good_checkpoint(tmp_path):
    cfg = load_config("pendulum_sac", ["env.spec=test/NaNAfter-v0", "train.total_steps=2000",
                                       "train.checkpoint_every=200", "train.eval_every=0",
                                       *FAST])
    with pytest.raises(NonFiniteLossError, match=r"critic_loss.*left intact"):
        train(cfg, tmp_path)
    state = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")
    assert state["counters"]["step"] == 200
    assert all(torch.isfinite(p).all() for p in state["agent"]["critic"].values())


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("algo: sac\nenv: {spec: Pendulum-v1}\n")
    assert main(["resume", str(run)]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


@pytest.mark.cuda
def test_cuda_run(tmp_path):
    assert main(["train", "pendulum_sac", f"run_dir={tmp_path}", "device=cuda",
                 "train.total_steps=300", "train.eval_every=300", *FAST]) == 0
    state = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")
    assert state["counters"]["step"] == 300




def test_resume_reads_the_checkpoint_onto_the_cpu_and_places_each_part(tmp_path, monkeypatch):
    """The CUDA resume crash ('RNG state must be a torch.ByteTensor') came from loading the
    whole checkpoint onto the training device. Resume now reads it onto the CPU and each
    part moves what it restores: RNG states stay CPU byte tensors, the replay goes to its
    storage device, the weights to the agent's device."""
    from robovision import loop

    cfg = load_config("pendulum_td3", [*FAST, "train.total_steps=300", "train.eval_every=0",
                                       "train.checkpoint_every=300"])
    train(cfg, tmp_path)
    saved = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")
    asked = []

    def recording_load(path, map_location="cpu"):
        asked.append(map_location)
        return load_checkpoint(path, map_location=map_location)

    monkeypatch.setattr(loop, "load_checkpoint", recording_load)
    run = loop.Run(load_config("pendulum_td3", [*FAST, "train.total_steps=400"]), tmp_path,
                   resume=True)
    try:
        assert asked == ["cpu"]
        assert torch.equal(torch.get_rng_state(), saved["rng"]["torch"])
        assert torch.equal(run.storage.action[:300].cpu(), saved["replay"]["action"][:300])
        assert run.storage.action.device == run.storage.storage_device
        weight = next(run.agent.actor.parameters())
        assert weight.device == run.device
        assert torch.equal(weight.cpu(), saved["agent"]["actor"]["net.0.weight"])
        assert run.counters.step == 300
    finally:
        run.close()


@pytest.fixture
def global_rngs_kept():
    """The worker's global RNG states as they were before the test."""
    from robovision.loop import rng_state, set_rng_state

    before = rng_state()
    yield
    set_rng_state(before)


def _draws() -> tuple:
    """One draw from every global RNG a run uses, normal draws included (numpy and Python
    each keep the second Gaussian of a pair for the next call)."""
    import random

    return (torch.rand(2).tolist(), torch.randn(1).tolist(), np.random.rand(2).tolist(),
            np.random.standard_normal(), random.random(), random.gauss(0, 1))


def test_rng_state_round_trips_every_global_rng_mid_gaussian_pair(global_rngs_kept):
    import random

    from robovision.loop import rng_state, seed_everything, set_rng_state

    seed_everything(11)
    np.random.standard_normal()  # an odd number of normal draws: each holds one back
    random.gauss(0, 1)
    saved = rng_state()
    expected = _draws()
    _draws()
    set_rng_state(saved)
    assert _draws() == expected


def test_rng_state_from_a_gpu_run_restores_on_a_machine_without_one(global_rngs_kept,
                                                                     monkeypatch):
    from robovision.loop import rng_state, seed_everything, set_rng_state

    seed_everything(5)
    saved = {k: v for k, v in rng_state().items() if k != "cuda"}  # as a CPU run writes it
    expected = _draws()
    # a checkpoint written on a GPU machine carries CUDA generator states
    gpu_saved = {**saved, "cuda": [torch.zeros(16, dtype=torch.uint8)]}
    restored = []
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    set_rng_state(gpu_saved)
    assert _draws() == expected and restored == []  # a CPU machine leaves them alone
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    set_rng_state(saved)
    assert restored == []  # a CPU checkpoint has none to restore on a GPU machine
    set_rng_state(gpu_saved)
    assert len(restored) == 1 and restored[0][0].device.type == "cpu"


def test_rng_state_of_an_older_checkpoint_without_held_back_gaussians_restores(global_rngs_kept):
    from robovision.loop import rng_state, seed_everything, set_rng_state

    seed_everything(6)
    saved = rng_state()  # no normal draw yet: nothing held back
    expected = _draws()
    set_rng_state({k: v for k, v in saved.items() if k not in ("numpy_gauss", "python_gauss")})
    assert _draws() == expected


def test_seeds_give_their_own_streams_and_any_int_is_a_seed(global_rngs_kept):
    from robovision.loop import seed_everything

    streams = {}
    for seed in (0, 1, 36, 100, 2**32 + 1):
        seed_everything(seed)
        streams[seed] = _draws()
    assert streams[0] != streams[1] and streams[36][2] != streams[100][2]
    assert streams[2**32 + 1][2] == streams[1][2]  # numpy takes the seed modulo 2**32
    assert streams[2**32 + 1][4] != streams[1][4]  # Python's takes it whole
    seed_everything(1)
    assert _draws() == streams[1]


def test_check_finite_names_only_the_bad_metrics():
    from robovision.loop import check_finite

    good = {"actor_loss": torch.tensor(0.5), "alpha": torch.tensor(0.1)}
    check_finite(good, 10, Path("latest.pt"))
    check_finite({}, 10, Path("latest.pt"))
    bad = {**good, "critic_loss": torch.tensor(float("inf"))}
    with pytest.raises(NonFiniteLossError, match=r"non-finite critic_loss at step 10") as err:
        check_finite(bad, 10, Path("latest.pt"))
    assert "actor_loss" not in str(err.value)


def test_frame_budgets_become_agent_steps_and_step_budgets_stay():
    from robovision.config import TrainConfig
    from robovision.loop import crossed, in_steps

    frames = TrainConfig(unit="frames", total_steps=1000, learning_starts=100, eval_every=500,
                         checkpoint_every=250, log_every=50)
    steps = in_steps(frames, action_repeat=2)
    assert (steps.unit, steps.total_steps, steps.learning_starts, steps.eval_every,
            steps.checkpoint_every, steps.log_every) == ("steps", 500, 50, 250, 125, 25)
    assert frames.total_steps == 1000  # the run's own config is left as it was
    already = TrainConfig(unit="steps", total_steps=1000)
    assert in_steps(already, action_repeat=2).total_steps == 1000
    assert [crossed(b, a, 100) for b, a in ((99, 100), (100, 199), (150, 250), (0, 5))] == [
        True, False, True, False]
    assert not crossed(0, 1000, 0)  # 0: never
    assert all(crossed(s, s + 1, 1) for s in range(3))  # 1: every step
