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


def test_ou_noise_is_temporally_correlated():
    agent = TD3(TD3Config(hidden=[8], noise_type="ou", exploration_noise=0.3), OBS, ACT,
                torch.device("cpu"))
    with torch.no_grad():
        for p in agent.actor.parameters():
            p.zero_()  # the policy outputs 0: actions are pure noise
    actions = np.array([agent.act(np.zeros(3, np.float32)) for _ in range(400)])
    x = actions[:, 0]
    lag1 = np.corrcoef(x[:-1], x[1:])[0, 1]
    assert lag1 > 0.8 and np.all(np.abs(actions) <= 1)
