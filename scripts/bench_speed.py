"""Training speed on HalfCheetah-v5: robovision vs Stable-Baselines3, alternating.

Each measurement runs in a fresh subprocess, robovision and SB3 alternate, and
the script reports per-pair ratios (median, min, max). A measurement first runs
``warmup`` steps (random actions for the off-policy agents, so the replay holds
data), then times ``steps`` environment steps with one gradient update per step
(off-policy) or whole PPO iterations (rollout 2048 + 10 epochs of 32
minibatches), using each framework's own training loop with evaluation off.

    python scripts/bench_speed.py --algos sac td3 ppo --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

ENV = "HalfCheetah-v5"
DEVICE = os.environ.get("BENCH_DEVICE", "cpu")
"""Both sides train on this device (``--device``; workers read it from the environment)."""
RV_EXTRA = os.environ.get("BENCH_RV_EXTRA", "").split()
"""Extra robovision overrides for a worker (``run_worker(..., rv_extra=...)``), for
example ``train.cuda_graph=true``."""
# Identical hyper-parameters on both sides (SB3 defaults / SB3 zoo / CleanRL).
RV_OVERRIDES = {
    "sac": ["agent.hidden=256,256", "agent.actor_lr=3e-4", "agent.critic_lr=3e-4",
            "train.batch_size=256"],
    "td3": ["agent.hidden=400,300", "agent.actor_lr=1e-3", "agent.critic_lr=1e-3",
            "train.batch_size=256"],
    "ppo": ["agent.hidden=64,64", "agent.normalize_obs=false", "agent.normalize_reward=false",
            "agent.anneal_lr=false", "agent.clip_vloss=false", "train.rollout_steps=2048",
            "agent.num_minibatches=32", "agent.epochs=10"],
}


def worker_robovision(algo: str, warmup: int, steps: int) -> float:
    import csv
    import tempfile

    from robovision.config import load_config
    from robovision.loop import train

    preset = {"sac": "halfcheetah_sac", "td3": "halfcheetah_td3", "ppo": "halfcheetah_ppo"}[algo]
    log_every = 2048 if algo == "ppo" else 250
    with tempfile.TemporaryDirectory() as run_dir:
        overrides = [*RV_OVERRIDES[algo], f"train.total_steps={warmup + steps}",
                     f"train.learning_starts={warmup}", "train.eval_every=0",
                     "train.eval_episodes=1", "train.checkpoint_every=0", "train.progress=false",
                     f"train.log_every={log_every}", f"run_dir={run_dir}", f"device={DEVICE}",
                     *RV_EXTRA]
        train(load_config(preset, overrides), run_dir)
        times = {}
        with open(os.path.join(run_dir, "metrics.csv")) as f:
            for row in csv.DictReader(f):
                if row["name"].startswith("train/") and row["name"] != "train/episode_return":
                    times[int(row["step"])] = float(row["wall_time"])
    # From the first log after the warm-up (PPO: after the first iteration) to the end.
    start = min(s for s in times if s >= warmup + (log_every if algo != "ppo" else 0))
    end = max(times)
    return (end - start) / (times[end] - times[start])


def worker_sb3(algo: str, warmup: int, steps: int) -> float:
    import gymnasium as gym
    import numpy as np
    import torch
    from sb3_clock import StepClock
    from stable_baselines3 import PPO, SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    env = gym.make(ENV)
    if algo == "sac":
        model = SAC("MlpPolicy", env, learning_starts=warmup, batch_size=256, device=DEVICE,
                    learning_rate=3e-4, policy_kwargs={"net_arch": [256, 256]})
    elif algo == "td3":
        noise = NormalActionNoise(np.zeros(6), 0.1 * np.ones(6))
        model = TD3("MlpPolicy", env, learning_starts=warmup, batch_size=256, device=DEVICE,
                    learning_rate=1e-3, action_noise=noise,
                    policy_kwargs={"net_arch": [400, 300]})
    else:
        model = PPO("MlpPolicy", env, n_steps=2048, batch_size=64, n_epochs=10, device=DEVICE,
                    learning_rate=3e-4)
    clock = StepClock()
    torch.manual_seed(0)
    model.learn(total_timesteps=warmup + steps, callback=clock)
    # PPO: whole iterations from the end of the first rollout; off-policy: after warm-up.
    return clock.steps_per_second(2048 if algo == "ppo" else warmup + 250)


def run_worker(framework: str, algo: str, warmup: int, steps: int,
               rv_extra: tuple[str, ...] = ()) -> float:
    cmd = [sys.executable, __file__, "--worker", framework, "--algos", algo,
           "--warmup", str(warmup), "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "MUJOCO_GL": "egl", "BENCH_DEVICE": DEVICE,
                              "BENCH_RV_EXTRA": " ".join(rv_extra)})
    return json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["sac", "td3", "ppo"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1500, help="timed steps (off-policy)")
    parser.add_argument("--worker", choices=["robovision", "sb3"], default=None)
    parser.add_argument("--device", default=None, help="cpu (default) or cuda, for both sides")
    args = parser.parse_args()
    if args.device:
        global DEVICE
        DEVICE = args.device

    if args.worker:
        algo = args.algos[0]
        if algo == "ppo":
            warmup, steps = 0, 2048 * 4
        else:
            warmup, steps = args.warmup, args.steps
        fn = worker_robovision if args.worker == "robovision" else worker_sb3
        print(json.dumps({"steps_per_s": fn(algo, warmup, steps)}))
        return

    import torch

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| algo | robovision steps/s | SB3 steps/s | ratio median | ratio min-max |")
    print("|---|---|---|---|---|")
    for algo in args.algos:
        rv, sb = [], []
        for _ in range(args.repeats):
            rv.append(run_worker("robovision", algo, args.warmup, args.steps))
            sb.append(run_worker("sb3", algo, args.warmup, args.steps))
            print(f"  {algo}: robovision {rv[-1]:.1f}, sb3 {sb[-1]:.1f}", file=sys.stderr)
        ratios = [a / b for a, b in zip(rv, sb, strict=True)]
        print(f"| {algo} | {statistics.median(rv):.1f} | {statistics.median(sb):.1f} | "
              f"{statistics.median(ratios):.2f}x | {min(ratios):.2f}-{max(ratios):.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
