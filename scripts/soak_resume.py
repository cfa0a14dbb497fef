"""Soak test of resume: SIGKILL a training run at random moments, resume it each time.

A ``pendulum_sac`` run checkpoints and logs often (so kills land during checkpoint and
CSV writes too); it is killed with SIGKILL ``--kills`` times at random moments and
resumed after each kill with ``robovision resume``. At every kill the script records
the last step the run had logged and the step of the checkpoint it resumes from:
the difference is the work lost to that kill. At the end the run must finish its
budget with a readable checkpoint and a metrics.csv without duplicated rows (envs in
lockstep may end episodes at the same step: up to ``--envs`` episode rows a step).

    python scripts/soak_resume.py --kills 20 --seed 0
    python scripts/soak_resume.py --kills 10 --envs 2 --env-worker
"""

from __future__ import annotations

import argparse
import csv
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

CHECKPOINT_EVERY = 100
TOTAL = 10000


def robovision(*args: str) -> list[str]:
    return [sys.executable, "-m", "robovision.cli", *args]


def last_logged_step(run: Path) -> int:
    try:
        with (run / "metrics.csv").open(newline="") as f:
            steps = [int(r[0]) for r in csv.reader(f) if r and r[0].isdigit()]
    except FileNotFoundError:
        return 0
    return max(steps, default=0)


def checkpoint_step(run: Path) -> int:
    import torch

    path = run / "checkpoints" / "latest.pt"
    if not path.exists():
        return 0
    return int(torch.load(path, weights_only=True)["counters"]["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-wait", type=float, default=3.0)
    parser.add_argument("--max-wait", type=float, default=10.0)
    parser.add_argument("--envs", type=int, default=1,
                        help="env.num_envs (several: envs in lockstep, a replay lane each)")
    parser.add_argument("--env-worker", action="store_true",
                        help="train.env_worker=true (each env in a process of its own)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    run = Path(tempfile.mkdtemp(prefix="soak-")) / "run"
    common = [f"train.total_steps={TOTAL}", f"train.checkpoint_every={CHECKPOINT_EVERY}",
              "train.eval_every=1000", "train.eval_episodes=1", "train.log_every=25",
              "train.progress=false", "threads=1", f"env.num_envs={args.envs}",
              f"train.env_worker={str(args.env_worker).lower()}"]
    lost: list[int] = []
    command = robovision("train", "pendulum_sac", f"run_dir={run}", *common)
    for kill in range(args.kills):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(args.min_wait, args.max_wait))
        if proc.poll() is not None:
            print(f"kill {kill + 1}: the run had already ended (rc {proc.returncode}); "
                  f"{proc.stderr.read().decode()[-500:]}")
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        logged, saved = last_logged_step(run), checkpoint_step(run)
        lost.append(max(0, logged - saved))
        print(f"kill {kill + 1:2d}: logged up to step {logged}, resumes from {saved} "
              f"(lost {lost[-1]})", flush=True)
        command = robovision("resume", str(run), *common[:1])
    final = subprocess.run(robovision("resume", str(run)), capture_output=True, text=True)
    ok = final.returncode == 0 and checkpoint_step(run) == TOTAL
    with (run / "metrics.csv").open(newline="") as f:
        rows = [tuple(r[:4]) for r in csv.reader(f)][1:]
    # Envs in lockstep can end episodes at the same step: up to --envs episode rows a step.
    counts = Counter((r[0], r[3]) for r in rows)
    duplicates = sum(max(0, n - (args.envs if name.startswith("train/episode_") else 1))
                     for (_, name), n in counts.items())
    print(f"\n{len(lost)} kills; steps lost per kill: median {statistics.median(lost):.0f}, "
          f"max {max(lost)}, mean {statistics.mean(lost):.0f} (checkpoint every "
          f"{CHECKPOINT_EVERY} steps)")
    print(f"final run: {'finished' if ok else 'FAILED'} at step {checkpoint_step(run)} of "
          f"{TOTAL}; duplicated metric rows: {duplicates}; run dir {run}")
    if not ok:
        print(final.stderr[-2000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
