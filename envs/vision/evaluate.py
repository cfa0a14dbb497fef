"""Evaluation of vision agents on held-out images, with the random and greedy-oracle
baselines in the same report.

Box localization: success rate (final IoU >= the env's ``success_iou``, 0.5 by
default), mean final IoU, steps per localization (median and mean) and recall against
the number of proposals (triggers) per image. Landmarks: mean +- std final distance
error and the success rate within ``radius`` (the env's ``success_radius`` by default).
The success criteria are the envs' own, so these rates and the ``eval/success_rate`` a
training run logs count the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from robovision.envs.vision.localization import BoxLocalization, greedy_oracle_action
from robovision.episode import episode_steps, play_episode

Policy = Callable[[Any, Any], Any]
"""``policy(obs, env) -> action``."""


def random_policy(obs: Any, env: Any) -> Any:
    return env.action_space.sample()


def oracle_policy(obs: Any, env: BoxLocalization) -> int:
    return greedy_oracle_action(env)


def agent_policy(agent: Any) -> Policy:
    return lambda obs, env: agent.act(obs, eval=True)


def localization_report(env: BoxLocalization, policy: Policy, seed: int = 0,
                        max_proposals: int = 3) -> dict[str, float]:
    """One search (or up to ``max_proposals`` with inhibition of return) per image."""
    successes, ious, steps, recall = [], [], [], np.zeros(max_proposals)
    env.action_space.seed(seed)
    for index in range(len(env.images)):
        found_at = None
        n_steps, triggers, info = 0, 0, {}
        for step in episode_steps(env, lambda obs: policy(obs, env), seed=seed + index,
                                  options={"index": index}):
            n_steps, info = n_steps + 1, step.info
            if info.get("triggered"):
                triggers += 1
                if info["success"] and found_at is None:  # the env's own criterion
                    found_at = triggers
        final_iou = info.get("final_iou", info.get("iou", env.iou()))
        successes.append(bool(info["success"]))
        ious.append(final_iou)
        steps.append(n_steps)
        if found_at is not None and found_at <= max_proposals:
            recall[found_at - 1:] += 1
    n = len(env.images)
    report = {"images": n, "success_rate": float(np.mean(successes)),
              "mean_final_iou": float(np.mean(ious)), "steps_median": float(np.median(steps)),
              "steps_mean": float(np.mean(steps))}
    for k in range(max_proposals):
        report[f"recall_at_{k + 1}_proposals"] = float(recall[k] / n)
    return report


def landmark_report(env: Any, policy: Policy, radius: float | None = None, seed: int = 0
                    ) -> dict[str, float]:
    radius = env.success_radius if radius is None else radius
    errors = []
    env.action_space.seed(seed)
    for index in range(len(env.images)):
        episode = play_episode(env, lambda obs: policy(obs, env), seed=seed + index,
                               options={"index": index})
        errors.append(episode.info["distance"])
    errors = np.asarray(errors)
    return {"images": len(errors), "mean_error": float(errors.mean()),
            "std_error": float(errors.std()), f"success_within_{radius:g}": float(
                (errors <= radius).mean())}


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """A Markdown table, one row per policy."""
    keys = list(next(iter(rows.values())))
    lines = ["| policy | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, report in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{report[k]:.3g}" for k in keys) + " |")
    return "\n".join(lines)
