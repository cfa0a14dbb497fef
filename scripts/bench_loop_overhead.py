"""The off-policy loop's own cost per agent step, without updates: act, env step, replay
add and the loop's bookkeeping, state SAC (``halfcheetah_sac``) on HalfCheetah-v5 on the
CPU, 100 random steps then acts. Prints ms per agent step (start-up and the final
1-episode evaluation included, which is the same for every code under test).

    python scripts/bench_loop_overhead.py [--steps 3000] [--envs 1]

To compare two commits, alternate processes with ``PYTHONPATH`` pointing at each tree.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from robovision.config import load_config
from robovision.loop import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--envs", type=int, default=1, help="env.num_envs (lockstep)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as run_dir:
        overrides = ["device=cpu", "train.progress=false", "train.eval_every=0",
                     "train.eval_episodes=1", "train.checkpoint_every=0",
                     f"train.total_steps={args.steps}", "train.learning_starts=100",
                     f"train.update_every={10**9}", "threads=1", f"run_dir={run_dir}"]
        if args.envs != 1:
            overrides.append(f"env.num_envs={args.envs}")
        start = time.perf_counter()
        train(load_config("halfcheetah_sac", overrides), Path(run_dir))
        wall = time.perf_counter() - start
    print(f"{wall / args.steps * 1e3:.3f}")


if __name__ == "__main__":
    main()
