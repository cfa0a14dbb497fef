"""Milliseconds per SAC update from pixels, per encoder and input layout.

One update of the ``cheetah_run_pixels_sac`` agent (batch 256, 84x84 RGB stacked 3,
[1024, 1024] MLPs, random shift, bf16 encoder, actor and targets every step) on a
fixed random batch, so only the update is timed. Each encoder is timed with its bf16
input channels_last and without, alternating, ``--repeats`` times; this is how
``PixelEncoder.CHANNELS_LAST`` was chosen.

    python scripts/bench_pixel_update.py --repeats 3

``--projection`` instead times one update of the main job (``cheetah_run_pixels``,
DDPG with twin critics, [1024, 1024]) with the DrQ projection shared in the encoder
(DrQ) and with one projection per head (DrQ-v2), alternating:

    python scripts/bench_pixel_update.py --projection --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from robovision import factory
from robovision.config import load_config
from robovision.nets.encoders import PixelEncoder
from robovision.replay.batch import Batch

BATCH = 256


def update_ms(kind: str, updates: int, preset: str = "cheetah_run_pixels_sac",
              projection: str | None = None) -> float:
    feature_dim = 512 if kind == "nature" else 50
    overrides = [f"agent.encoder.kind={kind}", f"agent.encoder.feature_dim={feature_dim}",
                 "device=cpu"]
    if projection is None:
        overrides += ["agent.actor_update_every=1", "agent.target_update_every=1"]
    else:
        overrides.append(f"agent.encoder.projection={projection}")
    cfg = load_config(preset, overrides)
    env = factory.build_env(cfg, seed=0)
    agent = factory.build_agent(cfg, env.observation_space, env.action_space,
                                torch.device("cpu"))
    shape, action_dim = env.observation_space.shape, env.action_space.shape[0]
    generator = torch.Generator().manual_seed(0)
    batch = Batch(obs=torch.randint(0, 256, (BATCH, *shape), dtype=torch.uint8,
                                    generator=generator),
                  action=torch.rand(BATCH, action_dim, generator=generator) * 2 - 1,
                  reward=torch.rand(BATCH, generator=generator),
                  next_obs=torch.randint(0, 256, (BATCH, *shape), dtype=torch.uint8,
                                         generator=generator),
                  discount=torch.full((BATCH,), 0.99))
    for _ in range(2):
        agent.update(batch)
    start = time.perf_counter()
    for _ in range(updates):
        agent.update(batch)
    return (time.perf_counter() - start) / updates * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--projection", action="store_true",
                        help="compare the main job's shared vs per-head projection")
    args = parser.parse_args()
    if args.projection:
        compare_projection(args.repeats, args.updates)
        return
    chosen = dict(PixelEncoder.CHANNELS_LAST)
    results: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.repeats):
        for kind in chosen:
            for channels_last in (True, False):
                PixelEncoder.CHANNELS_LAST[kind] = channels_last
                results.setdefault((kind, channels_last), []).append(
                    update_ms(kind, args.updates))
    PixelEncoder.CHANNELS_LAST.update(chosen)
    print("| encoder | input layout | ms per update (median) | min-max |")
    print("|---|---|---|---|")
    for (kind, channels_last), values in results.items():
        layout = "channels_last" if channels_last else "NCHW"
        mark = " (chosen)" if chosen[kind] == channels_last else ""
        print(f"| {kind} | {layout}{mark} | {statistics.median(values):.0f} | "
              f"{min(values):.0f}-{max(values):.0f} |")


def compare_projection(repeats: int, updates: int) -> None:
    results: dict[str, list[float]] = {"shared": [], "per_head": []}
    for _ in range(repeats):
        for projection, values in results.items():
            values.append(update_ms("drq", updates, "cheetah_run_pixels", projection))
    print("| projection | ms per update (median) | min-max |")
    print("|---|---|---|")
    for projection, values in results.items():
        print(f"| {projection} | {statistics.median(values):.0f} | "
              f"{min(values):.0f}-{max(values):.0f} |")


if __name__ == "__main__":
    main()
