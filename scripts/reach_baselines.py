"""Success rates of two reference policies on manip/reach_site (issue 12): random actions,
and a scripted Jacobian controller (damped least squares on the pinch site's Jacobian
from MuJoCo, joint velocities toward the target). The first is the floor a learning test
must clear; the second shows that the task is reachable within an episode.

    python scripts/reach_baselines.py --episodes 200 --policy random
    python scripts/reach_baselines.py --episodes 10 --policy scripted

The env settings are reach_site_dense_state_sac's (action repeat 4, dense reward, 3 s
episodes); success is the task's own reward at its maximum at an episode's end.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")


def scripted_action(env) -> np.ndarray:
    """Arm joint velocities that move the pinch site toward the target, in [-1, 1]."""
    import mujoco

    base = env.unwrapped
    task, physics = base._env.task, base.physics
    site = physics.bind(task.hand.tool_center_point)
    error = physics.bind(task._target).xpos - site.xpos
    jacobian = np.zeros((3, physics.model.nv))
    mujoco.mj_jacSite(physics.model.ptr, physics.data.ptr, jacobian, None, site.element_id)
    arm = jacobian[:, physics.bind(task.arm.joints).dofadr]
    velocity = arm.T @ np.linalg.solve(arm @ arm.T + 1e-3 * np.eye(3), 5.0 * error)
    low, high = base.action_space.low[:arm.shape[1]], base.action_space.high[:arm.shape[1]]
    action = np.zeros(env.action_space.shape, np.float32)  # the fingers stay put
    action[:arm.shape[1]] = np.clip(2 * (velocity - low) / (high - low) - 1, -1, 1)
    return action


def success_rate(policy: str, episodes: int, seed: int) -> tuple[float, float, float]:
    """(success rate, mean return, return std) of ``policy`` over ``episodes``."""
    from robovision import make_env

    env = make_env("manip/reach_site", obs="state", action_repeat=4, reward="dense",
                   time_limit=3.0)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    successes, returns = [], []
    for _ in range(episodes):
        env.reset()
        done, info, total = False, {}, 0.0
        while not done:
            action = env.action_space.sample() if policy == "random" else scripted_action(env)
            _, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            done = terminated or truncated
        successes.append(info["success"])
        returns.append(total)
    env.close()
    return float(np.mean(successes)), float(np.mean(returns)), float(np.std(returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", choices=("random", "scripted"), default="random")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    rate, mean, std = success_rate(args.policy, args.episodes, args.seed)
    print(f"{args.policy}: success rate {rate:.3f}, return {mean:.1f} +- {std:.1f} over "
          f"{args.episodes} episodes")


if __name__ == "__main__":
    main()
