"""Render time per 84x84 frame, default MuJoCo settings vs fast_render (shadows and
multisampling off), alternating in one process.

    python scripts/bench_render.py --frames 300 --repeats 3

``--camera`` instead measures the persistent dm_control camera (the CPU proxy of
issue 11): ms per pixel env step (physics step + frame, action repeat 1, frame stack 1)
with the env's persistent camera and with ``physics.render`` per frame (a new camera
and scene each call), each against a bare ``physics.render`` of the same size in the
same process, alternating:

    python scripts/bench_render.py --camera --frames 300 --repeats 3

``--context`` measures what making the env's own GL context current before every frame
costs (what lets several MuJoCo envs render in one process): ms per frame with and
without it, alternating, for a dm_control task and a gymnasium MuJoCo env:

    python scripts/bench_render.py --context --frames 1000 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("MUJOCO_GL", "egl")


def time_renders(fast: bool, spec: str, frames: int) -> float:
    from robovision import make_env
    from robovision.wrappers.pixels import pixel_wrapper

    env = make_env(spec, obs="pixels", seed=0, frame_stack=1, action_repeat=1, fast_render=fast)
    env.reset(seed=0)
    pixels = pixel_wrapper(env)
    pixels.render_frame()  # create the render context outside the timing
    start = time.perf_counter()
    for _ in range(frames):
        env.unwrapped.step(env.action_space.sample())
        pixels.render_frame()
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed / frames * 1e3


def time_steps(env, frames: int) -> float:
    """ms per env step (each renders one frame)."""
    start = time.perf_counter()
    for _ in range(frames):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return (time.perf_counter() - start) / frames * 1e3


def time_physics_render(physics, size: int, frames: int) -> float:
    start = time.perf_counter()
    for _ in range(frames):
        physics.render(size, size, camera_id=0)
    return (time.perf_counter() - start) / frames * 1e3


def compare_cameras(spec: str, frames: int, repeats: int) -> None:
    from robovision import make_env
    from robovision.wrappers import PixelObservation

    env = make_env(spec, obs="pixels", seed=0, frame_stack=1, action_repeat=1)
    env.reset(seed=0)
    physics = env.unwrapped.physics
    results: dict[str, list[float]] = {"persistent camera": [], "physics.render per frame": []}
    bare: list[float] = []
    for _ in range(repeats):
        for name, persistent in (("persistent camera", True),
                                 ("physics.render per frame", False)):
            PixelObservation.PERSISTENT_CAMERA = persistent
            time_steps(env, 20)  # warm up
            results[name].append(time_steps(env, frames))
            bare.append(time_physics_render(physics, 84, frames))
    PixelObservation.PERSISTENT_CAMERA = True
    env.close()
    print(f"{spec} 84x84 (fast_render), ms per pixel env step vs a bare physics.render, "
          f"MUJOCO_GL={os.environ['MUJOCO_GL']}, {repeats} alternating rounds")
    print("| env renders with | ms per env step (median) | min-max | "
          "ratio to physics.render (median) |")
    print("|---|---|---|---|")
    for name, values in results.items():
        pairs = bare[0::2] if name.startswith("persistent") else bare[1::2]
        ratios = [v / b for v, b in zip(values, pairs, strict=True)]
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}-"
              f"{max(values):.2f} | {statistics.median(ratios):.2f} |")
    print(f"bare physics.render: {statistics.median(bare):.2f} ms (median)")


def time_frames(pixels, frames: int) -> float:
    """ms per rendered frame (no physics step)."""
    start = time.perf_counter()
    for _ in range(frames):
        pixels.render_frame()
    return (time.perf_counter() - start) / frames * 1e3


def _own_context(env, current: bool) -> None:
    """Make ``env``'s own GL context current before each frame, or (``current=False``)
    leave whichever is current, as before robovision did."""
    from robovision.wrappers import gl_context
    from robovision.wrappers import pixels as pixel_module

    renderer = getattr(env.unwrapped, "mujoco_renderer", None)
    if renderer is not None:
        own = gl_context.own_context_gymnasium_renderer()
        renderer.__class__ = own if current else own.__base__
    pixel_module.make_dm_control_context_current = (
        gl_context.make_dm_control_context_current if current else lambda physics: None)


def time_context_switch(spec: str, frames: int, repeats: int) -> dict[bool, list[float]]:
    from robovision import make_env
    from robovision.wrappers.pixels import pixel_wrapper

    env = make_env(spec, obs="pixels", seed=0, frame_stack=1, action_repeat=1)
    env.reset(seed=0)
    pixels = pixel_wrapper(env)
    times: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(repeats):
        for current in (True, False) if round_ % 2 == 0 else (False, True):
            _own_context(env, current)
            time_frames(pixels, 20)  # warm up
            times[current].append(time_frames(pixels, frames))
    _own_context(env, True)
    env.close()
    return times


def compare_context_switch(frames: int, repeats: int) -> None:
    print(f"ms per 84x84 frame (fast_render), own GL context made current before each "
          f"frame or not, MUJOCO_GL={os.environ['MUJOCO_GL']}, {repeats} alternating rounds "
          f"of {frames} frames")
    print("| env | with (median) | without (median) | ratio with/without (median, "
          "min-max) |")
    print("|---|---|---|---|")
    for spec in ("dmc/cheetah-run", "HalfCheetah-v5"):
        times = time_context_switch(spec, frames, repeats)
        ratios = [a / b for a, b in zip(times[True], times[False], strict=True)]
        print(f"| {spec} | {statistics.median(times[True]):.3f} | "
              f"{statistics.median(times[False]):.3f} | {statistics.median(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="dmc/cheetah-run")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--camera", action="store_true",
                        help="persistent camera vs physics.render per frame")
    parser.add_argument("--context", action="store_true",
                        help="own GL context made current per frame vs not")
    args = parser.parse_args()
    if args.context:
        compare_context_switch(args.frames, args.repeats)
        return
    if args.camera:
        compare_cameras(args.spec, args.frames, args.repeats)
        return
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
