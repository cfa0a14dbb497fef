"""Learning tests: each algorithm really reaches a return on a small task.

Thresholds sit far from what an untrained or broken agent gets (a random
policy scores about -1200 on Pendulum-v1 and about 5 to 10 on
InvertedPendulum-v5), with budgets a little above what a correct agent needs
on this 2-core CPU, so a break in a loss, a target or the loop fails them.
"""

import pytest

from robovision.config import load_config
from robovision.loop import train

pytestmark = pytest.mark.slow

COMMON = ["train.progress=false", "train.eval_every=0", "train.checkpoint_every=0",
          "train.eval_episodes=10", "train.log_every=1000", "seed=0"]


@pytest.mark.parametrize(("preset", "steps", "envs"), [
    ("pendulum_sac", 4500, 1), ("pendulum_td3", 7000, 1), ("pendulum_ddpg", 5500, 2)])
def test_off_policy_solves_pendulum(preset, steps, envs, tmp_path):
    """Budgets from ``scripts/test_budgets.py`` (seeds 0-3, evaluated every 500 steps,
    BENCHMARKS 28): every seed is above -400 from 3500 steps to 5000 with SAC (seed 3
    then dips to -483 at 5500), from 6500 on with TD3, and from 4500 on with DDPG, which
    collects with two envs in lockstep (updates per step as with one)."""
    cfg = load_config(preset, [*COMMON, f"train.total_steps={steps}", f"env.num_envs={envs}"])
    counters = train(cfg, tmp_path)
    assert counters.last_eval >= -400, f"{preset}: mean eval return {counters.last_eval:.0f}"


def test_ppo_learns_inverted_pendulum(tmp_path):
    cfg = load_config("inverted_pendulum_ppo", [*COMMON, "train.total_steps=40960"])
    counters = train(cfg, tmp_path)
    assert counters.last_eval >= 500, f"PPO: mean eval return {counters.last_eval:.0f}"
