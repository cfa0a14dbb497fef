"""Training speed from pixels on cheetah-run: robovision SAC (DrQ encoder, bf16 + channels_last
on the CPU, frame-deduplicated replay, random shift) vs Stable-Baselines3 SAC with CnnPolicy,
on the same wrapped env (84x84 RGB, frame stack 3, action repeat 4) with the same batch
size (256), MLP size ([1024, 1024]) and one update per agent step; alternating in one run.
SB3 runs twice: with its default NatureCNN and with robovision's DrQ encoder plugged in as
its features extractor, so the framework is compared at equal networks too.

Reports environment frames per second (agent steps x action repeat) over the timed window
after ``warmup`` random steps.

    python scripts/bench_pixels.py --repeats 2 --warmup 250 --steps 150
    python scripts/bench_pixels.py --device cuda --names robovision robovision-graph sb3 \
        --warmup 500 --steps 1000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

os.environ.setdefault("MUJOCO_GL", "egl")
DEVICE = os.environ.get("BENCH_DEVICE", "cpu")
"""Training device of both sides (``--device``; workers read it from BENCH_DEVICE)."""
ACTION_REPEAT = 4
BATCH = 256
NAMES = ["robovision", "robovision-graph", "robovision-fp32", "robovision-nature", "sb3",
         "sb3-drq"]
"""robovision (DrQ encoder, bf16), the same with its updates and acts replayed as CUDA
graphs (``train.cuda_graph``; CUDA only, skipped on the CPU), robovision in fp32,
robovision with the NatureCNN (512 features, bf16: the network of SB3's CnnPolicy), SB3
CnnPolicy (NatureCNN), SB3 with robovision's DrQ encoder as its features extractor. The
last three pairs compare the frameworks at equal networks."""


def worker_robovision(warmup: int, steps: int, amp: bool, kind: str = "drq",
                      feature_dim: int = 50, cuda_graph: bool = False) -> float:
    import csv
    import tempfile

    from robovision.config import load_config
    from robovision.loop import train

    with tempfile.TemporaryDirectory() as run_dir:
        frames = (warmup + steps) * ACTION_REPEAT
        overrides = [f"env.action_repeat={ACTION_REPEAT}", f"train.batch_size={BATCH}",
                     f"train.total_steps={frames}", f"train.learning_starts={warmup * 4}",
                     "train.eval_every=0", "train.eval_episodes=1", "train.checkpoint_every=0",
                     "train.progress=false", f"train.log_every={10 * ACTION_REPEAT}",
                     "train.buffer_size=20000", f"agent.encoder.amp={str(amp).lower()}",
                     f"agent.encoder.kind={kind}", f"agent.encoder.feature_dim={feature_dim}",
                     # SB3 updates actor and targets every step: so does this run
                     "agent.actor_update_every=1", "agent.target_update_every=1",
                     f"train.cuda_graph={str(cuda_graph).lower()}",
                     f"run_dir={run_dir}", f"device={DEVICE}"]
        cfg = load_config("cheetah_run_pixels_sac", overrides)
        train(cfg, run_dir)
        times = {}
        with open(os.path.join(run_dir, "metrics.csv")) as f:
            for row in csv.DictReader(f):
                if row["name"] == "train/critic_loss":
                    times[int(row["step"])] = float(row["wall_time"])
    start, end = min(times), max(times)
    return (end - start) * ACTION_REPEAT / (times[end] - times[start])


def worker_sb3(warmup: int, steps: int, drq_encoder: bool) -> float:
    from sb3_clock import StepClock
    from stable_baselines3 import SAC
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    from robovision import make_env
    from robovision.nets.encoders import PixelEncoder

    class DrQExtractor(BaseFeaturesExtractor):
        """robovision's DrQ encoder inside SB3, to compare frameworks at equal networks."""

        def __init__(self, observation_space, features_dim: int = 50):
            super().__init__(observation_space, features_dim)
            self.encoder = PixelEncoder(observation_space, "drq", features_dim)

        def forward(self, obs):
            return self.encoder(obs)

    env = make_env("dmc/cheetah-run", obs="pixels", seed=0, action_repeat=ACTION_REPEAT)
    policy_kwargs = {"net_arch": [1024, 1024]}
    if drq_encoder:  # raw 0..255 floats in, the encoder scales them itself
        policy_kwargs.update(features_extractor_class=DrQExtractor, normalize_images=False)
    model = SAC("CnnPolicy", env, batch_size=BATCH, buffer_size=20000, learning_starts=warmup,
                policy_kwargs=policy_kwargs, device=DEVICE, seed=0)
    clock = StepClock()
    model.learn(total_timesteps=warmup + steps, callback=clock)
    return clock.steps_per_second(warmup + 10) * ACTION_REPEAT


def run_worker(name: str, warmup: int, steps: int) -> float:
    cmd = [sys.executable, __file__, "--worker", name, "--warmup", str(warmup),
           "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "BENCH_DEVICE": DEVICE})
    return json.loads(out.stdout.strip().splitlines()[-1])["frames_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=250, help="random agent steps first")
    parser.add_argument("--steps", type=int, default=150, help="timed agent steps")
    parser.add_argument("--names", nargs="+", choices=NAMES, default=NAMES,
                        help="runs to include (sb3 is always included: ratios are to it)")
    parser.add_argument("--worker", choices=NAMES)
    parser.add_argument("--device", default=None, help="cpu (default) or cuda, for both sides")
    args = parser.parse_args()
    if args.device:
        global DEVICE
        DEVICE = args.device
    if args.worker:
        if args.worker.startswith("sb3"):
            fps = worker_sb3(args.warmup, args.steps, drq_encoder=args.worker == "sb3-drq")
        else:
            nature = args.worker == "robovision-nature"
            fps = worker_robovision(args.warmup, args.steps, amp=args.worker != "robovision-fp32",
                                    kind="nature" if nature else "drq",
                                    feature_dim=512 if nature else 50,
                                    cuda_graph=args.worker == "robovision-graph")
        print(json.dumps({"frames_per_s": fps}))
        return
    names = [n for n in NAMES if n in args.names or n == "sb3"]
    if DEVICE != "cuda" and "robovision-graph" in names:
        names.remove("robovision-graph")
        print("  robovision-graph: skipped (CUDA graphs need --device cuda)", file=sys.stderr)
    results: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.repeats):
        for name in names:
            results[name].append(run_worker(name, args.warmup, args.steps))
            print(f"  {name}: {results[name][-1]:.1f} frames/s", file=sys.stderr, flush=True)
    print("| run | frames/s (median) | min-max | ratio to SB3 (median of pairs) |")
    print("|---|---|---|---|")
    for name in names:
        ratios = [a / b for a, b in zip(results[name], results["sb3"], strict=True)]
        print(f"| {name} | {statistics.median(results[name]):.1f} | {min(results[name]):.1f}-"
              f"{max(results[name]):.1f} | {statistics.median(ratios):.2f}x |")


if __name__ == "__main__":
    main()
