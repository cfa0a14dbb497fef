"""Vision environments: env steps/s on one core, and the evaluation report on held-out
images (random policy, greedy oracle, and a trained run when given).

    python scripts/bench_vision.py                       # speed + baselines
    python scripts/bench_vision.py --run runs/landmark2d_ppo/<timestamp>
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def env_speed(spec: str, seconds: float = 3.0, **kwargs) -> float:
    import gymnasium as gym

    import robovision.envs  # noqa: F401

    env = gym.make(spec, **kwargs).unwrapped
    env.reset(seed=0)
    actions = [env.action_space.sample() for _ in range(1000)]
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(actions[steps % 1000])
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None, help="a trained run to evaluate")
    args = parser.parse_args()

    import gymnasium as gym
    import torch

    import robovision.envs  # noqa: F401
    from robovision.envs.vision.evaluate import (
        agent_policy,
        format_table,
        landmark_report,
        localization_report,
        oracle_policy,
        random_policy,
    )

    torch.set_num_threads(1)
    print("| env (one core) | steps/s |")
    print("|---|---|")
    for spec, kwargs in [("robovision/BoxLocalization-v0", {"obs_size": 84}),
                         ("robovision/BoxLocalization-v0", {"obs_size": 84, "context": True}),
                         ("robovision/Landmark2D-v0", {}),
                         ("robovision/Landmark3D-v0", {})]:
        print(f"| {spec} {kwargs} | {env_speed(spec, **kwargs):,.0f} |")

    box = gym.make("robovision/BoxLocalization-v0", split="test", obs_size=48).unwrapped
    rows = {"random": localization_report(box, random_policy),
            "greedy oracle": localization_report(box, oracle_policy)}
    landmark = gym.make("robovision/Landmark2D-v0", split="test", multiscale=True,
                        scales=(4, 2, 1), stop_on_oscillation=True).unwrapped
    lm_rows = {"random": landmark_report(landmark, random_policy)}
    if args.run is not None:
        from robovision import factory
        from robovision.checkpoint import load_checkpoint
        from robovision.config import load_config

        cfg = load_config(str(args.run / "config.yaml"))
        env = factory.build_env(cfg, seed=0, evaluation=True).unwrapped
        agent = factory.build_agent(cfg, env.observation_space, env.action_space,
                                    torch.device("cpu"))
        agent.load_state_dict(load_checkpoint(args.run / "checkpoints" / "best.pt")["agent"])
        name = f"trained ({cfg.name})"
        if "Box" in cfg.env.spec:
            rows[name] = localization_report(env, agent_policy(agent))
        else:
            env.stop_on_oscillation = True
            lm_rows[name] = landmark_report(env, agent_policy(agent))
    print("\nBox localization, held-out procedural images:\n")
    print(format_table(rows))
    print("\nLandmark 2D, held-out procedural images (errors in pixels):\n")
    print(format_table(lm_rows))


if __name__ == "__main__":
    main()
