"""Agents on fixed batches: shapes, learning signal, state-dict round trips."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from robovision.agents.protocol import OffPolicyAgent, OnPolicyAgent
from robovision.agents.registry import ALGORITHMS, algorithm, names
from robovision.checkpoint import load_checkpoint, save_checkpoint
from robovision.replay import Batch, RolloutBuffer

OBS = spaces.Box(-np.inf, np.inf, (5,), np.float32)
ACT = spaces.Box(-1, 1, (2,), np.float32)
CPU = torch.device("cpu")


OFF_POLICY = names("off_policy")


def make_agent(algo, obs_space=OBS, action_space=ACT, **cfg_kwargs):
    entry = algorithm(algo)
    return entry.agent_class()(entry.config(hidden=[32, 32], **cfg_kwargs), obs_space,
                               action_space, CPU)


def fixed_batch(n=64):
    g = torch.Generator().manual_seed(0)
    return Batch(obs=torch.randn(n, 5, generator=g), action=torch.rand(n, 2, generator=g) * 2 - 1,
                 reward=torch.randn(n, generator=g), next_obs=torch.randn(n, 5, generator=g),
                 discount=torch.full((n,), 0.99))


def ppo_rollout(agent, steps=32, envs=4):
    """A filled rollout of random observations and rewards, and the observation after it."""
    rollout = RolloutBuffer(steps, envs, OBS, ACT, CPU)
    rng = np.random.default_rng(0)
    for t in range(steps):
        step = agent.explore(rng.standard_normal((envs, 5)).astype(np.float32))
        rollout.store(t, step.obs, step.action, step.log_prob, step.value,
                      rng.standard_normal(envs), np.zeros(envs, bool), np.zeros(envs, bool),
                      torch.zeros(envs))
    return rollout, rng.standard_normal((envs, 5)).astype(np.float32)


def ppo_surrogate(agent, data):
    """The clipped surrogate loss of the agent's current policy on a flattened rollout."""
    from robovision.agents import losses

    with torch.no_grad():
        log_prob = agent._log_prob(agent.actor(agent.encoder(data["obs"])), data["action"])
        advantage = losses.normalize_advantage(data["advantage"])
        return losses.ppo_policy_loss(log_prob, data["log_prob"], advantage, agent.cfg.clip)[0]


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_registered_agent_implements_its_protocol(algo):
    agent = make_agent(algo)
    protocol = OffPolicyAgent if algorithm(algo).kind == "off_policy" else OnPolicyAgent
    assert isinstance(agent, protocol)
    agent.episode_end(0)  # the hook exists and takes an env index


@pytest.mark.parametrize("algo", list(ALGORITHMS))
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
    agent = make_agent("ppo", epochs=8, num_minibatches=2, anneal_lr=False, lr=1e-2)
    rollout, next_obs = ppo_rollout(agent)
    data = rollout.finish(agent.value(next_obs), agent.cfg.gamma, agent.cfg.gae_lambda)
    before = ppo_surrogate(agent, data)  # ratio 1: minus the mean normalised advantage, ~0
    metrics = agent.update(rollout, next_obs, progress=0.0)
    assert set(metrics) >= {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"}
    after = ppo_surrogate(agent, data)
    assert after < before - 0.02, (before, after)
    assert 0 < metrics["approx_kl"] < 0.5


def test_ppo_anneals_lr_by_budget_progress():
    agent = make_agent("ppo", epochs=1, num_minibatches=1, lr=1e-3)
    rollout, next_obs = ppo_rollout(agent)
    assert agent.update(rollout, next_obs, progress=0.0)["lr"] == pytest.approx(1e-3)
    assert agent.update(rollout, next_obs, progress=0.75)["lr"] == pytest.approx(2.5e-4)


def test_ou_noise_restarts_at_episode_end():
    agent = make_agent("ddpg", noise_type="ou", exploration_noise=0.3)
    obs = np.zeros(5, np.float32)
    for _ in range(50):
        agent.act(obs)
    assert agent.ou.state.abs().sum() > 0
    agent.episode_end(0)
    torch.manual_seed(1)
    after_reset = agent.act(obs) - agent.act(obs, eval=True)
    fresh = make_agent("ddpg", noise_type="ou", exploration_noise=0.3)
    fresh.load_state_dict(agent.state_dict())
    torch.manual_seed(1)
    first_step = fresh.act(obs) - fresh.act(obs, eval=True)
    assert np.allclose(after_reset, first_step, atol=1e-6)  # as if the process had just begun


def test_drqv2_layout_gives_actor_and_critic_their_own_trunks():
    from robovision.agents.configs import EncoderConfig

    image = spaces.Box(0, 255, (9, 32, 32), np.uint8)
    entry = algorithm("ddpg")
    cfg = entry.config(hidden=[32, 32], encoder=EncoderConfig(projection="per_head",
                                                              feature_dim=16))
    agent = entry.agent_class()(cfg, image, ACT, CPU)
    assert agent.encoder.out_dim == agent.encoder.conv_out_dim  # the conv trunk alone
    assert agent.actor.trunk is not agent.critic.trunk
    assert agent.actor.trunk.linear.out_features == 16
    obs = torch.randint(0, 255, (8, 9, 32, 32), dtype=torch.uint8)
    batch = Batch(obs=obs, action=torch.rand(8, 2) * 2 - 1, reward=torch.randn(8),
                  next_obs=obs, discount=torch.full((8,), 0.99))
    actor_trunk = agent.actor.trunk.linear.weight.clone()
    critic_trunk = agent.critic.trunk.linear.weight.clone()
    conv = agent.encoder.trunk[0].weight.clone()
    agent.update(batch)  # DDPG: critic and actor both update
    assert not torch.equal(actor_trunk, agent.actor.trunk.linear.weight)
    assert not torch.equal(critic_trunk, agent.critic.trunk.linear.weight)
    assert not torch.equal(conv, agent.encoder.trunk[0].weight)


def _image_batch(n=8, shape=(9, 32, 32)):
    g = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 255, (n, *shape), dtype=torch.uint8, generator=g)
    return Batch(obs=obs, action=torch.rand(n, 2, generator=g) * 2 - 1,
                 reward=torch.randn(n, generator=g), next_obs=obs.roll(1, 0),
                 discount=torch.full((n,), 0.99))


def test_encoder_grad_both_lets_the_actor_loss_train_the_encoder_and_critic_does_not():
    """DDPG's first update trains the actor with ``policy_delay=1`` and not with 2; the
    critic's update comes first, so without the actor's gradient both leave the same
    encoder."""
    from robovision.agents.configs import EncoderConfig

    image = spaces.Box(0, 255, (9, 32, 32), np.uint8)

    def encoder_after_one_update(grad, policy_delay):
        torch.manual_seed(0)
        agent = make_agent("ddpg", image, policy_delay=policy_delay,
                           encoder=EncoderConfig(feature_dim=16, grad=grad))
        agent.update(_image_batch())
        return [p.detach().clone() for p in agent.encoder.parameters()]

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    critic_only = encoder_after_one_update("critic", 2)  # the actor does not update
    assert same(encoder_after_one_update("critic", 1), critic_only)
    assert same(encoder_after_one_update("both", 2), critic_only)
    assert not same(encoder_after_one_update("both", 1), critic_only)


@pytest.mark.parametrize("algo", OFF_POLICY)
def test_heads_get_a_projection_only_for_per_head_images_and_targets_take_no_gradient(algo):
    from robovision.agents.configs import EncoderConfig

    image = spaces.Box(0, 255, (9, 32, 32), np.uint8)
    per_head = EncoderConfig(projection="per_head", feature_dim=16)
    for obs_space, encoder, projected in [(image, EncoderConfig(feature_dim=16), False),
                                          (image, per_head, True), (OBS, per_head, False)]:
        agent = make_agent(algo, obs_space, encoder=encoder)
        assert isinstance(agent.actor.trunk, nn.Identity) is not projected
        assert isinstance(agent.critic.trunk, nn.Identity) is not projected
        assert agent.encoder.out_dim == (16 if encoder is not per_head else
                                         5 if obs_space is OBS else agent.encoder.conv_out_dim)
        assert not any(p.requires_grad for p in agent.critic_target.parameters())


def test_update_from_a_replay_counts_one_update_and_a_state_without_counters_loads_at_zero():
    from robovision.replay import ReplayBuffer

    agent = make_agent("sac")
    replay = ReplayBuffer(OBS, ACT, 50, gamma=0.99)
    for t in range(20):
        replay.add(np.full(5, t, np.float32), np.zeros(2, np.float32), 1.0,
                   np.full(5, t + 1, np.float32), False, t % 10 == 9)
    metrics = agent.update_from(replay, 8)
    assert agent.num_updates == 1 and torch.isfinite(metrics["critic_loss"])
    state = agent.state_dict()
    del state["num_updates"]  # a checkpoint from before the counter was saved
    agent.load_state_dict(state)
    assert agent.num_updates == 0


@pytest.mark.parametrize("algo", ["ddpg", "sac"])
def test_bf16_conv_features_reach_the_projections_as_they_are(algo, monkeypatch):
    """amp with per-head projections: the conv features stay bf16 (no float32 copy that
    each Projection casts back), and updates match bit for bit those through float32
    features."""
    from robovision.agents.configs import EncoderConfig
    from robovision.nets.encoders import PixelEncoder

    image = spaces.Box(0, 255, (9, 32, 32), np.uint8)
    entry = algorithm(algo)
    cfg = entry.config(hidden=[32, 32], encoder=EncoderConfig(
        projection="per_head", feature_dim=16, amp=True, augment="shift"))
    g = torch.Generator().manual_seed(0)
    batches = [Batch(obs=torch.randint(0, 255, (8, 9, 32, 32), dtype=torch.uint8, generator=g),
                     action=torch.rand(8, 2, generator=g) * 2 - 1,
                     reward=torch.randn(8, generator=g),
                     next_obs=torch.randint(0, 255, (8, 9, 32, 32), dtype=torch.uint8,
                                            generator=g),
                     discount=torch.full((8,), 0.99)) for _ in range(3)]

    def trained(float_features: bool, updates: int = 3):
        torch.manual_seed(0)
        agent = entry.agent_class()(cfg, image, ACT, CPU)
        if float_features:
            bf16_forward = PixelEncoder.forward
            monkeypatch.setattr(PixelEncoder, "forward",
                                lambda self, obs: bf16_forward(self, obs).float())
        assert agent.encoder(batches[0].obs).dtype == (
            torch.float32 if float_features else torch.bfloat16)
        for batch in batches[:updates]:
            agent.update(batch)
        monkeypatch.undo()
        return {f"{part}.{key}": tensor for part, module in agent.state_dict().items()
                if part in ("encoder", "actor", "critic") for key, tensor in module.items()}

    bf16, float32, initial = trained(False), trained(True), trained(False, updates=0)
    assert all(torch.equal(bf16[k], float32[k]) for k in bf16)
    assert not torch.equal(bf16["encoder.trunk.0.weight"], initial["encoder.trunk.0.weight"])


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_checkpoint_round_trip_gives_identical_actions(algo, tmp_path):
    agent = make_agent(algo)
    if algorithm(algo).kind == "on_policy":
        agent.update(*ppo_rollout(agent))
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
    if algorithm(algo).kind == "off_policy":
        torch.manual_seed(9)
        agent.update(fixed_batch())
        torch.manual_seed(9)
        restored.update(fixed_batch())
        assert np.array_equal(agent.act(obs, eval=True), restored.act(obs, eval=True))


@pytest.mark.parametrize(("algo", "every"), [("sac", {"target_update_every": 2}),
                                             ("td3", {"policy_delay": 2})])
def test_targets_follow_their_networks_by_tau_on_their_updates_only(algo, every):
    """Polyak steps on the updates that the schedule names, by exactly tau."""
    agent = make_agent(algo, tau=0.25, **every)
    pairs = [(agent.critic_target, agent.critic)]
    if algo == "td3":
        pairs.append((agent.actor_target, agent.actor))
    for n in range(4):
        before = [[p.clone() for p in target.parameters()] for target, _ in pairs]
        agent.update(fixed_batch())
        for (target, online), old in zip(pairs, before, strict=True):
            for t, o, b in zip(target.parameters(), online.parameters(), old, strict=True):
                expected = 0.75 * b + 0.25 * o if n % 2 == 1 else b  # the 2nd and 4th
                assert torch.allclose(t, expected, atol=1e-6), (n, algo)


def test_sac_targets_an_entropy_of_minus_the_action_dimension_by_default():
    assert make_agent("sac").target_entropy == -2.0
    assert make_agent("sac", target_entropy=-0.5).target_entropy == -0.5


def test_sac_reports_the_entropy_its_temperature_loss_reads():
    """alpha_loss = -log_alpha * (mean log pi + target): the logged entropy is -mean log pi."""
    agent = make_agent("sac", init_alpha=0.5)
    log_alpha = agent.log_alpha.item()
    metrics = agent.update(fixed_batch())
    mean_log_prob = -metrics["alpha_loss"].item() / log_alpha - agent.target_entropy
    assert metrics["entropy"].item() == pytest.approx(-mean_log_prob, rel=1e-4)


# --------------------------------------------------------------------------- PPO, part by part


def test_ppo_initialises_orthogonally_with_the_usual_gains():
    """Hidden layers at gain sqrt(2), the policy head at 0.01 and the value head at 1
    (every singular value of an orthogonal matrix times g is g), biases at zero."""
    agent = make_agent("ppo")
    for net, head_gain in ((agent.actor, 0.01), (agent.critic, 1.0)):
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        for i, layer in enumerate(linears):
            gain = head_gain if i == len(linears) - 1 else 2 ** 0.5
            singular = torch.linalg.svdvals(layer.weight.detach())
            assert torch.allclose(singular, torch.full_like(singular, gain), rtol=1e-4), (i, gain)
            assert not layer.bias.any()


def test_ppo_samples_around_the_mean_with_the_std_of_its_log_std():
    agent = make_agent("ppo", log_std_init=-1.0)
    mean = torch.full((20_000, 2), 0.3)
    with torch.no_grad():
        samples = agent._sample(mean)
    assert samples.mean(0) == pytest.approx([0.3, 0.3], abs=0.01)
    assert samples.std(0) == pytest.approx([np.exp(-1.0)] * 2, rel=0.03)


def test_ppo_sends_clipped_gaussian_actions_and_flat_indices_to_the_env():
    assert np.array_equal(make_agent("ppo").to_env(torch.tensor([[-3.0, 0.5], [0.25, 3.0]])),
                          np.array([[-1.0, 0.5], [0.25, 1.0]], np.float32))
    discrete = make_agent("ppo", action_space=spaces.Discrete(3))
    indices = discrete.to_env(torch.tensor([[2.0], [0.0], [1.0]]))
    assert indices.shape == (3,) and indices.tolist() == [2, 0, 1]


def test_ppo_with_discrete_actions_acts_by_index():
    agent = make_agent("ppo", action_space=spaces.Discrete(3))
    step = agent.explore(np.random.randn(4, 5).astype(np.float32))
    assert agent.action_dim == 1 and step.action.shape == (4, 1) and step.env_action.shape == (4,)
    obs = np.random.randn(6, 5).astype(np.float32)
    with torch.no_grad():
        logits = agent.actor(agent.encoder(agent._prepare(obs, update_stats=False)[0]))
    assert agent.act(obs, eval=True).tolist() == logits.argmax(-1).tolist()  # the likeliest
    single = agent.act(obs[0], eval=True)
    assert single.shape == () and single == logits[0].argmax()


def test_ppo_act_samples_unless_evaluating():
    agent = make_agent("ppo", log_std_init=0.0)
    obs = np.zeros((64, 5), np.float32)
    assert not np.array_equal(agent.act(obs), agent.act(obs))
    assert np.array_equal(agent.act(obs, eval=True), agent.act(obs, eval=True))


def test_ppo_normalises_state_vectors_only_while_exploring():
    agent = make_agent("ppo")
    obs = np.random.randn(8, 5).astype(np.float32) * 3 + 1
    agent.act(obs)
    agent.act(obs, eval=True)
    agent.value(obs)
    assert agent.obs_rms.count.item() == pytest.approx(1e-4, abs=1e-3)  # untouched
    agent.explore(obs)
    assert agent.obs_rms.count.item() == pytest.approx(8, abs=1e-3)
    assert torch.allclose(agent.obs_rms.mean.float(), torch.as_tensor(obs.mean(0)), atol=1e-4)
    assert not make_agent("ppo", normalize_obs=False).normalize_obs


def test_ppo_keeps_images_as_uint8_and_does_not_normalise_them():
    image = spaces.Box(0, 255, (3, 16, 16), np.uint8)
    agent = make_agent("ppo", obs_space=image)
    assert not agent.normalize_obs
    frames = np.random.randint(0, 256, (2, 3, 16, 16), np.uint8)
    step = agent.explore(frames)
    assert step.obs.dtype == torch.uint8 and torch.equal(step.obs, torch.as_tensor(frames))


def _recording_minibatches(agent, kls=None):
    """Replace the agent's minibatch step by one that records the rows it is given (by
    their first observation feature) and reports the KLs of ``kls`` in turn."""
    seen, kls = [], iter(kls or [])

    def step(mb):
        seen.append(mb["obs"][:, 0].tolist())
        return {"approx_kl": torch.tensor(next(kls, 0.0))}
    agent._minibatch_step = step
    return seen


def _numbered_rollout(size):
    return {"obs": torch.arange(size, dtype=torch.float32)[:, None].repeat(1, 5),
            "action": torch.zeros(size, 2), "log_prob": torch.zeros(size),
            "value": torch.zeros(size), "advantage": torch.zeros(size),
            "return": torch.zeros(size)}


def test_ppo_epochs_visit_every_step_once_in_equal_minibatches():
    agent = make_agent("ppo", epochs=3, num_minibatches=4)
    seen = _recording_minibatches(agent)
    agent.update_minibatches(_numbered_rollout(32))
    assert [len(rows) for rows in seen] == [8] * 12
    epochs = [[row for rows in seen[4 * e: 4 * e + 4] for row in rows] for e in range(3)]
    assert all(sorted(rows) == list(range(32)) for rows in epochs)
    assert epochs[0] != epochs[1]  # reshuffled each epoch


def test_ppo_stops_its_epochs_when_the_last_minibatch_kl_exceeds_the_target():
    # epoch 1 ends at kl 0.25 (not above the target: go on), epoch 2 at 0.375 (stop)
    agent = make_agent("ppo", epochs=4, num_minibatches=2, target_kl=0.25)
    seen = _recording_minibatches(agent, kls=[0.5, 0.25, 0.0, 0.375, 0.0, 0.0])
    agent.update_minibatches(_numbered_rollout(8))
    assert len(seen) == 4


def _value_error(agent, data) -> float:
    """The critic's mean squared error against the returns of ``data``."""
    with torch.no_grad():
        value = agent.critic(agent.encoder(data["obs"])).squeeze(-1)
    return ((value - data["return"]) ** 2).mean().item()


def test_ppo_loss_descends_the_value_error_and_ascends_the_entropy():
    """With only the value term, the critic fits each step's return; with a large
    entropy coefficient the policy's log std grows."""
    data = _numbered_rollout(64) | {"return": torch.linspace(-1, 1, 64),
                                    "obs": torch.randn(64, 5)}
    critic_only = make_agent("ppo", ent_coef=0.0, vf_coef=1.0, clip_vloss=False, lr=1e-2,
                             num_minibatches=4)
    error = _value_error(critic_only, data)
    for _ in range(20):
        critic_only.update_minibatches(data)
    # below 0.34, the error of predicting the mean return for every step
    assert error > 0.3 and _value_error(critic_only, data) < 0.1
    explorer = make_agent("ppo", ent_coef=10.0, vf_coef=0.0, lr=1e-2, num_minibatches=4)
    log_std = explorer.log_std.sum().item()
    explorer.update_minibatches(data)
    assert explorer.log_std.sum().item() > log_std + 0.05


def test_ppo_reports_the_kl_estimate_of_its_ratios():
    """approx_kl = mean((r - 1) - log r), the low-variance estimator (Schulman 2020)."""
    agent = make_agent("ppo", epochs=1, num_minibatches=1)
    data = _numbered_rollout(16) | {"obs": torch.randn(16, 5), "action": torch.randn(16, 2)}
    with torch.no_grad():
        log_prob = agent._log_prob(agent.actor(agent.encoder(data["obs"])), data["action"])
    data["log_prob"] = log_prob + torch.linspace(-0.2, 0.6, 16)  # mean log ratio -0.2
    log_ratio = log_prob - data["log_prob"]
    expected = ((log_ratio.exp() - 1) - log_ratio).mean()
    assert agent.update_minibatches(data)["approx_kl"] == pytest.approx(expected.item(), rel=1e-5)


def test_ppo_update_without_progress_keeps_the_full_lr_and_counts_itself():
    agent = make_agent("ppo", lr=1e-3)
    assert agent.update(*ppo_rollout(agent))["lr"] == pytest.approx(1e-3)
    assert agent.num_updates == agent.state_dict()["num_updates"] == 1
