"""Agent steps per second of every manip/<task>, from state and from 84x84 pixels with
default and fast rendering (random actions, action repeat 1, frame stack 1, after a
reset; a seeded reset rebuilds the task and is left out of the timing).

    python scripts/bench_manipulation.py --steps 100
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")


def steps_per_second(task: str, obs: str, fast: bool, steps: int) -> float:
    from robovision import make_env

    pixel = {"image_size": 84, "frame_stack": 1, "fast_render": fast} if obs != "state" else {}
    env = make_env(f"manip/{task}", obs=obs, action_repeat=1, **pixel)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--tasks", nargs="*", default=None)
    args = parser.parse_args()
    from robovision.envs.manipulation import TASKS

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
