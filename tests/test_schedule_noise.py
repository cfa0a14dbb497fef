"""Exploration noise: DrQ-v2's schedule strings and OU noise."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from robovision.agents.td3 import TD3, TD3Config
from robovision.schedule import parse_schedule

OBS = spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT = spaces.Box(-1, 1, (2,), np.float32)


def test_parse_schedule():
    linear = parse_schedule("linear(1.0, 0.1, 1000)")
    assert linear(0) == 1.0 and linear(500) == pytest.approx(0.55) and linear(5000) == 0.1
    assert parse_schedule("0.2")(123) == 0.2
    assert parse_schedule("linear(1,1e-1,1e3)")(1000) == pytest.approx(0.1)
    rising = parse_schedule("linear(2.0, 0.5, 10)")  # a start other than 1
    assert rising(4) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5) and rising(-3) == 2.0
    one_step = parse_schedule("linear(3, 1, 1)")
    assert one_step(0) == 3.0 and one_step(1) == 1.0
    with pytest.raises(ValueError, match="neither a number nor linear"):
        parse_schedule("__import__('os')")


def test_td3_noise_follows_schedule_over_exploration_steps():
    agent = TD3(TD3Config(hidden=[8], noise_schedule="linear(1.0,0.1,100)"), OBS, ACT,
                torch.device("cpu"))
    assert agent.exploration_std == 1.0 and agent.target_std == 1.0
    agent.act(np.zeros((50, 3), np.float32))  # 50 parallel exploration steps
    assert agent.explore_steps == 50 and agent.exploration_std == pytest.approx(0.55)
    agent.act(np.zeros(3, np.float32), eval=True)  # evaluation does not count
    assert agent.explore_steps == 50
    state = agent.state_dict()
    fresh = TD3(TD3Config(hidden=[8], noise_schedule="linear(1.0,0.1,100)"), OBS, ACT,
                torch.device("cpu"))
    fresh.load_state_dict(state)
    assert fresh.exploration_std == pytest.approx(0.55)


def _pure_noise_agent(**cfg) -> TD3:
    agent = TD3(TD3Config(hidden=[8], **cfg), OBS, ACT, torch.device("cpu"))
    with torch.no_grad():
        for p in agent.actor.parameters():
            p.zero_()  # the policy outputs 0: an explored action is its noise
    return agent


def test_ou_noise_is_temporally_correlated():
    agent = _pure_noise_agent(noise_type="ou", exploration_noise=0.3)
    actions = np.array([agent.act(np.zeros(3, np.float32)) for _ in range(400)])
    x = actions[:, 0]
    lag1 = np.corrcoef(x[:-1], x[1:])[0, 1]
    assert lag1 > 0.8 and np.all(np.abs(actions) <= 1)


def test_ou_noise_follows_its_recurrence_by_hand():
    """x' = x - theta * x * dt + sigma * sqrt(dt) * n, from x = 0, with dt = 1e-2."""
    from robovision.agents.td3 import OUNoise

    noise = OUNoise(sigma=0.3, theta=0.15)
    like = torch.zeros(2, 1)
    torch.manual_seed(4)
    draws = [torch.randn_like(like) for _ in range(3)]
    torch.manual_seed(4)
    got = [noise(like).clone() for _ in range(3)]
    x = torch.zeros_like(like)
    for n, value in zip(draws, got, strict=True):
        x = x - 0.15 * x * 0.01 + 0.3 * 0.1 * n
        assert torch.allclose(value, x)


def test_ou_noise_restarts_only_the_env_whose_episode_ended():
    agent = _pure_noise_agent(noise_type="ou", exploration_noise=0.3)
    for _ in range(20):
        agent.act(np.zeros((3, 3), np.float32))  # three envs in lockstep
    before = agent.ou.state.clone()
    agent.episode_end(1)
    assert torch.equal(agent.ou.state[1], torch.zeros(2))
    assert torch.equal(agent.ou.state[[0, 2]], before[[0, 2]]) and before[[0, 2]].abs().min() > 0


def test_gaussian_exploration_has_the_configured_std_and_stays_in_bounds():
    torch.manual_seed(0)
    actions = _pure_noise_agent(exploration_noise=0.1).act(np.zeros((20_000, 3), np.float32))
    assert abs(actions.std() - 0.1) < 0.003 and abs(actions.mean()) < 0.003
    scheduled = _pure_noise_agent(noise_schedule="linear(0.3,0.1,100)")  # at its start
    assert scheduled.act(np.zeros((20_000, 3), np.float32)).std() == pytest.approx(0.3, 0.03)
    wide = _pure_noise_agent(exploration_noise=5.0).act(np.zeros((2000, 3), np.float32))
    assert np.abs(wide).max() == 1.0 and np.mean(np.abs(wide) == 1.0) > 0.8  # clipped


def test_td3_smooths_its_target_action_and_ddpg_does_not():
    from robovision.agents.configs import DDPGConfig

    td3 = TD3(TD3Config(hidden=[8]), OBS, ACT, torch.device("cpu"))
    assert td3.next_phase() == (True, True) and td3._target_std.item() == pytest.approx(0.2)
    ddpg = TD3(DDPGConfig(hidden=[8]), OBS, ACT, torch.device("cpu"))
    assert ddpg.next_phase() == (True, False)
    scheduled = TD3(DDPGConfig(hidden=[8], noise_schedule="linear(0.8,0.1,100)"), OBS, ACT,
                    torch.device("cpu"))
    scheduled.explore_steps = 50
    assert scheduled.next_phase()[1] and scheduled._target_std.item() == pytest.approx(0.45)


def test_ou_noise_restarts_whole_when_the_row_is_beyond_its_batch():
    from robovision.agents.td3 import OUNoise

    noise = OUNoise(sigma=0.3, theta=0.15)
    noise(torch.zeros(1, 2))
    noise.reset(1)  # an env index its one-row state does not have: start over
    assert noise.state is None
    noise(torch.zeros(3, 2))
    noise.reset(2)
    assert noise.state.shape == (3, 2) and torch.equal(noise.state[2], torch.zeros(2))
