"""Do fast-rendered frames carry the state as well as default ones? A supervised probe.

Reinforcement learning from pixels on a CPU is too slow and too noisy to compare two
render settings on cheetah. This asks the narrower question underneath: can robovision's
DrQ encoder read the robot's state from the frames equally well? Two copies of a
dm_control task, one with ``fast_render`` and one without, step through the same
random-action episodes (their states are checked to be identical), so the two frame
sets show the same states rendered two ways. For each setting and seed, the encoder
plus a linear head (bf16, Adam) regresses the standardised state vector from stacked
frames; the held-out error, as a fraction of the state's variance (1 = predicting the
mean), is reported for positions and velocities separately.

    python scripts/bench_render_probe.py --spec dmc/cheetah-run --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

os.environ.setdefault("MUJOCO_GL", "egl")

from robovision import make_env
from robovision.nets.encoders import make_encoder
from robovision.runtime import tune_allocator

SETTINGS = {"fast": True, "default": False}


def collect(spec: str, transitions: int, image_size: int, seed: int
            ) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Frames of both settings for the same random-action trajectories, and the states.
    Returns ``({setting: frames}, states, position_dim)``."""
    envs = {name: make_env(spec, obs="state+pixels", image_size=image_size, frame_stack=3,
                           fast_render=fast, seed=seed) for name, fast in SETTINGS.items()}
    rng = np.random.default_rng(seed)
    action_shape = envs["fast"].action_space.shape
    frames: dict[str, list[np.ndarray]] = {name: [] for name in SETTINGS}
    states: list[np.ndarray] = []
    obs = {name: env.reset(seed=seed)[0] for name, env in envs.items()}
    episode = 0
    while len(states) < transitions:
        action = rng.uniform(-1, 1, action_shape).astype(np.float32)
        ends = set()
        for name, env in envs.items():
            obs[name], _, terminated, truncated, _ = env.step(action)
            frames[name].append(obs[name]["pixels"])
            if terminated or truncated:
                ends.add(name)
        if not np.array_equal(obs["fast"]["state"], obs["default"]["state"]):
            raise RuntimeError("the two envs diverged; the probe needs identical states")
        states.append(obs["fast"]["state"])
        if ends:
            episode += 1
            obs = {name: env.reset(seed=seed + episode)[0] for name, env in envs.items()}
    physics = envs["fast"].unwrapped.physics
    position_dim = len(envs["fast"].unwrapped.dm_env.task.get_observation(physics)
                       .get("position", []))
    for env in envs.values():
        env.close()
    return ({name: np.stack(f) for name, f in frames.items()}, np.stack(states).astype(np.float32),
            position_dim)


def probe(frames: np.ndarray, states: np.ndarray, seed: int, epochs: int, train_fraction: float
          ) -> np.ndarray:
    """Held-out squared error per state dimension, as a fraction of its variance."""
    torch.manual_seed(seed)
    split = int(len(states) * train_fraction)
    mean, std = states[:split].mean(0), states[:split].std(0) + 1e-6
    targets = torch.as_tensor((states - mean) / std)
    images = torch.as_tensor(frames)
    space = spaces.Box(0, 255, frames.shape[1:], np.uint8)
    encoder = make_encoder(space, "drq", feature_dim=50, amp=True)
    head = nn.Linear(encoder.out_dim, states.shape[1])
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(split, generator=generator).split(128):
            loss = (head(encoder(images[idx])) - targets[idx]).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        held_out = torch.cat([head(encoder(images[i:i + 256]))
                              for i in range(split, len(states), 256)])
    return (held_out - targets[split:]).pow(2).mean(0).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="dmc/cheetah-run")
    parser.add_argument("--transitions", type=int, default=3000,
                        help="agent steps collected (the suite's action repeat)")
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--train-fraction", type=float, default=0.8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    tune_allocator()
    start = time.perf_counter()
    frames, states, position_dim = collect(args.spec, args.transitions, args.image_size, 0)
    print(f"# {args.spec}, {len(states)} transitions of {args.image_size}px frames stacked 3 "
          f"({time.perf_counter() - start:.0f} s to collect); held-out error / variance, "
          f"{args.epochs} epochs, train on the first {args.train_fraction:.0%}")
    print("| setting | seed | positions | velocities | all |")
    print("|---|---|---|---|---|")
    summary: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for seed in args.seeds:
        for name in SETTINGS:
            error = probe(frames[name], states, seed, args.epochs, args.train_fraction)
            summary[name].append(float(error.mean()))
            print(f"| {name} | {seed} | {error[:position_dim].mean():.3f} | "
                  f"{error[position_dim:].mean():.3f} | {error.mean():.3f} |", flush=True)
    for name, values in summary.items():
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        print(f"| {name} | mean | | | {statistics.mean(values):.3f} +- {spread:.3f} |")


if __name__ == "__main__":
    main()
