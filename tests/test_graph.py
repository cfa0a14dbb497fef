"""CUDA-graph updates (``train.cuda_graph``): what a CPU can check, and the real thing
on a GPU.

A CUDA graph replays the kernels it recorded, with the Python values of the moment it
was captured. :class:`CheckedCapture` enforces the same rules on any device, so these
tests catch an update that a graph would replay wrongly without needing a GPU.
"""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from robovision import factory
from robovision.agents.configs import EncoderConfig
from robovision.agents.graph import (
    CheckedCapture,
    Eager,
    Graphed,
    NotCapturable,
    check_capturable,
)
from robovision.agents.registry import algorithm, names
from robovision.config import ConfigError, list_presets, load_config
from robovision.replay import Batch

ACT = spaces.Box(-1, 1, (2,), np.float32)
STATE = spaces.Box(-np.inf, np.inf, (5,), np.float32)
IMAGE = spaces.Box(0, 255, (9, 32, 32), np.uint8)
PIXEL_ENCODER = EncoderConfig(projection="per_head", feature_dim=16, amp=True, augment="shift")
# Settings whose update changes from one call to the next: delayed actor and target
# updates (phases), and DrQ-v2's scheduled smoothing std (a value read by the update).
CYCLING = {"sac": {"actor_update_every": 2, "target_update_every": 3},
           "td3": {"policy_delay": 2, "noise_schedule": "linear(1.0,0.1,100)"},
           "ddpg": {"noise_schedule": "linear(1.0,0.1,100)"}}


def make_agent(algo, obs_space, device="cpu", **kwargs):
    entry = algorithm(algo)
    encoder = PIXEL_ENCODER if obs_space is IMAGE else EncoderConfig()
    cfg = entry.config(hidden=[32, 32], encoder=encoder, **CYCLING[algo], **kwargs)
    return entry.agent_class()(cfg, obs_space, ACT, torch.device(device))


def random_batch(obs_space, n=8, device="cpu"):
    def obs():
        if obs_space is IMAGE:
            return torch.randint(0, 256, (n, *IMAGE.shape), dtype=torch.uint8, device=device)
        return torch.randn(n, *STATE.shape, device=device)

    return Batch(obs=obs(), action=torch.rand(n, 2, device=device) * 2 - 1,
                 reward=torch.randn(n, device=device), next_obs=obs(),
                 discount=torch.full((n,), 0.99, device=device))


def advancing_batches(agent, obs_space, make=random_batch):
    """Fresh batches (``make(obs_space)``), with the exploration counter moving as in
    training (so a scheduled std changes between updates)."""
    def batches():
        if hasattr(agent, "explore_steps"):
            agent.explore_steps += 7
        return make(obs_space)

    return batches


@pytest.mark.parametrize("obs_space", [STATE, IMAGE], ids=["state", "pixels"])
@pytest.mark.parametrize("algo", names("off_policy"))
def test_every_off_policy_update_and_act_is_capturable(algo, obs_space):
    agent = make_agent(algo, obs_space)
    check_capturable(agent, advancing_batches(agent, obs_space), updates=7)
    assert isinstance(agent.runner, Eager) and not agent.capturable  # restored
    assert isinstance(agent.act_runner, Eager)


def test_the_check_catches_an_exploration_std_inside_the_policy(monkeypatch):
    """DDPG's scheduled exploration std read inside the graphed policy would stay at its
    value of the capture: exploration noise must be added outside the graph."""
    agent = make_agent("ddpg", STATE)
    policy = agent.policy
    monkeypatch.setattr(agent, "policy", lambda obs, phase: policy(obs, phase)
                        * (1.0 + agent.exploration_std))
    with pytest.raises(NotCapturable, match="differs from the captured one"):
        check_capturable(agent, advancing_batches(agent, STATE))


@pytest.mark.parametrize("bad_when", [False, True], ids=["exploring", "evaluating"])
def test_the_check_plays_both_exploring_and_evaluating_acts(monkeypatch, bad_when):
    """A host read in only one kind of act: the check must play that kind to see it."""
    agent = make_agent("sac", STATE)
    policy = agent.policy

    def policy_reading_the_host(obs, evaluating):
        action = policy(obs, evaluating)
        if evaluating == bad_when:
            float(action.sum())
        return action

    monkeypatch.setattr(agent, "policy", policy_reading_the_host)
    with pytest.raises(NotCapturable, match="host"):
        check_capturable(agent, advancing_batches(agent, STATE), updates=2)


def test_checked_capture_names_an_op_more_or_fewer_than_it_captured():
    x, extra = torch.ones(3), [0]

    def body():
        y = x * 2
        for _ in range(extra[0]):
            y = y + 1
        return y

    replay = CheckedCapture()(body)
    static = replay()  # a graph's first replay: what the capture computed
    x.fill_(3.0)
    assert replay() is static and static.tolist() == [6.0] * 3  # rewritten in place
    extra[0] = 1
    with pytest.raises(NotCapturable, match=r"op 1 of this update differs .* now, nothing "
                                            r"when captured"):
        replay()
    captured = CheckedCapture()(body)  # captured with the add
    captured()
    extra[0] = 0
    with pytest.raises(NotCapturable, match="this update ran 1 ops; the captured one ran 2"):
        captured()


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_graphed_acts_choose_exactly_what_eager_acts_choose(algo):
    """One graph per (phase, batch size), observations copied into it, actions copied
    out: the same actions as eager acts, exploring (SAC samples inside the graph, TD3 adds
    its noise after it) and evaluating, for one observation and for a batch."""
    torch.manual_seed(0)
    eager = make_agent(algo, IMAGE)
    torch.manual_seed(0)
    graphed = make_agent(algo, IMAGE)
    runner = Graphed(CheckedCapture(), warmup=1)
    graphed.use_runner(Eager(), capturable=False, acts=runner)
    rng = np.random.default_rng(0)
    kept = []
    for i in range(12):
        obs = rng.integers(0, 256, (3, *IMAGE.shape), dtype=np.uint8)
        for observations, eval in ((obs[0], False), (obs, True), (obs[:2], False)):
            torch.manual_seed(100 + i)
            expected = eager.act(observations, eval=eval)
            torch.manual_seed(100 + i)
            got = graphed.act(observations, eval=eval)
            assert got.shape == expected.shape == (*np.shape(observations)[:-3], 2)
            np.testing.assert_array_equal(got, expected)
            kept.append((expected, got))
    assert len(runner.graphs) == 3  # batch sizes 1, 3 and 2
    assert all(np.array_equal(e, g) for e, g in kept)
    if algo == "td3":
        assert graphed.explore_steps == eager.explore_steps == 12 * 3


def test_the_check_catches_a_python_value_a_graph_would_freeze(monkeypatch):
    """TD3's scheduled smoothing std passed as a Python float: a graph would keep the
    value of its capture for the whole run."""
    from robovision.agents import losses

    agent = make_agent("ddpg", STATE)
    smooth = losses.smoothed_target_action
    monkeypatch.setattr(losses, "smoothed_target_action",
                        lambda action, std, clip: smooth(action, agent.target_std, clip))
    with pytest.raises(NotCapturable, match="differs from the captured one"):
        check_capturable(agent, advancing_batches(agent, STATE))


@pytest.mark.parametrize("host_value", [
    lambda target: float(target.abs().max()),  # a read on the host
    lambda target: torch.tensor(0.5),  # a tensor made from host data
], ids=["read", "made"])
def test_the_check_catches_host_data(monkeypatch, host_value):
    from robovision.agents import losses

    critic_loss = losses.critic_loss
    monkeypatch.setattr(losses, "critic_loss",
                        lambda q, target: critic_loss(q, target) * host_value(target))
    agent = make_agent("sac", STATE)
    with pytest.raises(NotCapturable, match="host"):
        check_capturable(agent, advancing_batches(agent, STATE))


def test_the_check_catches_control_flow_outside_the_phase(monkeypatch):
    agent = make_agent("sac", STATE)
    learn = agent.learn
    monkeypatch.setattr(agent, "learn", lambda batch, phase: learn(
        batch, (agent.num_updates % 4 == 0, phase[1])))  # not what next_phase decided
    with pytest.raises(NotCapturable):
        check_capturable(agent, advancing_batches(agent, STATE), updates=12)


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_graphed_updates_learn_exactly_what_eager_updates_learn(algo):
    """Static batch copies, one graph per phase, metrics copied out of the graph: the same
    parameters and metrics as eager updates, bit for bit, over several phase cycles."""
    torch.manual_seed(0)
    eager = make_agent(algo, IMAGE)
    torch.manual_seed(0)
    graphed = make_agent(algo, IMAGE)
    runner = Graphed(CheckedCapture(), warmup=1)
    graphed.use_runner(runner, capturable=True)
    eager.use_runner(Eager(), capturable=True)
    kept = []
    for i in range(13):
        batch = random_batch(IMAGE)
        if algo == "td3":  # the smoothing std follows its schedule
            eager.explore_steps = graphed.explore_steps = 7 * i
        torch.manual_seed(100 + i)
        expected = eager.update(batch)
        torch.manual_seed(100 + i)
        got = graphed.update(batch)
        assert got.keys() == expected.keys()
        for key in got:
            assert torch.equal(got[key], expected[key]), (i, key)
        kept.append((expected, got))
    assert len(runner.graphs) == (4 if algo == "sac" else 2)  # actor x target; actor
    for (expected, got) in kept:  # later replays did not overwrite returned metrics
        assert all(torch.equal(got[k], expected[k]) for k in got)
    for name in ("encoder", "actor", "critic", "critic_target"):
        for a, b in zip(getattr(eager, name).parameters(), getattr(graphed, name).parameters(),
                        strict=True):
            assert torch.equal(a, b), name


def _growing_replay(obs_space=STATE, capacity=40, lanes=1):
    """A replay (``lanes`` > 1: one lane per env) and a function adding steps to it."""
    from robovision.replay import ReplayBuffer, ReplayLanes, lanes_of

    made = [ReplayBuffer(obs_space, ACT, capacity, gamma=0.99, n_step=3) for _ in range(lanes)]
    replay = made[0] if lanes == 1 else ReplayLanes(made)
    rng = np.random.default_rng(0)

    def add(steps):
        for _ in range(steps):
            for lane in lanes_of(replay):
                obs = rng.standard_normal(obs_space.shape).astype(np.float32)
                lane.add(obs, rng.uniform(-1, 1, 2), float(rng.standard_normal()), obs + 1,
                         False, bool(rng.random() < 0.1))

    return replay, add


@pytest.mark.parametrize("lanes", [1, 3], ids=["one-env", "three-lanes"])
@pytest.mark.parametrize("algo", names("off_policy"))
def test_sampling_and_update_capture_as_one_graph_while_the_replay_grows(algo, lanes):
    """``update_from``: the replay samples inside the captured step from its device
    counter (every lane's), so one graph serves every update while steps are added and
    the ring wraps."""
    agent = make_agent(algo, STATE)
    runner = Graphed(CheckedCapture(), warmup=1)
    agent.use_runner(runner, capturable=True)
    replay, add = _growing_replay(lanes=lanes)
    add(10)
    for _ in range(12):
        add(5)  # 70 steps into 40 slots: the ring wraps
        agent.explore_steps = getattr(agent, "explore_steps", 0) + 5
        metrics = agent.update_from(replay, 16)
    assert runner.graphs and all(torch.isfinite(v) for v in metrics.values())


def test_the_check_catches_sampling_bounds_read_on_the_host(monkeypatch):
    """The same update sampling with the host's step count, which a graph would freeze
    at its capture (the replay would never grow for it)."""
    agent = make_agent("sac", STATE)
    agent.use_runner(Graphed(CheckedCapture(), warmup=1), capturable=True)
    replay, add = _growing_replay()
    sample = replay.sample
    monkeypatch.setattr(replay, "sample", lambda batch_size, t: sample(batch_size))
    add(10)
    with pytest.raises(NotCapturable, match="differs from the captured one"):
        for _ in range(18):  # three cycles of SAC's four phases
            add(5)
            agent.update_from(replay, 16)


def test_loading_a_checkpoint_drops_the_graphs_and_keeps_the_optimisers_capturable():
    """The optimiser state a graph read is replaced by a load, and the saved param groups
    carry the saving run's capturable flag (false for an eager run)."""
    saved = make_agent("td3", STATE)
    for _ in range(3):
        saved.update(random_batch(STATE))
    agent = make_agent("td3", STATE)
    runner = Graphed(CheckedCapture(), warmup=1)
    agent.use_runner(runner, capturable=True)
    for _ in range(4):
        agent.update(random_batch(STATE))
    assert runner.graphs
    agent.load_state_dict(saved.state_dict())
    assert not runner.graphs
    assert all(g["capturable"] for opt in (agent.actor_opt, agent.critic_opt)
               for g in opt.param_groups)
    agent.update(random_batch(STATE))  # warms up and captures again


def test_cuda_graph_setting_is_checked_and_says_what_it_does_on_the_cpu():
    assert load_config("inverted_pendulum_ppo").train.cuda_graph == "auto"  # PPO: eager
    with pytest.raises(ConfigError, match=r"train\.cuda_graph"):
        load_config("inverted_pendulum_ppo", ["train.cuda_graph=true"])
    agent = make_agent("sac", STATE)
    message = factory.use_cuda_graphs(agent, torch.device("cpu"))
    assert "CUDA only" in message and isinstance(agent.runner, Eager)
    assert factory.use_cuda_graphs(agent, torch.device("cpu"), "auto") is None
    assert isinstance(agent.runner, Eager)


class UngraphableAgent:
    """A user's off-policy agent without ``use_runner``."""

    device = torch.device("cpu")

    def act(self, obs, eval=False): ...
    def episode_end(self, env_index=0): ...
    def state_dict(self): return {}
    def load_state_dict(self, state): ...
    def update(self, batch): return {}


def test_cuda_graph_auto_graphs_what_it_can_on_cuda():
    """Setting the runners touches no GPU, so the CUDA branch is checked here too."""
    cuda = torch.device("cuda")
    agent = make_agent("td3", STATE)
    message = factory.use_cuda_graphs(agent, cuda, "auto")
    assert "train.cuda_graph=auto" in message
    assert isinstance(agent.runner, Graphed) and isinstance(agent.act_runner, Graphed)
    assert agent.capturable
    message = factory.use_cuda_graphs(UngraphableAgent(), cuda, "auto")
    assert "UngraphableAgent" in message and "eagerly" in message
    with pytest.raises(TypeError, match="UngraphableAgent has no use_runner"):
        factory.use_cuda_graphs(UngraphableAgent(), cuda, True)


def _off_policy_presets():
    cases = [pytest.param(name, [], id=name) for name in list_presets()
             if algorithm(load_config(name).algo).kind == "off_policy"]
    # the observation kinds no preset uses: image plus state, and two camera views
    return [*cases,
            pytest.param("reach_duplo_pixels", ["env.obs=state+pixels"], id="state+pixels"),
            pytest.param("cheetah_run_pixels", ["env.camera=0,1", "env.camera_views=dict"],
                         id="two-views")]


def space_batch(space, n=4):
    """``n`` samples of ``space`` as one batch of tensors (a dict for a Dict space)."""
    if isinstance(space, spaces.Dict):
        return {key: space_batch(sub, n) for key, sub in space.spaces.items()}
    return torch.as_tensor(np.stack([space.sample() for _ in range(n)]))


@pytest.mark.parametrize(("preset", "overrides"), _off_policy_presets())
def test_every_off_policy_preset_is_capturable(preset, overrides):
    """``train.cuda_graph: auto`` graphs every off-policy run on a GPU: each preset's own
    agent, on its env's observation space (pixels at 40x40 to keep this quick), must keep
    to a graph's rules."""
    cfg = load_config(preset, ["device=cpu", "train.video=false", *overrides])
    cfg.env.image_size = 40
    try:
        env = factory.build_env(cfg, seed=0)
    except ImportError as exc:  # an optional extra (Fetch) that is not installed
        pytest.skip(str(exc))
    space, actions = env.observation_space, env.action_space
    env.close()
    agent = factory.build_agent(cfg, space, actions, torch.device("cpu"))

    def batch(space, n=4):
        return Batch(obs=space_batch(space, n), action=space_batch(actions, n).float(),
                     reward=torch.randn(n), next_obs=space_batch(space, n),
                     discount=torch.full((n,), 0.99))

    check_capturable(agent, advancing_batches(agent, space, batch), updates=5)


@pytest.mark.cuda
def test_cuda_graph_replays_match_eager_updates_on_the_gpu():
    """The real capture, on an update without random numbers (DDPG without smoothing or
    augmentation): graphed and eager updates from the same start on the same batches stay
    together (cuDNN may pick other kernels for the two, so not bit for bit)."""
    entry = algorithm("ddpg")
    cfg = entry.config(hidden=[32, 32], encoder=EncoderConfig(projection="per_head",
                                                              feature_dim=16, amp=True))
    agents = []
    for runner in (Eager(), Graphed()):
        torch.manual_seed(0)
        agent = entry.agent_class()(cfg, IMAGE, ACT, torch.device("cuda"))
        agent.use_runner(runner, capturable=True)
        agents.append(agent)
    eager, graphed = agents
    for _ in range(12):
        batch = random_batch(IMAGE, n=32, device="cuda")
        expected, got = eager.update(batch), graphed.update(batch)
        assert torch.allclose(got["critic_loss"], expected["critic_loss"], rtol=1e-2, atol=1e-4)
    assert graphed.runner.graphs
    for a, b in zip(eager.critic.parameters(), graphed.critic.parameters(), strict=True):
        assert torch.allclose(a, b, rtol=1e-2, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.parametrize("algo", ["sac", "ddpg"])
def test_cuda_graph_acts_match_eager_acts_on_the_gpu(algo):
    """The real capture of the act: the graphed policy follows the eager one as the
    weights change under it (the graph reads the parameters in place)."""
    torch.manual_seed(0)
    agent = make_agent(algo, IMAGE, device="cuda")
    graphed = Graphed()
    rng = np.random.default_rng(0)
    for _ in range(8):
        obs = rng.integers(0, 256, (4, *IMAGE.shape), dtype=np.uint8)
        agent.use_runner(Eager(), capturable=True)
        expected = agent.act(obs, eval=True)
        agent.use_runner(Eager(), capturable=True, acts=graphed)
        got = agent.act(obs, eval=True)
        np.testing.assert_allclose(got, expected, rtol=1e-2, atol=1e-3)
        agent.update(random_batch(IMAGE, n=32, device="cuda"))
    assert graphed.graphs


@pytest.mark.cuda
@pytest.mark.parametrize("lanes", [1, 2], ids=["one-env", "two-lanes"])
def test_a_cuda_graph_samples_the_steps_added_after_its_capture(lanes):
    """Sampling captured with the update on the GPU: steps added after the capture, with
    rewards of 100 instead of 0, reach the graph's batches (a graph that had frozen the
    replay's size would keep drawing the first steps, whose rewards are 0)."""
    from robovision.replay import ReplayBuffer, ReplayLanes, lanes_of

    agent = make_agent("ddpg", STATE, device="cuda")
    agent.use_runner(Graphed(), capturable=True)
    made = [ReplayBuffer(STATE, ACT, 1000, gamma=0.99, device="cuda", storage_device="cuda")
            for _ in range(lanes)]
    replay = made[0] if lanes == 1 else ReplayLanes(made)
    obs = np.zeros(STATE.shape, np.float32)

    def add(steps, reward):
        for _ in range(steps):
            for lane in lanes_of(replay):
                lane.add(obs, np.zeros(2, np.float32), reward, obs, False, False)

    add(50, 0.0)
    before = [agent.update_from(replay, 64)["critic_loss"].item() for _ in range(8)]
    add(900, 100.0)
    after = [agent.update_from(replay, 64)["critic_loss"].item() for _ in range(3)]
    assert agent.runner.graphs
    assert max(before) < 1.0 < 100.0 < min(after)


@pytest.mark.cuda
@pytest.mark.parametrize("algo", names("off_policy"))
def test_cuda_graph_updates_learn_on_the_gpu(algo):
    """Graphed pixel updates with every random part on (sampling, smoothing, random shift)
    fit the rewards of a fixed batch (discount 0), as eager updates do."""
    agent = make_agent(algo, IMAGE, device="cuda", critic_lr=1e-3)
    agent.use_runner(Graphed(), capturable=True)
    batch = random_batch(IMAGE, n=32, device="cuda")
    batch.discount = torch.zeros_like(batch.discount)
    first = agent.update(batch)["critic_loss"].item()
    for _ in range(200):
        last = agent.update(batch)["critic_loss"].item()
    assert agent.runner.graphs and last < 0.5 * first
