"""Several runs of one preset side by side on one machine (one GPU): frames/s of each run
and of all together, against the same preset alone (issue 14's GPU figure).

    python scripts/bench_concurrent.py --runs 1 --seconds 265 -- device=cuda
    python scripts/bench_concurrent.py --runs 3 --seconds 470 -- device=cuda threads=4

Each run is a plain ``robovision train PRESET seed=<i>`` process (seeds 0..runs-1, the
preset's evaluations included), stopped with SIGINT at the deadline (it checkpoints and
exits) unless it finishes first. A run's rate is its frames at its last logged row over
that row's ``wall_time``; "together" is the sum of the runs' rates. Frames are environment
frames (the CSV's ``frames`` column: agent steps x action repeat).
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def last_row(run_dir: Path) -> tuple[int, float, float | None]:
    """(frames, wall_time, last evaluation return) at the end of a run's metrics.csv."""
    frames, wall, last_eval = 0, 0.0, None
    with open(run_dir / "metrics.csv") as f:
        for row in csv.DictReader(f):
            frames, wall = int(row["frames"]), float(row["wall_time"])
            if row["name"] == "eval/return_mean":
                last_eval = float(row["value"])
    return frames, wall, last_eval


def start_run(preset: str, seed: int, run_dir: Path, overrides: list[str]) -> subprocess.Popen:
    """``robovision train`` in a process of its own, its output in ``RUN_DIR.log``."""
    code = "import sys; from robovision.cli import main; sys.exit(main())"
    args = [sys.executable, "-c", code, "train", preset, f"seed={seed}", f"run_dir={run_dir}",
            "train.progress=false", "train.video=false", *overrides]
    with open(run_dir.with_suffix(".log"), "w") as log:  # the child keeps its own copy
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cheetah_run_pixels")
    parser.add_argument("--runs", type=int, default=3, help="runs side by side (seeds 0..N-1)")
    parser.add_argument("--seconds", type=float, default=470, help="deadline for every run")
    parser.add_argument("overrides", nargs="*", help="key=value for every run (after --)")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    with tempfile.TemporaryDirectory() as root:
        dirs = [Path(root) / f"seed_{seed}" for seed in range(args.runs)]
        procs = [start_run(args.preset, seed, d, args.overrides) for seed, d in enumerate(dirs)]
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(1)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # checkpoint at the next step, then exit
        for p in procs:
            p.wait()
        print(f"| {args.preset}, {args.runs} at once | frames | s | frames/s | last eval |")
        print("|---|---|---|---|---|")
        total = 0.0
        for seed, d in enumerate(dirs):
            frames, wall, last_eval = last_row(d)
            rate = frames / wall if wall else 0.0
            total += rate
            shown = "" if last_eval is None else f"{last_eval:.1f}"
            print(f"| seed {seed} | {frames} | {wall:.0f} | {rate:.1f} | {shown} |")
        print(f"| together | | | **{total:.1f}** | |")


if __name__ == "__main__":
    main()
