"""Learning: SAC on HalfCheetah-v5, robovision vs Stable-Baselines3, same budget and seeds.

For each seed, one robovision run and one SB3 run train side by side (one torch thread
each on a 2-core machine), with the SB3 zoo hyper-parameters on both sides (lr 3e-4,
batch 256, buffer 1e6, tau 0.005, gamma 0.99, [256, 256], automatic entropy,
learning_starts 10000) and evaluation every 10k steps over 10 deterministic episodes.
Writes ``OUT/<framework>_seed<k>.csv`` (step, mean return) and ``OUT/curves.png``.

    python scripts/bench_learning.py --steps 100000 --seeds 0 1 2 --out runs/bench_learning
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

EVAL_EPISODES = 10
EVAL_EVERY = int(os.environ.get("BENCH_EVAL_EVERY", 10_000))
LEARNING_STARTS = int(os.environ.get("BENCH_LEARNING_STARTS", 10_000))


def worker_robovision(seed: int, steps: int, out: Path) -> None:
    from robovision.config import load_config
    from robovision.logging import read_metrics
    from robovision.loop import train

    run_dir = out / f"robovision_seed{seed}_run"
    cfg = load_config("halfcheetah_sac", [
        f"seed={seed}", f"train.total_steps={steps}", f"train.eval_every={EVAL_EVERY}",
        f"train.eval_episodes={EVAL_EPISODES}", f"train.learning_starts={LEARNING_STARTS}",
        "train.progress=false", "train.checkpoint_every=0", "threads=1", "device=cpu"])
    train(cfg, run_dir)
    steps_, _, values = read_metrics(run_dir)["eval/return_mean"]
    _write(out / f"robovision_seed{seed}.csv", zip(steps_.tolist(), values.tolist(), strict=True))


def worker_sb3(seed: int, steps: int, out: Path) -> None:
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import EvalCallback

    torch.set_num_threads(1)
    env, eval_env = gym.make("HalfCheetah-v5"), gym.make("HalfCheetah-v5")
    log = out / f"sb3_seed{seed}_eval"
    callback = EvalCallback(eval_env, n_eval_episodes=EVAL_EPISODES, eval_freq=EVAL_EVERY,
                            deterministic=True, log_path=str(log), verbose=0)
    model = SAC("MlpPolicy", env, learning_starts=LEARNING_STARTS, batch_size=256,
                device="cpu", seed=seed)
    model.learn(total_timesteps=steps, callback=callback)
    data = np.load(log / "evaluations.npz")
    rows = zip(data["timesteps"].tolist(), data["results"].mean(1).tolist(), strict=True)
    _write(out / f"sb3_seed{seed}.csv", rows)


def _write(path: Path, rows) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "return"])
        writer.writerows(rows)


def _read(path: Path) -> tuple[list[int], list[float]]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return [int(r["step"]) for r in rows], [float(r["return"]) for r in rows]


def report(out: Path, seeds: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    print("| framework | seed | return at the last evaluation | steps |")
    print("|---|---|---|---|")
    for name in ("robovision", "sb3"):
        curves = []
        for seed in seeds:
            path = out / f"{name}_seed{seed}.csv"
            if path.exists():
                steps, values = _read(path)
                curves.append((steps, values))
                print(f"| {name} | {seed} | {values[-1]:.0f} | {steps[-1]} |")
        if not curves:
            continue
        n = min(len(c[1]) for c in curves)
        values = np.array([c[1][:n] for c in curves])
        ax.plot(curves[0][0][:n], values.mean(0), label=f"{name} ({len(curves)} seeds)")
        ax.fill_between(curves[0][0][:n], values.min(0), values.max(0), alpha=0.2)
        print(f"| {name} | mean | {values[:, -1].mean():.0f} +- {values[:, -1].std():.0f} | |")
    ax.set_xlabel("agent steps")
    ax.set_ylabel("mean evaluation return (10 episodes)")
    ax.set_title("SAC on HalfCheetah-v5")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/bench_learning")
    parser.add_argument("--worker", choices=["robovision", "sb3"])
    parser.add_argument("--report", action="store_true", help="only summarise what exists")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        fn = worker_robovision if args.worker == "robovision" else worker_sb3
        fn(args.seeds[0], args.steps, out)
        return
    if not args.report:
        env = {**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
        for seed in args.seeds:
            procs = [subprocess.Popen([sys.executable, __file__, "--worker", name, "--seeds",
                                       str(seed), "--steps", str(args.steps), "--out", str(out)],
                                      env=env) for name in ("robovision", "sb3")]
            for proc in procs:
                proc.wait()
    report(out, args.seeds)


if __name__ == "__main__":
    main()
