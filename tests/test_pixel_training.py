"""All four algorithms from pixels, end to end, and a pixel learning test."""

import csv
import math

import pytest
import torch

from robovision.checkpoint import load_checkpoint
from robovision.config import load_config
from robovision.loop import train

TINY = ["env.image_size=32", "env.options.task_kwargs={time_limit: 1}", "agent.hidden=32,32",
        "agent.encoder.amp=false", "train.progress=false", "train.eval_episodes=1",
        "train.log_every=20"]


@pytest.mark.parametrize("preset", ["cheetah_run_pixels", "cheetah_run_pixels_sac",
                                    "cheetah_run_pixels_td3"])
def test_off_policy_from_pixels_trains_and_resumes_with_its_image_replay(preset, tmp_path):
    cfg = load_config(preset, [*TINY, "train.batch_size=8", "train.buffer_size=1000",
                               "train.total_steps=480", "train.learning_starts=160",
                               "train.eval_every=0", "train.checkpoint_every=240"])
    counters = train(cfg, tmp_path)
    repeat = cfg.env.action_repeat
    assert counters.step == 480 // repeat
    state = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")
    replay = state["replay"]
    # one frame per agent step, plus the first frame of each episode
    episodes = counters.step * repeat // 100
    assert replay["t"] == counters.step + episodes + 1
    assert replay["obs"].dtype == torch.uint8 and replay["obs"].shape[1:] == (3, 32, 32)

    resumed = load_config(preset, [*TINY, "train.batch_size=8", "train.buffer_size=1000",
                                   "train.total_steps=640", "train.learning_starts=160",
                                   "train.eval_every=0", "train.checkpoint_every=240"])
    counters = train(resumed, tmp_path, resume=True)
    assert counters.step == 640 // repeat
    again = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["replay"]
    assert torch.equal(again["obs"][: replay["t"]], replay["obs"])  # kept exactly
    assert again["t"] > replay["t"]


def test_ppo_from_pixels_with_vector_envs(tmp_path):
    cfg = load_config("cheetah_run_pixels_ppo", [*TINY, "env.num_envs=2", "train.rollout_steps=16",
                                                 "agent.num_minibatches=2", "agent.epochs=1",
                                                 "train.total_steps=128", "train.eval_every=0",
                                                 "train.checkpoint_every=0"])
    counters = train(cfg, tmp_path)
    assert counters.step == 128 // 2
    assert "obs_rms" in load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["agent"]


@pytest.mark.slow
def test_sac_learns_point_reach_from_pixels(tmp_path):
    """A random policy scores about -39 and a still one -32; a working pixel pipeline
    (render -> uint8 CHW -> frame replay -> conv encoder -> SAC) reaches about -2: seeds
    0-3 scored -2.7 to -3.8 at 750 steps (250 updates) and -1.9 to -2.5 at 1000
    (``scripts/test_budgets.py point_reach_pixels_sac``, BENCHMARKS 28)."""
    cfg = load_config("point_reach_pixels_sac", ["train.total_steps=1000", "train.eval_every=0",
                                                 "train.progress=false", "seed=0"])
    counters = train(cfg, tmp_path)
    assert counters.last_eval >= -10, f"pixel SAC: mean eval return {counters.last_eval:.1f}"


@pytest.mark.cuda
def test_main_job_with_cuda_graphs_trains_and_resumes_on_the_gpu(tmp_path):
    """The main job's settings (bf16 encoder, random shift, the noise schedule) with its
    updates replayed as CUDA graphs, stopped and resumed: the graphs are captured again
    after the checkpoint's optimiser state is loaded. cuDNN's benchmark mode and TF32 on:
    cuDNN times its algorithms in the eager warm-up updates, before the capture."""
    def config(total):
        return load_config("cheetah_run_pixels", [
            *TINY, "agent.encoder.amp=true", "device=cuda", "train.cuda_graph=true",
            "train.cudnn_benchmark=true", "train.tf32=true",
            "train.batch_size=32", "train.buffer_size=1000", f"train.total_steps={total}",
            "train.learning_starts=160", "train.eval_every=0", "train.checkpoint_every=240"])

    assert train(config(480), tmp_path).step == 240
    assert train(config(640), tmp_path, resume=True).step == 320
    with (tmp_path / "metrics.csv").open() as f:
        losses = [float(r["value"]) for r in csv.DictReader(f) if r["name"] == "train/critic_loss"]
    assert losses and all(map(math.isfinite, losses))
