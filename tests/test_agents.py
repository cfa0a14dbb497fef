"""Agents on fixed batches: shapes, learning signal, state-dict round trips."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from robovision.agents.registry import AGENT_CLASSES, AGENT_CONFIGS, OFF_POLICY
from robovision.checkpoint import load_checkpoint, save_checkpoint
from robovision.replay import Batch

OBS = spaces.Box(-np.inf, np.inf, (5,), np.float32)
ACT = spaces.Box(-1, 1, (2,), np.float32)
CPU = torch.device("cpu")


def make_agent(algo, **cfg_kwargs):
    cfg = AGENT_CONFIGS[algo](hidden=[32, 32], **cfg_kwargs)
    return AGENT_CLASSES[algo](cfg, OBS, ACT, CPU)


def fixed_batch(n=64):
    g = torch.Generator().manual_seed(0)
    return Batch(obs=torch.randn(n, 5, generator=g), action=torch.rand(n, 2, generator=g) * 2 - 1,
                 reward=torch.randn(n, generator=g), next_obs=torch.randn(n, 5, generator=g),
                 discount=torch.full((n,), 0.99))


def ppo_data(agent, n=128):
    step = agent.explore(np.random.randn(n, 5).astype(np.float32))
    adv = torch.randn(n)
    return {"obs": step.obs, "action": step.action, "log_prob": step.log_prob,
            "value": step.value, "advantage": adv, "return": step.value + adv}


@pytest.mark.parametrize("algo", ["sac", "td3", "ddpg", "ppo"])
def test_act_shapes_and_bounds(algo):
    agent = make_agent(algo)
    single = agent.act(np.zeros(5, np.float32))
    batch = agent.act(np.zeros((7, 5), np.float32), eval=True)
    assert single.shape == (2,) and batch.shape == (7, 2)
    assert np.all(np.abs(batch) <= 1.0) and np.all(np.abs(single) <= 1.0)


@pytest.mark.parametrize("algo", OFF_POLICY)
def test_off_policy_update_reduces_critic_loss_on_fixed_batch(algo):
    # discount 0: the critic regresses the rewards, a target that must be learnable
    agent = make_agent(algo, critic_lr=1e-3)
    batch = fixed_batch()
    batch.discount = torch.zeros_like(batch.discount)
    first = agent.update(batch)
    for _ in range(200):
        last = agent.update(batch)
    assert set(first) >= {"critic_loss", "q"}
    assert all(torch.isfinite(v) for v in last.values())
    assert last["critic_loss"] < 0.5 * first["critic_loss"]


def test_td3_delays_actor_and_targets():
    agent = make_agent("td3", policy_delay=3)
    actor_before = [p.clone() for p in agent.actor.parameters()]
    target_before = [p.clone() for p in agent.critic_target.parameters()]
    for _ in range(2):
        metrics = agent.update(fixed_batch())
        assert "actor_loss" not in metrics
    assert all(torch.equal(a, b) for a, b in zip(actor_before, agent.actor.parameters(),
                                                  strict=True))
    assert all(torch.equal(a, b) for a, b in zip(target_before,
                                                  agent.critic_target.parameters(), strict=True))
    assert "actor_loss" in agent.update(fixed_batch())
    assert not all(torch.equal(a, b) for a, b in zip(actor_before, agent.actor.parameters(),
                                                      strict=True))


def test_critic_ensemble_first_member_matches_full_ensemble():
    agent = make_agent("td3")
    features, action = torch.randn(16, 5), torch.rand(16, 2) * 2 - 1
    full = agent.critic(features, action)
    first = agent.critic(features, action, members=1)
    assert full.shape == (2, 16) and first.shape == (1, 16)
    assert torch.allclose(first[0], full[0], atol=1e-6)
    first.sum().backward()  # only member 0's weights take part
    weight = agent.critic.net.layers[0].weight.grad
    assert weight[0].abs().sum() > 0 and torch.count_nonzero(weight[1]) == 0


@pytest.mark.parametrize("actor_q", ["first", "min"])
def test_td3_actor_loss_reads_first_critic_or_min(actor_q):
    agent = make_agent("td3", actor_q=actor_q)
    features = torch.randn(16, 5)
    with torch.no_grad():
        q = agent.critic(features, agent.actor(features))
        expected = -(q[0] if actor_q == "first" else q.min(0).values).mean()
    assert torch.allclose(agent._update_actor(features), expected, atol=1e-6)


def test_sac_temperature_moves_toward_target_entropy():
    agent = make_agent("sac", target_entropy=10.0)  # unreachable: alpha must grow
    alphas = [agent.update(fixed_batch())["alpha"].item() for _ in range(50)]
    assert alphas[-1] > alphas[0]


def test_sac_actor_does_not_train_the_critic():
    agent = make_agent("sac")
    critic_before = [p.clone() for p in agent.critic.parameters()]
    features = torch.randn(16, 5)
    agent._update_actor(features, torch.tensor(0.1))
    assert all(torch.equal(a, b) for a, b in zip(critic_before, agent.critic.parameters(),
                                                  strict=True))
    assert all(p.requires_grad for p in agent.critic.parameters())


def test_ppo_update_improves_surrogate():
    agent = make_agent("ppo", epochs=4, num_minibatches=2)
    data = ppo_data(agent)
    metrics = agent.update(data)
    assert set(metrics) >= {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"}
    assert metrics["approx_kl"] > 0


def test_ppo_obs_normalisation_is_in_state_dict():
    agent = make_agent("ppo")
    agent.explore(np.random.randn(100, 5).astype(np.float32) * 3 + 2)
    state = agent.state_dict()
    assert state["obs_rms"]["count"] > 100 - 1
    fresh = make_agent("ppo")
    fresh.load_state_dict(state)
    assert torch.allclose(fresh.obs_rms.mean, agent.obs_rms.mean)


@pytest.mark.parametrize("algo", ["sac", "td3", "ddpg", "ppo"])
def test_checkpoint_round_trip_gives_identical_actions(algo, tmp_path):
    agent = make_agent(algo)
    if algo == "ppo":
        agent.update(ppo_data(agent))
    else:
        for _ in range(5):
            agent.update(fixed_batch())
    save_checkpoint({"agent": agent.state_dict()}, tmp_path / "a.pt")
    restored = make_agent(algo)
    restored.load_state_dict(load_checkpoint(tmp_path / "a.pt")["agent"])
    obs = np.random.randn(10, 5).astype(np.float32)
    assert np.array_equal(agent.act(obs, eval=True), restored.act(obs, eval=True))
    torch.manual_seed(5)
    a = agent.act(obs)
    torch.manual_seed(5)
    assert np.array_equal(a, restored.act(obs))
    # optimiser state came along: one more identical update gives identical weights
    if algo != "ppo":
        torch.manual_seed(9)
        agent.update(fixed_batch())
        torch.manual_seed(9)
        restored.update(fixed_batch())
        assert np.array_equal(agent.act(obs, eval=True), restored.act(obs, eval=True))
