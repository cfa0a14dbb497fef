"""The replay's redraws of final-observation slots (``ReplayBuffer.REDRAWS``), before
(0: such a draw went to the step before it) and after (3), in one process, alternating.

    python scripts/bench_redraws.py time                # ms per sample_starts / sample
    python scripts/bench_redraws.py learn --seeds 0 1 2 3

``time``: the main job's replay shapes (``bench_sample.main_job_replay``: 3 stacked
84x84 RGB frames, 3-step returns, episodes of 500 agent steps), batch 256, 7
alternating rounds; prints medians, ranges and the after/before ratio.

``learn``: ``reach_site_dense_state_sac`` (19-step episodes, where the old rule drew
each last step twice as often) for ``--steps`` agent steps with the learning test's
settings; prints the final evaluation's success rate and return.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

RULES = (0, 3)


def _per_call_ms(fn, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e3


def time_sampling(rounds: int) -> None:
    import torch
    from bench_sample import main_job_replay  # this script's folder is on sys.path

    from robovision.replay import ReplayBuffer
    from robovision.runtime import tune_allocator

    tune_allocator()
    replay, _ = main_job_replay(15_000)
    found: dict[tuple[str, int], list[float]] = {
        (what, r): [] for what in ("sample_starts", "sample") for r in RULES}
    torch.manual_seed(0)
    for _ in range(rounds):
        for redraws in RULES:
            ReplayBuffer.REDRAWS = redraws
            found["sample_starts", redraws].append(
                _per_call_ms(lambda: replay.sample_starts(256), 2000))
            found["sample", redraws].append(_per_call_ms(lambda: replay.sample(256), 100))
    for what in ("sample_starts", "sample"):
        for r in RULES:
            ms = found[what, r]
            print(f"{what:13s} REDRAWS={r}: median {statistics.median(ms):.4f} ms "
                  f"(range {min(ms):.4f}-{max(ms):.4f})")
        ratios = [a / b for a, b in zip(found[what, RULES[1]], found[what, RULES[0]],
                                        strict=True)]
        print(f"{what:13s} after/before: median {statistics.median(ratios):.3f} "
              f"(range {min(ratios):.3f}-{max(ratios):.3f})")


def learn(seeds: list[int], steps: int) -> None:
    from robovision.config import load_config
    from robovision.logging import read_metrics
    from robovision.loop import train
    from robovision.replay import ReplayBuffer

    for seed in seeds:
        for redraws in RULES:
            ReplayBuffer.REDRAWS = redraws
            cfg = load_config("reach_site_dense_state_sac", [
                f"train.total_steps={steps}", "train.eval_every=0", "train.eval_episodes=20",
                "train.checkpoint_every=0", "train.progress=false", f"seed={seed}"])
            with tempfile.TemporaryDirectory() as run_dir:
                started = time.monotonic()
                train(cfg, run_dir)
                metrics = read_metrics(run_dir)
            success = metrics["eval/success_rate"][2][-1]
            ret = metrics["eval/return_mean"][2][-1]
            print(f"seed {seed} REDRAWS={redraws}: success {success:.2f}, return {ret:.1f} "
                  f"({time.monotonic() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["time", "learn"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--steps", type=int, default=12_000, help="agent steps per run")
    args = parser.parse_args()
    if args.what == "time":
        time_sampling(args.rounds)
    else:
        learn(args.seeds, args.steps)


if __name__ == "__main__":
    main()
