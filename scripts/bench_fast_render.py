"""Does ``fast_render`` (shadows and multisampling off) change learning from pixels?

Trains a pixel agent on a small dm_control task with ``env.fast_render`` on and off,
same seeds: DrQ-v2 on cartpole-balance (``--setup drqv2``), a cheaper SAC on
point_mass-easy (``--setup sac``), or that SAC on the point mass with a dense reward
(``--setup reach``, ``robovision/PointMassReach-v0``: the one that learns on a CPU).
Each seed's two runs train side by side (one torch thread each) so they share the
machine's load. Evaluation uses the run's own render setting.
Reports evaluation return (environment frames on the x axis) per setting, the wall
time of each run, and writes ``OUT/curves.png``.

    python scripts/bench_fast_render.py --frames 24000 --seeds 0 1 --out runs/bench_fast_render
    python scripts/bench_fast_render.py --setup sac --frames 64000 --seeds 0 1 --out runs/fr_sac
    python scripts/bench_fast_render.py --setup reach --frames 32000 --seeds 0 1 2 \
        --out runs/fr_reach
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
SETTINGS = {"fast": "true", "default": "false"}


def drqv2_overrides(frames: int) -> list[str]:
    """cartpole_swingup_pixels (DrQ-v2) retargeted to a task that learns in few frames."""
    return ["env.action_repeat=8", "env.image_size=64", "train.learning_starts=2000",
            "train.update_every=1", "train.eval_episodes=5", "train.buffer_size=50000",
            f"agent.noise_schedule=linear(1.0,0.1,{frames // 16})"]


def sac_overrides(frames: int) -> list[str]:
    """point_reach_pixels_sac (SAC, small encoder input) on a dm_control task: 48x48,
    frame stack 3, action repeat 8, batch 64, bf16 encoder; budgets in frames."""
    return ["train.unit=frames", "env.action_repeat=8", "env.image_size=48",
            "env.frame_stack=3", "train.learning_starts=2400", "train.batch_size=64",
            "agent.encoder.amp=true", "train.eval_episodes=5", "train.buffer_size=50000"]


def reach_overrides(frames: int) -> list[str]:
    """point_reach_pixels_sac on the dense-reward point mass: 64x64 (the mass is about
    2 pixels wide), frame stack 3, action repeat 8, bf16 encoder; budgets in frames."""
    return ["train.unit=frames", "env.action_repeat=8", "env.image_size=64",
            "env.frame_stack=3", "train.learning_starts=4000", "agent.encoder.amp=true",
            "train.eval_episodes=5", "train.buffer_size=50000"]


SETUPS = {"drqv2": ("cartpole_swingup_pixels", drqv2_overrides, "dmc/cartpole-balance"),
          "sac": ("point_reach_pixels_sac", sac_overrides, "dmc/point_mass-easy"),
          "reach": ("point_reach_pixels_sac", reach_overrides, "robovision/PointMassReach-v0")}


def launch(frames: int, seed: int, name: str, out: Path, setup: str, spec: str | None
           ) -> subprocess.Popen:
    preset, setup_overrides, default_spec = SETUPS[setup]
    run_dir = out / f"{name}_seed{seed}"
    cmd = [sys.executable, "-m", "robovision.cli", "train", preset,
           f"env.spec={spec or default_spec}", f"env.fast_render={SETTINGS[name]}",
           f"seed={seed}", f"train.total_steps={frames}", f"train.eval_every={frames // 6}",
           "train.checkpoint_every=0", "train.progress=false", "threads=1", "device=cpu",
           f"run_dir={run_dir}", *setup_overrides(frames)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL)


def curve(run_dir: Path) -> tuple[list[int], list[float]]:
    from robovision.logging import read_metrics

    _, frames, values = read_metrics(run_dir)["eval/return_mean"]
    return frames.tolist(), values.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=24_000, help="environment frames")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--setup", choices=SETUPS, default="drqv2",
                        help="drqv2: DrQ-v2 on cartpole-balance (64px); sac: SAC on "
                             "point_mass-easy (48px); reach: SAC on PointMassReach (64px)")
    parser.add_argument("--spec", help="another dm_control task for the setup")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_fast_render"))
    parser.add_argument("--report", action="store_true", help="only summarise existing runs")
    args = parser.parse_args()
    wall: dict[str, list[float]] = {name: [] for name in SETTINGS}
    if not args.report:
        for seed in args.seeds:
            start = time.perf_counter()
            procs = {name: launch(args.frames, seed, name, args.out, args.setup, args.spec)
                     for name in SETTINGS}
            for name, proc in procs.items():
                if proc.wait() != 0:
                    raise SystemExit(f"{name} seed {seed} failed (exit {proc.returncode})")
                wall[name].append(time.perf_counter() - start)
                print(f"  seed {seed} {name}: {wall[name][-1]:.0f} s", file=sys.stderr)
    report(args.out, args.seeds)


def report(out: Path, seeds: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    print("| setting | seed | " + " | ".join(f"{f:,}" for f in curve(
        out / f"fast_seed{seeds[0]}")[0]) + " |")
    for name, colour in zip(SETTINGS, ("tab:blue", "tab:orange"), strict=True):
        finals = []
        for seed in seeds:
            frames, values = curve(out / f"{name}_seed{seed}")
            finals.append(values[-1])
            print(f"| {name} | {seed} | " + " | ".join(f"{v:.0f}" for v in values) + " |")
            ax.plot(frames, values, color=colour, alpha=0.8,
                    label=name if seed == seeds[0] else None)
        spread = statistics.pstdev(finals) if len(finals) > 1 else 0.0
        print(f"| {name} | mean of finals | {statistics.mean(finals):.0f} +- {spread:.0f} |")
    ax.set_xlabel("environment frames")
    ax.set_ylabel("evaluation return")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)


if __name__ == "__main__":
    main()
