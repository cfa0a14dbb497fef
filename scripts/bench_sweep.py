"""The cost of running a training as a Ray Tune trial (issue 14).

The same run (``pendulum_sac``, a given budget, seed 0) is started as
``robovision train`` and as a one-trial ``robovision sweep``, alternating, each in a
fresh process. For each: wall time of the whole command, and the peak of the summed
resident memory of the command and every process under it (Ray's GCS, raylet,
agents and the trial's worker included), sampled every 0.2 s. RSS sums count shared
pages once per process, so they overstate both sides a little. The trial asks for as
many CPUs as the machine has physical cores: Ray sets a trial's torch threads to its
CPUs, and ``robovision train`` uses one thread per physical core.

    python scripts/bench_sweep.py --steps 3000 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

FAST = {"train.learning_starts": 500, "train.eval_every": 0, "train.eval_episodes": 2,
        "train.progress": False}


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    with contextlib.suppress(psutil.Error):  # processes come and go while we look
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak summed RSS (MiB) of ``command`` and its descendants."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(ps))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return wall, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="pendulum_sac")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    overrides = FAST | {"train.total_steps": args.steps}
    cli = [sys.executable, "-m", "robovision.cli"]
    results: dict[str, list[tuple[float, float]]] = {"train": [], "sweep": []}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "one.yaml"
        # the trial gets as many CPUs as torch uses threads under train (Ray sets
        # OMP_NUM_THREADS to a trial's CPUs), so both sides train alike
        cpus = psutil.cpu_count(logical=False) or 1
        spec.write_text(yaml.safe_dump({"preset": args.preset, "overrides": overrides,
                                        "seeds": [0], "resources": {"cpu": cpus}}))
        for i in range(args.repeats):
            train = [*cli, "train", args.preset, f"run_dir={tmp}/train{i}", "seed=0",
                     *(f"{k}={v}" for k, v in overrides.items())]
            sweep = [*cli, "sweep", str(spec), "--dir", f"{tmp}/sweep{i}"]
            for name, command in (("train", train), ("sweep", sweep)):
                wall, peak = measure(command)
                results[name].append((wall, peak))
                print(f"{name:5s} run {i}: {wall:6.1f} s, peak RSS {peak:7.0f} MiB", flush=True)
    print(f"\n{args.preset}, {args.steps} agent steps, {args.repeats} alternating pairs "
          f"(median, min-max)")
    for what, k, unit in (("wall time", 0, "s"), ("peak RSS", 1, "MiB")):
        train = [r[k] for r in results["train"]]
        sweep = [r[k] for r in results["sweep"]]
        ratios = [s / t for s, t in zip(sweep, train, strict=True)]
        print(f"{what:9s}: train {statistics.median(train):.1f} {unit} "
              f"({min(train):.1f}-{max(train):.1f}), sweep trial "
              f"{statistics.median(sweep):.1f} {unit} ({min(sweep):.1f}-{max(sweep):.1f}); "
              f"sweep - train {statistics.median(sweep) - statistics.median(train):+.1f} {unit},"
              f" ratio {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
