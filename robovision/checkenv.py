"""``robovision check-env``: is this env fit to train on, and if not, what to fix.

Runs gymnasium's env checker on the env as built, then robovision's own checks on
what an agent would see: frame dtype, shape and channel order; frames of one colour
(the black frames of a missing GL backend); the same first frame after a reset with
the same seed; frames that change when the env steps (a camera that sees the robot);
action bounds and their rescaling; ``terminated`` vs ``truncated`` at the time limit;
render time per frame and steps per second.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from robovision.wrappers.pixels import pixel_wrapper

Level = Literal["ok", "warn", "fail"]


@dataclass
class Finding:
    level: Level
    check: str
    message: str


def _pixels(obs: Any) -> np.ndarray | None:
    """The image of an observation: itself, or a dict's image entries along channels."""
    if isinstance(obs, dict):
        images = [v for v in obs.values() if isinstance(v, np.ndarray) and v.ndim == 3]
        return np.concatenate(images, axis=0) if images else None
    return obs if isinstance(obs, np.ndarray) and obs.ndim == 3 else None


def _newest_frame(pixels: np.ndarray, frame_stack: int) -> np.ndarray:
    return pixels[-(pixels.shape[0] // frame_stack):]


def _task(env: gym.Env) -> gym.Env:
    """The env as its adapter serves it: the outermost wrapper defined in
    ``robovision.envs`` (Meta-World's seeds the resets that Meta-World ignores), else the
    base env."""
    while isinstance(env, gym.Wrapper):
        if type(env).__module__.startswith("robovision.envs."):
            return env
        env = env.env
    return env


def check_gymnasium(env: gym.Env) -> list[Finding]:
    from gymnasium.utils.env_checker import check_env as gym_check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            gym_check_env(_task(env), skip_render_check=True)
        except Exception as exc:
            return [Finding("fail", "gymnasium checker", f"{type(exc).__name__}: {exc}")]
    noted = sorted({str(w.message).replace("\x1b[33m", "").replace("\x1b[0m", "")
                    for w in caught if "infinity" not in str(w.message)})
    findings = [Finding("warn", "gymnasium checker", m[:300]) for m in noted]
    return findings or [Finding("ok", "gymnasium checker", "passed")]


def check_frames(env: gym.Env, frame_stack: int, image_size: int, seed: int,
                 steps: int) -> list[Finding]:
    found: list[Finding] = []
    obs, _ = env.reset(seed=seed)
    pixels = _pixels(obs)
    if pixels is None:
        return [Finding("fail", "frames", f"no pixel observation (got {type(obs).__name__})")]
    if pixels.dtype != np.uint8:
        found.append(Finding("fail", "frame dtype", f"{pixels.dtype}, expected uint8: render() "
                             "must return uint8 RGB"))
    channels, unstacked = divmod(pixels.shape[0], max(frame_stack, 1))
    if pixels.shape[1:] != (image_size, image_size) or unstacked or channels not in (1, 3):
        found.append(Finding("fail", "frame shape", f"{pixels.shape}, expected ({3 * frame_stack}"
                             f", {image_size}, {image_size}) channels-first"))
    else:
        found.append(Finding("ok", "frame shape", f"{pixels.shape} uint8, channels first "
                             f"({frame_stack} stacked {'RGB' if channels == 3 else 'grey'})"))
    first = _newest_frame(pixels, frame_stack)
    if int(first.max()) - int(first.min()) <= 1:
        found.append(Finding("fail", "blank frame", f"every pixel is {int(first.min())}: black "
                             "frames are what a missing GL backend gives (install libegl1 "
                             "libgl1-mesa-dri and set MUJOCO_GL=egl, or use osmesa); check the "
                             "camera looks at the scene"))
    again = _newest_frame(_pixels(env.reset(seed=seed)[0]), frame_stack)
    if not np.array_equal(first, again):
        found.append(Finding("fail", "reset with a seed", "two resets with the same seed gave "
                             "different first frames: the env ignores the seed or keeps state "
                             "across resets"))
    else:
        found.append(Finding("ok", "reset with a seed", "same first frame"))
    changed, frame = False, first
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        frame = _newest_frame(_pixels(obs), frame_stack)
        if not np.array_equal(frame, first):
            changed = True
            break
        if terminated or truncated:
            env.reset()
    if changed:
        found.append(Finding("ok", "frames change", "the image changes when the env steps"))
    else:
        found.append(Finding("fail", "frames change", f"{steps} random steps left the frame "
                             "unchanged: the camera does not see what moves (choose another "
                             "camera) or the frame is not re-rendered after a step"))
    return found


def check_actions(base: gym.Env, env: gym.Env) -> list[Finding]:
    space = base.action_space
    if isinstance(space, gym.spaces.Discrete):
        return [Finding("ok", "actions", f"Discrete({space.n}): PPO only")]
    if not isinstance(space, gym.spaces.Box):
        return [Finding("fail", "actions", f"{space}: robovision's agents take Box or Discrete")]
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        return [Finding("fail", "action bounds", f"unbounded ({space.low}..{space.high}): give "
                        "the actuators finite limits (ctrlrange) so actions can be rescaled")]
    if env.action_space.low.min() >= -1 and env.action_space.high.max() <= 1:
        return [Finding("ok", "action bounds", f"{_rounded(space.low)}..{_rounded(space.high)}"
                        ", rescaled to [-1, 1]")]
    return [Finding("fail", "action bounds", "not rescaled to [-1, 1]")]


def _rounded(bounds: np.ndarray) -> list[float]:
    """Bounds to 3 decimals as Python floats: a float32 0.4 reads 0.4, not 0.4000000059."""
    return [round(float(x), 3) for x in np.ravel(bounds)]


def check_time_limit(env: gym.Env, max_steps: int, seed: int) -> list[Finding]:
    limit = env.spec.max_episode_steps if env.spec is not None else None
    limit = limit or getattr(env.unwrapped, "max_episode_steps", None)
    env.reset(seed=seed)
    for step in range(1, max_steps + 1):
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        if not np.isfinite(reward):
            return [Finding("fail", "reward", f"{reward} at step {step}")]
        if terminated and truncated:
            return [Finding("fail", "episode end", f"step {step} is both terminated and "
                            "truncated; report a time limit as truncated only")]
        if terminated or truncated:
            kind = "truncated (time limit)" if truncated else "terminated"
            note = f"the first episode ended at agent step {step}, {kind}"
            if terminated and limit and step % limit == 0:
                return [Finding("warn", "episode end", f"{note}, exactly at the time limit: "
                                "a time limit must be `truncated` so the agent bootstraps")]
            return [Finding("ok", "episode end", note)]
    return [Finding("warn", "episode end", f"no episode ended within {max_steps} steps: give "
                    "the env a time limit (max_episode_steps) reported as truncated")]


def check_speed(env: gym.Env, steps: int) -> list[Finding]:
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    per_step = (time.perf_counter() - start) / steps
    found = [Finding("ok", "speed", f"{1 / per_step:.0f} agent steps/s")]
    wrapper = pixel_wrapper(env)
    if wrapper is not None:
        start = time.perf_counter()
        for _ in range(20):
            wrapper.render_frame()
        found.append(Finding("ok", "render time", f"{(time.perf_counter() - start) / 20 * 1e3:.2f}"
                             " ms per frame"))
    return found


def check(spec: str, obs: str = "pixels", image_size: int = 84, frame_stack: int = 3,
          camera: str | None = None, seed: int = 0, steps: int = 50, max_steps: int = 2000,
          **options: Any) -> list[Finding]:
    """Every check on ``spec`` (a gymnasium ID, ``dmc/...``, ``mjcf:scene.xml`` or
    ``module:factory``) as ``make_env`` would build it."""
    from robovision.make import make_env

    pixel_options = ({"image_size": image_size, "frame_stack": frame_stack, "camera": camera}
                     if obs != "state" else {})
    try:
        env = make_env(spec, obs=obs, seed=seed, action_repeat=1, **pixel_options, **options)
    except Exception as exc:
        return [Finding("fail", "construction", f"{type(exc).__name__}: {exc}")]
    findings: list[Finding] = []
    try:
        findings += check_gymnasium(env)
        if obs != "state":
            findings += check_frames(env, frame_stack, image_size, seed, steps)
        findings += check_actions(env.unwrapped, env)
        findings += check_time_limit(env, max_steps, seed)
        findings += check_speed(env, steps)
    except Exception as exc:  # an env that breaks while stepping: say where, not a traceback
        findings.append(Finding("fail", "running", f"{type(exc).__name__}: {exc}"))
    finally:
        env.close()
    return findings


def report(spec: str, findings: list[Finding]) -> str:
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = [f"robovision check-env {spec}"]
    lines += [f"  {marks[f.level]} {f.check}: {f.message}" for f in findings]
    failed = sum(f.level == "fail" for f in findings)
    lines.append(f"{failed} problem(s) to fix" if failed else "ready to train")
    return "\n".join(lines)
