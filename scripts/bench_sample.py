"""ms per sampled batch from the main job's replay (issue 11's CPU proxy), and ms per
stored transition.

The replay is shaped like ``cheetah_run_pixels``'s: 84x84 RGB, frame stack 3, n-step 3,
action dim 6, batch 256; it is filled with ``--fill`` synthetic transitions in episodes
of 500 agent steps (sampling cost does not depend on pixel values), with the allocator
settings a training run uses (``runtime.tune_allocator``). Prints one line of JSON, so
two checkouts can be compared by running it alternately from each (``PYTHONPATH`` set to
the checkout, or an installed robovision wins):

    python scripts/bench_sample.py --repeats 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def main_job_replay(fill: int):
    """A replay shaped like the main job's, holding ``fill`` synthetic steps in episodes
    of 500, and the ms each ``add`` took."""
    from gymnasium import spaces

    from robovision.replay import ReplayBuffer

    obs_space = spaces.Box(0, 255, (9, 84, 84), np.uint8)
    action_space = spaces.Box(-1, 1, (6,), np.float32)
    replay = ReplayBuffer(obs_space, action_space, fill + fill // 100 + 10,
                          gamma=0.99, n_step=3, frame_stack=3)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (9, 84, 84), dtype=np.uint8) for _ in range(8)]
    obs = frames[0]
    start = time.perf_counter()
    for t in range(fill):
        next_obs = frames[t % 8]
        replay.add(obs, rng.uniform(-1, 1, 6), 1.0, next_obs, False, t % 500 == 499)
        obs = next_obs
    return replay, (time.perf_counter() - start) / fill * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fill", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()

    import torch

    from robovision.runtime import tune_allocator

    tune_allocator()  # as a training run does
    if args.threads:
        torch.set_num_threads(args.threads)
    replay, add_ms = main_job_replay(args.fill)
    replay.sample(args.batch)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        replay.sample(args.batch)
        times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"sample_ms": statistics.median(times), "sample_ms_min": min(times),
                      "add_ms": add_ms, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
