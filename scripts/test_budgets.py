"""Budgets for the learning tests: evaluation curves over several seeds.

Each case below trains what one learning test trains (same preset and overrides), for
several seeds, evaluating every ``--every`` agent steps. It prints each seed's curve and
the first evaluated step from which every seed stays at or above the test's threshold;
a test's budget should sit above that step, with margin, and its seed among those run.

    python scripts/test_budgets.py pendulum_sac --seeds 0 1 2 3 --every 500

``--set KEY=VALUE ...`` adds overrides, to read the curves of a cheaper configuration
(a smaller batch, say) before a test adopts it.

Steps are agent steps (the tests' unit); with ``env.num_envs=2`` each agent step
collects two env steps.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """A learning test: its preset, budget (``steps``, agent steps), threshold on
    ``metric`` and overrides, as the test has them."""

    preset: str
    steps: int
    threshold: float
    overrides: tuple[str, ...] = ()
    metric: str = "eval/return_mean"


SMALL = ("agent.hidden=[128,128]", "train.batch_size=128")
"""The smaller networks and batches of the SAC and DDPG pendulum tests."""

CASES = {
    "pendulum_sac": Case("pendulum_sac", 4500, -400.0, ("env.num_envs=1", *SMALL)),
    "pendulum_td3": Case("pendulum_td3", 7000, -400.0, ("env.num_envs=1",)),
    "pendulum_ddpg": Case("pendulum_ddpg", 7000, -400.0, ("env.num_envs=2", *SMALL)),
    "inverted_pendulum_ppo": Case("inverted_pendulum_ppo", 40960, 500.0),
    "point_reach_pixels_sac": Case("point_reach_pixels_sac", 1000, -10.0),
    "box_localization_ppo": Case("box_localization_ppo", 24576, 1.0),
    "landmark2d_ppo": Case("landmark2d_ppo", 20480, 8.0, ("env.options.num_images=200",)),
    "landmark2d_td3": Case("landmark2d_td3", 3000, 8.0, ("env.options.num_images=200",
                                                          "train.batch_size=64")),
    # its test scores all 100 held-out images; the curve samples them (--episodes)
    "box_localization_sac": Case("box_localization_sac", 4000, 0.3,
                                 ("env.eval_options.split=test", "train.batch_size=32"),
                                 "eval/success_rate"),
}


def curve(case: Case, seed: int, every: int, episodes: int, run_dir: Path):
    """(steps, values) of ``case.metric`` for one seed, evaluated every ``every`` steps."""
    from robovision.config import load_config
    from robovision.logging import read_metrics
    from robovision.loop import train

    cfg = load_config(case.preset, [
        *case.overrides, f"train.total_steps={case.steps}", f"train.eval_every={every}",
        f"train.eval_episodes={episodes}", "train.checkpoint_every=0", "train.log_every=1000",
        "train.progress=false", "train.eval_async=false", f"seed={seed}"])
    train(cfg, run_dir)
    steps, _, values = read_metrics(run_dir)[case.metric]
    return steps.tolist(), values.tolist()


def stays_above(curves: dict[int, tuple[list, list]], threshold: float) -> int | None:
    """The first evaluated step from which every seed's curve stays >= ``threshold``."""
    candidates = sorted({s for steps, _ in curves.values() for s in steps})
    for start in candidates:
        if all(all(v >= threshold for s, v in zip(*c, strict=True) if s >= start)
               for c in curves.values()):
            return start
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--every", type=int, default=500, help="agent steps between evaluations")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per evaluation")
    parser.add_argument("--steps", type=int, help="train this long instead of the test's budget")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides on top of the test's")
    args = parser.parse_args(argv)
    case = budget = CASES[args.case]
    if args.steps:
        case = replace(case, steps=args.steps)
    if args.set:
        case = replace(case, overrides=(*case.overrides, *args.set))
    curves = {}
    for seed in args.seeds:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            curves[seed] = curve(case, seed, args.every, args.episodes, Path(tmp))
        points = "  ".join(f"{s}:{v:.2f}" for s, v in zip(*curves[seed], strict=True))
        print(f"seed {seed} ({time.perf_counter() - started:.0f} s)  {points}", flush=True)
    first = stays_above(curves, case.threshold)
    print(f"{args.case}: every seed stays >= {case.threshold:g} from step {first} "
          f"(test budget today: {budget.steps})")


if __name__ == "__main__":
    sys.exit(main())
