"""Render time per 84x84 frame, default MuJoCo settings vs fast_render (shadows and
multisampling off), alternating in one process.

    python scripts/bench_render.py --frames 300 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("MUJOCO_GL", "egl")


def time_renders(fast: bool, spec: str, frames: int) -> float:
    from robovision import make_env

    env = make_env(spec, obs="pixels", seed=0, frame_stack=1, action_repeat=1, fast_render=fast)
    env.reset(seed=0)
    pixels = env
    while not hasattr(pixels, "render_frame"):
        pixels = pixels.env
    pixels.render_frame()  # create the render context outside the timing
    start = time.perf_counter()
    for _ in range(frames):
        env.unwrapped.step(env.action_space.sample())
        pixels.render_frame()
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed / frames * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", default="dmc/cheetah-run")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    default, fast = [], []
    for _ in range(args.repeats):
        default.append(time_renders(False, args.spec, args.frames))
        fast.append(time_renders(True, args.spec, args.frames))
    ratios = [d / f for d, f in zip(default, fast, strict=True)]
    print(f"{args.spec} 84x84, ms per frame (physics step + render), MUJOCO_GL="
          f"{os.environ['MUJOCO_GL']}")
    print(f"| setting | ms/frame (median of {args.repeats}) | min-max |")
    print("|---|---|---|")
    print(f"| default | {statistics.median(default):.2f} | {min(default):.2f}-{max(default):.2f} |")
    print(f"| fast_render | {statistics.median(fast):.2f} | {min(fast):.2f}-{max(fast):.2f} |")
    print(f"speed-up {statistics.median(ratios):.1f}x (range {min(ratios):.1f}-{max(ratios):.1f})")


if __name__ == "__main__":
    main()
