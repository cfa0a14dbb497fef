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


SMALL = ("agent.hidden=[128,128]", "train.batch_size=128")
"""A third of the presets' update cost ([256, 256] in batches of 256) on a CPU."""


@pytest.mark.parametrize(("preset", "steps", "envs", "extra"), [
    ("pendulum_sac", 4500, 1, SMALL), ("pendulum_td3", 7000, 1, ()),
    ("pendulum_ddpg", 7000, 2, SMALL)], ids=["pendulum_sac", "pendulum_td3", "pendulum_ddpg"])
def test_off_policy_solves_pendulum(preset, steps, envs, extra, tmp_path):
    """Budgets from ``scripts/test_budgets.py`` (seeds 0-3, evaluated every 500 steps,
    BENCHMARKS 28 and 30). SAC: every seed above -400 from 3500 steps, with the presets'
    networks and with the smaller ones it trains here. DDPG, which collects with two envs
    in lockstep (updates per step as with one): from 4500 with the presets' networks,
    from 6000 to 7500 with the smaller ones (a seed dipped to -580 at 5500), so 7000
    steps at a third of the cost. TD3 keeps the preset's networks (every seed from 6500):
    with the smaller ones a seed was still at -691 at 7000."""
    cfg = load_config(preset, [*COMMON, f"train.total_steps={steps}", f"env.num_envs={envs}",
                               *extra])
    counters = train(cfg, tmp_path)
    assert counters.last_eval >= -400, f"{preset}: mean eval return {counters.last_eval:.0f}"


def test_ppo_learns_inverted_pendulum(tmp_path):
    cfg = load_config("inverted_pendulum_ppo", [*COMMON, "train.total_steps=40960"])
    counters = train(cfg, tmp_path)
    assert counters.last_eval >= 500, f"PPO: mean eval return {counters.last_eval:.0f}"
