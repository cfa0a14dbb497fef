"""Where an SAC or TD3 update's time goes on this CPU, and the floor it implies.

Times one update (HalfCheetah-v5 shapes: 17-dim observations, 6-dim actions, batch
256, the hyper-parameters of ``bench_speed.py``) with the benchmark's networks and
with tiny [8, 8] networks. The tiny update does the same ops with almost no arithmetic,
so its time is the framework's fixed cost (operator dispatch, autograd, optimisers).
``torch.utils.flop_counter`` counts the matrix-product FLOPs of the real update, and
a 256x256x256 ``mm`` gives this CPU's matrix-product rate; the floor is the fixed cost
plus the FLOPs at that rate. Steps/s of a whole training loop are lower still (acting,
env step, replay sampling).

    python scripts/bench_state_update.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from gymnasium import spaces
from torch.utils.flop_counter import FlopCounterMode

from robovision.agents.registry import algorithm
from robovision.replay.batch import Batch
from robovision.runtime import tune_allocator

BATCH, OBS_DIM, ACTION_DIM = 256, 17, 6
HIDDEN = {"sac": [256, 256], "td3": [400, 300]}
LR = {"sac": 3e-4, "td3": 1e-3}


def make_agent(algo: str, hidden: list[int]):
    entry = algorithm(algo)
    cfg = entry.config(hidden=hidden, actor_lr=LR[algo], critic_lr=LR[algo])
    obs = spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
    act = spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
    return entry.agent_class()(cfg, obs, act, torch.device("cpu"))


def batches(count: int = 8) -> list[Batch]:
    g = torch.Generator().manual_seed(0)
    return [Batch(obs=torch.randn(BATCH, OBS_DIM, generator=g),
                  action=torch.rand(BATCH, ACTION_DIM, generator=g) * 2 - 1,
                  reward=torch.randn(BATCH, generator=g),
                  next_obs=torch.randn(BATCH, OBS_DIM, generator=g),
                  discount=torch.full((BATCH,), 0.99)) for _ in range(count)]


def update_ms(algo: str, hidden: list[int], updates: int) -> float:
    agent, data = make_agent(algo, hidden), batches()
    for i in range(20):
        agent.update(data[i % len(data)])
    start = time.perf_counter()
    for i in range(updates):
        agent.update(data[i % len(data)])
    return (time.perf_counter() - start) / updates * 1000


def update_gflop(algo: str) -> float:
    """Matrix-product GFLOP of one update, averaged over TD3's policy delay."""
    agent, data = make_agent(algo, HIDDEN[algo]), batches()
    counter = FlopCounterMode(display=False)
    with counter:
        for i in range(2):
            agent.update(data[i])
    return counter.get_total_flops() / 2 / 1e9


def mm_gflops(size: int = 256, calls: int = 300) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(30):
        a @ b
    start = time.perf_counter()
    for _ in range(calls):
        a @ b
    return 2 * size**3 * calls / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["sac", "td3"], choices=sorted(HIDDEN))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    tune_allocator()
    torch.set_num_threads(args.threads)
    rate = statistics.median(mm_gflops() for _ in range(args.repeats))
    print(f"# torch {torch.__version__}, {args.threads} threads; mm 256^3: {rate:.0f} GFLOP/s")
    print("| algo | update ms (min-max) | [8, 8] update ms (min-max) | GFLOP per update "
          "| floor ms | floor steps/s |")
    print("|---|---|---|---|---|---|")
    for algo in args.algos:
        real, tiny = [], []
        for _ in range(args.repeats):  # alternate so both see the same machine load
            real.append(update_ms(algo, HIDDEN[algo], args.updates))
            tiny.append(update_ms(algo, [8, 8], args.updates))
        gflop = update_gflop(algo)
        floor = statistics.median(tiny) + gflop / rate * 1000
        print(f"| {algo} {HIDDEN[algo]} | {statistics.median(real):.2f} ({min(real):.2f}-"
              f"{max(real):.2f}) | {statistics.median(tiny):.2f} ({min(tiny):.2f}-"
              f"{max(tiny):.2f}) | {gflop:.3f} | {floor:.2f} | {1000 / floor:.0f} |")


if __name__ == "__main__":
    main()
