"""Agent steps per second of every manip/<task>, from state and from 84x84 pixels with
default and fast rendering (random actions, action repeat 1, frame stack 1, after a
reset, which is left out of the timing).

    python scripts/bench_manipulation.py --steps 100
    python scripts/bench_manipulation.py --tasks robotics/FetchPickAndPlace-v4 metaworld/reach-v3
    python scripts/bench_manipulation.py --resets 20 --repeats 3 --tasks reach_site
    python scripts/bench_manipulation.py --seeded-resets 10 --tasks reach_site reach_duplo
    python scripts/bench_manipulation.py --substeps 300 --repeats 3

``--resets N``: ms per reset (plus one step) with dm_control's per-episode rebuild of the
physics forced on against robovision's default (skipped where the task edits no part of
its model between episodes), alternating in one process, state and 84x84 fast pixels.

``--seeded-resets N``: ms per ``reset(seed=i)`` from state, building the env anew from
the seed (what robovision did before 2026-11-25) against reseeding its random state in
place (what it does now), alternating in one env, N of each.

``--substeps N``: control steps/s from state, N random steps, with a control step's 20
physics substeps in one ``physics.step`` call (robovision's default since 2026-11-26)
against composer's substep-by-substep loop, alternating, ``--repeats`` times each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")


def spec_of(task: str) -> str:
    """``manip/<task>`` for a bare task name; a full spec (``robotics/FetchReach-v4``,
    ``metaworld/reach-v3``) as given."""
    return task if "/" in task else f"manip/{task}"


def steps_per_second(task: str, obs: str, fast: bool, steps: int, **options) -> float:
    from robovision import make_env

    pixel = {"image_size": 84, "frame_stack": 1, "fast_render": fast} if obs != "state" else {}
    env = make_env(spec_of(task), obs=obs, action_repeat=1, **pixel, **options)
    env.reset(seed=0)
    env.step(env.action_space.sample())  # render context and caches outside the timing
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def reset_ms(task: str, obs: str, rebuild: bool, resets: int) -> float:
    from robovision import make_env
    from robovision.envs import manipulation

    default = manipulation.changes_mjcf_per_episode
    if rebuild:
        manipulation.changes_mjcf_per_episode = lambda task: True
    try:  # the env is built once, here: the choice holds until the end
        pixel = {"image_size": 84, "frame_stack": 1} if obs != "state" else {}
        env = make_env(f"manip/{task}", obs=obs, action_repeat=1, **pixel)
        env.reset(seed=0)
        env.step(env.action_space.sample())
        start = time.perf_counter()
        for _ in range(resets):
            env.reset()
            env.step(env.action_space.sample())
        elapsed = time.perf_counter() - start
        env.close()
    finally:
        manipulation.changes_mjcf_per_episode = default
    return elapsed / resets * 1e3


def alternating(measure: Callable[[Any], float], sides: tuple, repeats: int
                ) -> dict[Any, list[float]]:
    """``measure(side)`` for each side in turn, ``repeats`` rounds: the samples per side."""
    samples: dict[Any, list[float]] = {side: [] for side in sides}
    for _ in range(repeats):
        for side in sides:
            samples[side].append(measure(side))
    return samples


def median_range(values: list[float], digits: int = 0) -> str:
    """``median (min-max)``, as the tables print a side's samples."""
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def compare_resets(tasks: list[str], resets: int, repeats: int) -> None:
    print(f"ms per reset + one step, {resets} resets, {repeats} alternating repeats (median, "
          "range)")
    print("| task | obs | rebuilt every reset | robovision | ratio |")
    print("|---|---|---|---|---|")
    for task in tasks:
        for obs in ("state", "pixels"):
            times = alternating(partial(reset_ms, task, obs, resets=resets), (True, False),
                                repeats)
            cells = [median_range(times[True], 1), median_range(times[False], 1)]
            ratio = statistics.median(times[False]) / statistics.median(times[True])
            print(f"| {task} | {obs} | {cells[0]} | {cells[1]} | {ratio:.2f} |", flush=True)


def compare_seeded_resets(tasks: list[str], resets: int) -> None:
    from robovision import make_env

    print(f"ms per seeded reset from state, {resets} of each, alternating (median, range)")
    print("| task | env built anew from the seed | random state reseeded in place | ratio |")
    print("|---|---|---|---|")
    for task in tasks:
        env = make_env(f"manip/{task}", obs="state").unwrapped
        times: dict[str, list[float]] = {"rebuild": [], "in place": []}
        for seed in range(resets):
            start = time.perf_counter()
            env._env.close()
            env._env = env._make(seed=seed)
            env._env.reset()
            times["rebuild"].append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            env.reset(seed=seed)
            times["in place"].append((time.perf_counter() - start) * 1e3)
        env.close()
        cells = [median_range(v) for v in times.values()]
        ratio = statistics.median(times["in place"]) / statistics.median(times["rebuild"])
        print(f"| {task} | {cells[0]} | {cells[1]} | {ratio:.2f} |", flush=True)


def compare_substeps(tasks: list[str], steps: int, repeats: int) -> None:
    print(f"control steps/s from state, {steps} random steps, {repeats} alternating repeats "
          "(median, range)")
    print("| task | composer's substep loop | one physics.step call | speed-up |")
    print("|---|---|---|---|")
    for task in tasks:
        rates = alternating(lambda batched, task=task: steps_per_second(
            task, "state", True, steps, batch_substeps=batched), (False, True), repeats)
        cells = [median_range(v) for v in rates.values()]
        ratio = statistics.median(rates[True]) / statistics.median(rates[False])
        print(f"| {task} | {cells[0]} | {cells[1]} | {ratio:.2f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--resets", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeded-resets", type=int, default=0)
    parser.add_argument("--substeps", type=int, default=0)
    args = parser.parse_args()
    from robovision.envs.manipulation import TASKS

    if args.substeps:
        compare_substeps(args.tasks or list(TASKS), args.substeps, args.repeats)
        return
    if args.seeded_resets:
        compare_seeded_resets(args.tasks or list(TASKS), args.seeded_resets)
        return
    if args.resets:
        compare_resets(args.tasks or list(TASKS), args.resets, args.repeats)
        return

    print(f"agent steps/s, {args.steps} random steps each, MUJOCO_GL={os.environ['MUJOCO_GL']}")
    print("| task | state | pixels, default render | pixels, fast_render |")
    print("|---|---|---|---|")
    for task in args.tasks or TASKS:
        rates = [steps_per_second(task, "state", True, args.steps),
                 steps_per_second(task, "pixels", False, args.steps),
                 steps_per_second(task, "pixels", True, args.steps)]
        print(f"| {task} | " + " | ".join(f"{r:.0f}" for r in rates) + " |", flush=True)


if __name__ == "__main__":
    main()
