"""The factory: storage sizing, the training env's wrappers, the render-backend choice."""

import os

import gymnasium as gym
import numpy as np
import pytest
import torch

from robovision import factory, make
from robovision.config import load_config
from robovision.replay import ReplayBuffer, RolloutBuffer

CPU = torch.device("cpu")


def _storage(preset, *overrides):
    cfg = load_config(preset, list(overrides))
    env = factory.build_env(cfg, seed=0)
    storage = factory.build_storage(cfg, env.observation_space, env.action_space, CPU)
    env.close()
    return cfg, storage


def test_replay_is_sized_to_the_budget_not_beyond():
    _, replay = _storage("pendulum_sac", "train.total_steps=5000", "train.buffer_size=1000000")
    assert isinstance(replay, ReplayBuffer)
    assert replay.capacity == 5000 + 500 + 10  # the budget plus a slot per episode end
    _, small = _storage("pendulum_sac", "train.total_steps=5000", "train.buffer_size=300")
    assert small.capacity == 300
    assert small.k == 1 and small.n == 1


def test_lanes_split_the_replay_and_are_checked_together_before_allocating():
    _, replay = _storage("pendulum_sac", "train.total_steps=5000", "env.num_envs=2")
    assert [lane.capacity for lane in replay.lanes] == [2755, 2755]  # 5510 in all
    assert "one lane per env (2)" in replay.placement
    with pytest.raises(MemoryError, match=r"a replay of 1,000,000,000 transitions"):
        _storage("point_reach_pixels_sac", "train.total_steps=1000000000",
                 "train.buffer_size=1000000000", "env.num_envs=2")


def test_pixel_replay_stores_one_frame_per_step():
    cfg, replay = _storage("point_reach_pixels_sac", "train.total_steps=1000", "env.frame_stack=3")
    assert replay.k == cfg.env.frame_stack and replay.stacked[None]
    assert replay.obs[None].shape[1] == 3  # RGB of one frame, not the stack of 3


def test_on_policy_gets_a_rollout():
    cfg, rollout = _storage("inverted_pendulum_ppo", "train.rollout_steps=64")
    assert isinstance(rollout, RolloutBuffer) and rollout.obs.shape[:2] == (64, cfg.env.num_envs)


def test_training_env_normalises_rewards_but_records_raw_returns():
    cfg = load_config("inverted_pendulum_ppo", ["env.num_envs=2"])
    envs = factory.build_train_env(cfg, seed=0)
    envs.reset(seed=0)
    learned, raw = [], []
    for _ in range(200):
        _, reward, _, _, info = envs.step(envs.action_space.sample())
        learned.append(reward)
        if "episode" in info:
            raw += info["episode"]["r"][info["_episode"]].tolist()
    envs.close()
    assert raw and all(r == int(r) and r >= 1 for r in raw)  # +1 per step: raw returns
    assert not np.allclose(np.concatenate(learned), 1.0)  # the agent learns from scaled ones
    state = factory.normalizer_state(envs)
    assert state is not None and float(state["count"]) > 100
    again = factory.build_train_env(cfg, seed=0)
    factory.load_normalizer_state(again, state)
    assert float(factory.normalizer_state(again)["var"]) == pytest.approx(float(state["var"]))
    again.close()


def test_off_policy_training_env_records_episodes():
    cfg = load_config("pendulum_sac")
    env = factory.build_train_env(cfg, seed=0)
    assert isinstance(env, gym.wrappers.RecordEpisodeStatistics)
    assert factory.normalizer_state(env) is None  # SAC preset: raw rewards


def test_algorithm_without_discrete_support_names_the_action_space():
    cfg = load_config("pendulum_sac", ["env.spec=CartPole-v1"])
    env = factory.build_env(cfg, seed=0)
    with pytest.raises(ValueError, match="sac needs a continuous Box action space"):
        factory.build_agent(cfg, env.observation_space, env.action_space, CPU)


def test_render_backend_choice(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    make.select_render_backend("auto")
    assert os.environ["MUJOCO_GL"] == "egl"  # auto keeps what the process uses
    monkeypatch.delitem(__import__("sys").modules, "dm_control._render", raising=False)
    make.select_render_backend("osmesa")
    assert os.environ["MUJOCO_GL"] == "osmesa"  # nothing rendered yet: switch
    monkeypatch.setitem(__import__("sys").modules, "dm_control._render", object())
    with pytest.raises(ValueError, match="MUJOCO_GL=osmesa is already in use"):
        make.select_render_backend("egl")
    with pytest.raises(ValueError, match="not one of"):
        make.select_render_backend("vulkan")


def test_replay_placement_on_a_cuda_device_follows_free_memory(monkeypatch):
    """The choice is made without a GPU: a CUDA device object needs none, and the free
    memory is what the memory check would read."""
    from robovision.replay import buffer

    cuda = torch.device("cuda")
    monkeypatch.setattr(buffer, "available_memory", lambda device: 10 * 2**30)
    where, why = factory.choose_replay_device("auto", cuda, 4 * 2**30)
    assert where == cuda and "fits in half of its 10.0 GiB free" in why
    where, why = factory.choose_replay_device("auto", cuda, 6 * 2**30)
    assert where.type == "cpu" and why == ("replay (6.00 GiB) in host memory: more than half "
                                           "of cuda's 10.0 GiB free; batches go through "
                                           "pinned memory")
    assert factory.choose_replay_device(True, cuda, 6 * 2**30)[0] == cuda  # asked for
    assert factory.choose_replay_device(False, cuda, 1)[0].type == "cpu"  # refused
    assert factory.choose_replay_device("auto", CPU, 1)[0].type == "cpu"


def test_replay_bytes_are_known_before_allocating():
    cfg, replay = _storage("point_reach_pixels_sac", "train.total_steps=1000", "env.frame_stack=3")
    env = factory.build_env(cfg, seed=0)
    needed = ReplayBuffer.bytes_needed(env.observation_space, env.action_space,
                                       replay.capacity, frame_stack=3)
    env.close()
    assert needed == replay.capacity * replay.bytes_per_slot
    held = sum(t.numel() * t.element_size() for t in (
        *replay.obs.values(), replay.action, replay.reward, replay.terminated, replay.last,
        replay.has_action, replay.episode_start))
    assert held == needed
    assert replay.placement == f"replay ({needed / 2**30:.2f} GiB) in host memory"


def test_the_placement_weighs_the_whole_replay_against_the_free_gpu_memory(monkeypatch):
    """The main job's replay, 100k steps: it goes on the GPU only where its full size
    fits in half of the free memory."""
    from robovision.replay import buffer

    cfg = load_config("cheetah_run_pixels", ["train.total_steps=100000"])
    env = factory.build_env(cfg, seed=0)
    capacity = 100_000 + 10_000 + 10
    needed = ReplayBuffer.bytes_needed(env.observation_space, env.action_space, capacity, 3)
    cuda = torch.device("cuda")
    for free, on_gpu in ((2 * needed, True), (2 * needed - 2, False)):
        monkeypatch.setattr(buffer, "available_memory", lambda device, free=free: free)
        monkeypatch.setattr(factory, "ReplayBuffer", _Unallocated)
        replay = factory.build_storage(cfg, env.observation_space, env.action_space, cuda)
        assert (replay.storage_device == cuda) is on_gpu
        assert replay.placement.startswith(f"replay ({needed / 2**30:.2f} GiB)")
    env.close()


class _Unallocated:
    """A replay that records where it would live, without a GPU or its memory."""

    bytes_needed = staticmethod(ReplayBuffer.bytes_needed)

    def __init__(self, *args, storage_device=None, **kwargs):
        self.storage_device = storage_device


def test_replay_on_device_takes_booleans_from_the_command_line():
    assert load_config("pendulum_sac", ["train.replay_on_device=true"]).train.replay_on_device \
        is True
    assert load_config("pendulum_sac").train.replay_on_device == "auto"


def test_cuda_backend_settings_turn_on_what_is_asked_on_cuda_only():
    """Setting the flags needs no GPU, so the CUDA branch is checked here too (conftest
    puts them back)."""
    torch.backends.cudnn.benchmark = torch.backends.cuda.matmul.allow_tf32 = False
    cuda = torch.device("cuda")
    plain = load_config("pendulum_sac").train
    assert factory.use_cuda_backends(plain, cuda) is None
    bench = load_config("pendulum_sac", ["train.cudnn_benchmark=true"]).train
    message = factory.use_cuda_backends(bench, CPU)
    assert "train.cudnn_benchmark" in message and "CUDA only" in message
    assert not torch.backends.cudnn.benchmark
    message = factory.use_cuda_backends(bench, cuda)
    assert "cuDNN" in message and "tf32" not in message
    assert torch.backends.cudnn.benchmark and not torch.backends.cuda.matmul.allow_tf32
    both = load_config("pendulum_sac", ["train.tf32=true", "train.cudnn_benchmark=true"]).train
    message = factory.use_cuda_backends(both, cuda)
    assert "train.tf32" in message and "train.cudnn_benchmark" in message
    assert torch.backends.cuda.matmul.allow_tf32


def test_the_device_is_cuda_when_asked_or_available_and_a_missing_gpu_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert factory.resolve_device("auto") == factory.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="device=cuda was asked for but torch sees no CUDA "
                                           "device; use device=auto or device=cpu"):
        factory.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert factory.resolve_device("auto") == factory.resolve_device("cuda") == torch.device("cuda")
    assert factory.resolve_device("cpu") == torch.device("cpu")


def _first_obs_after_reset(env):
    obs, _ = env.reset()  # continues the RNG its build's seeded reset started
    env.close()
    return obs


def test_evaluation_envs_render_only_to_record_and_each_takes_the_next_seed():
    cfg = load_config("pendulum_sac", ["train.eval_envs=3", "train.eval_episodes=10"])
    assert factory.build_eval_env(cfg, 7, record=True).render_mode == "rgb_array"
    assert factory.build_eval_env(cfg, 7, record=False).render_mode is None
    extra = factory.build_extra_eval_envs(cfg, 7)
    assert len(extra) == 2  # the first evaluation env is built apart
    for env, seed in zip(extra, (8, 9), strict=True):
        alone = make.build_env(cfg, seed=seed, evaluation=True)
        assert np.array_equal(_first_obs_after_reset(env), _first_obs_after_reset(alone))
    few = load_config("pendulum_sac", ["train.eval_envs=3", "train.eval_episodes=2"])
    assert len(factory.build_extra_eval_envs(few, 7)) == 1  # never more envs than episodes
    held_out = load_config("pendulum_sac", ["train.eval_envs=2",
                                            "env.eval_options={max_episode_steps: 7}"])
    for env in (factory.build_eval_env(held_out, 7, record=False),
                *factory.build_extra_eval_envs(held_out, 7)):
        assert env.spec.max_episode_steps == 7  # eval_options reach every evaluation env
        env.close()
    assert factory.build_train_env(held_out, 7).spec.max_episode_steps == 200


@pytest.mark.parametrize(("preset", "overrides", "vector"), [
    ("pendulum_sac", [], False), ("pendulum_sac", ["env.num_envs=2"], True),
    ("inverted_pendulum_ppo", ["env.num_envs=1"], True)])
def test_off_policy_with_one_env_steps_it_alone_and_the_rest_step_vector_envs(
        preset, overrides, vector):
    cfg = load_config(preset, overrides)
    env = factory.build_train_env(cfg, seed=3)
    assert isinstance(env, gym.vector.VectorEnv) is vector
    if vector:  # env i is seeded seed + i
        obs, _ = env.reset()
        for i in range(cfg.env.num_envs):
            assert np.allclose(obs[i], _first_obs_after_reset(make.build_env(cfg, seed=3 + i)))
    env.close()


def test_normalised_learning_rewards_are_clipped_to_ten():
    cfg = load_config("inverted_pendulum_ppo", ["env.num_envs=1"])
    env = factory.build_train_env(cfg, seed=0)
    assert isinstance(env, gym.wrappers.vector.ClipReward)
    clipped = env.rewards(np.array([-50.0, -9.5, 0.25, 9.5, 50.0]))
    assert clipped.tolist() == [-10.0, -9.5, 0.25, 9.5, 10.0]
    env.close()


@pytest.mark.parametrize(("low", "high"), [(-2.0, 2.0), ([-1.0, -2.0], [1.0, 1.0]),
                                           ([-1.0, -1.0], [1.0, 0.5])])
def test_an_action_space_outside_minus_one_to_one_is_refused(low, high):
    from gymnasium import spaces

    from robovision.agents.registry import algorithm

    sac = algorithm("sac")
    factory.check_action_space(spaces.Box(-1.0, 1.0, (2,)), "Good-v0", sac)  # accepted
    bad = spaces.Box(np.array(low, np.float32) * np.ones(2, np.float32),
                     np.array(high, np.float32) * np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"Bad-v0: actions must lie in \[-1, 1\] after "
                                         r"make_env's rescaling; got bounds"):
        factory.check_action_space(bad, "Bad-v0", sac)


def test_build_env_passes_the_env_section_to_make_env():
    cfg = load_config("cheetah_run_pixels", ["env.image_size=32", "env.frame_stack=2",
                                             "env.camera=back", "env.action_repeat=0"])
    env = make.build_env(cfg, seed=0)
    assert env.observation_space.shape == (6, 32, 32)
    assert make.action_repeat_of(env) == 4  # 0: PlaNet's repeat for cheetah
    obs, _ = env.reset(seed=0)
    env.close()
    same = make.make_env("dmc/cheetah-run", obs="pixels", image_size=32, frame_stack=2,
                         camera="back", seed=0)
    assert np.array_equal(obs, same.reset(seed=0)[0])  # the back camera, not the side one
    same.close()
    state = make.build_env(load_config("cheetah_run_pixels", ["env.obs=state",
                                                              "env.action_repeat=3"]), seed=0)
    assert len(state.observation_space.shape) == 1 and make.action_repeat_of(state) == 3
    state.close()
    once = make.build_env(load_config("cheetah_run_pixels", ["env.action_repeat=1"]), seed=0)
    assert make.action_repeat_of(once) == 1  # asked for, not PlaNet's 4
    once.close()
