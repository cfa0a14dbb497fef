"""Off-policy runs with several envs in lockstep (``env.num_envs > 1``): updates per
frame as with one env, each env's transitions in a replay lane of its own with the true
final observations, one batched act per step, resume, and a clear error when a
checkpoint was saved with another number of envs."""

import multiprocessing
import textwrap

import numpy as np
import pytest
import torch

import robovision.factory
from robovision.checkpoint import load_checkpoint
from robovision.cli import main
from robovision.config import load_config
from robovision.loop import train

FAST = ["train.progress=false", "agent.hidden=16,16", "train.batch_size=8",
        "train.learning_starts=20", "train.eval_every=0", "train.eval_episodes=1"]

COUNTER = '''
import numpy as np
import gymnasium as gym
from gymnasium import spaces


class Counter(gym.Env):
    """obs = [step in the episode, episode]; episode k lasts 3 + k % 3 steps and ends
    terminated when k is odd, truncated when it is even; reward 1 a step."""

    def __init__(self, render_mode=None):
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)
        self.episode, self.t = -1, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return np.array([0, self.episode], np.float32), {}

    def step(self, action):
        self.t += 1
        ended = self.t == 3 + self.episode % 3
        odd = self.episode % 2 == 1
        return (np.array([self.t, self.episode], np.float32), 1.0, ended and odd,
                ended and not odd, {})
'''


def _record_updates(monkeypatch):
    """The number of stored transitions at each update, and the storages built."""
    seen, storages = [], []
    build_agent, build_storage = robovision.factory.build_agent, robovision.factory.build_storage

    def recording_agent(*args, **kwargs):
        agent = build_agent(*args, **kwargs)
        update_from = agent.update_from

        def update_and_record(replay, batch_size):
            seen.append(len(replay))
            return update_from(replay, batch_size)

        agent.update_from = update_and_record
        return agent

    def recording_storage(*args, **kwargs):
        storages.append(build_storage(*args, **kwargs))
        return storages[-1]

    monkeypatch.setattr(robovision.factory, "build_agent", recording_agent)
    monkeypatch.setattr(robovision.factory, "build_storage", recording_storage)
    return seen, storages


@pytest.mark.parametrize("envs", [1, 2, 4])
def test_envs_in_lockstep_keep_the_updates_per_frame_of_one(tmp_path, monkeypatch, envs):
    """``update_every: 2``: one update round per 2 agent steps, counted over the envs,
    with the replay up to the previous lockstep step (DrQ-v2's order)."""
    seen, storages = _record_updates(monkeypatch)
    cfg = load_config("pendulum_sac", [*FAST, f"env.num_envs={envs}", "train.update_every=2",
                                       "train.total_steps=60"])
    counters = train(cfg, tmp_path)
    assert counters.step == 60 and len(seen) == 21  # the steps 20, 22, ..., 60
    # the update due at agent step s runs in the lockstep step that takes s, which
    # starts with the transitions of the lockstep steps before it
    assert seen == [(s - 1) // envs * envs for s in range(20, 61, 2)]
    lanes = getattr(storages[0], "lanes", [storages[0]])
    assert len(lanes) == envs and all(len(lane) == 60 // envs for lane in lanes)


@pytest.mark.parametrize("worker", [False, True], ids=["in-process", "workers"])
def test_each_env_fills_its_own_lane_with_its_true_final_observations(tmp_path, worker):
    (tmp_path / "counter.py").write_text(textwrap.dedent(COUNTER))
    spec = f"env.spec={tmp_path / 'counter.py'}:Counter"
    cfg = load_config("pendulum_sac", [*FAST, spec, "env.num_envs=2", "train.total_steps=40",
                                       f"train.env_worker={str(worker).lower()}"])
    counters = train(cfg, tmp_path / "run")
    lanes = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["replay"]["lanes"]
    assert len(lanes) == 2
    ended = 0
    for lane in lanes:
        acted = lane["has_action"].nonzero().flatten()
        obs, after = lane["obs"][acted], lane["obs"][acted + 1]
        assert len(acted) == 20
        # every transition stays in its episode and ends in the step's true observation
        # (a final one included), never in the next episode's first
        assert torch.equal(after[:, 0], obs[:, 0] + 1) and torch.equal(after[:, 1], obs[:, 1])
        last = lane["last"][acted]
        episode = obs[last, 1].long()
        assert torch.equal(after[last, 0].long(), 3 + episode % 3)
        assert torch.equal(lane["terminated"][acted][last], episode % 2 == 1)
        ended += int(last.sum())
    assert counters.episodes == ended > 0
    assert not multiprocessing.active_children()


def test_a_two_env_run_resumes_and_refuses_another_number_of_envs(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "pendulum_sac", f"run_dir={run}", *FAST, "env.num_envs=2",
            "train.checkpoint_every=20"]
    assert main([*args, "train.total_steps=40"]) == 0
    said = capsys.readouterr().err
    assert "2 envs in lockstep" in said and "1 update(s) every 1 agent step(s)" in said
    assert main(["resume", str(run), "train.total_steps=80"]) == 0
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["counters"]["step"] == 80
    assert [int(lane["has_action"].sum()) for lane in state["replay"]["lanes"]] == [40, 40]
    rewards = torch.cat([lane["reward"][lane["has_action"]] for lane in state["replay"]["lanes"]])
    assert bool((rewards < 0).all()) and np.isfinite(float(state["agent"]["log_alpha"]))
    capsys.readouterr()
    assert main(["resume", str(run), "env.num_envs=1", "train.total_steps=100"]) == 2
    assert "env.num_envs=2" in capsys.readouterr().err


def test_one_env_reports_its_episode_as_env_0_and_starts_the_next():
    import gymnasium as gym

    from robovision.collect import OneEnv

    env = gym.wrappers.RecordEpisodeStatistics(gym.make("Pendulum-v1", max_episode_steps=3))
    one = OneEnv(env)
    assert one.reset(seed=0).shape == (1, 3)  # a batch of one
    rewards = []
    for _ in range(3):
        one.step_async(np.zeros((1, 1), np.float32))
        steps = one.step_wait()
        rewards.append(float(steps.reward[0]))
    [(index, episode_return, length)] = steps.ended
    assert (index, length) == (0, 3) and episode_return == pytest.approx(sum(rewards))
    assert steps.truncated.tolist() == [True] and steps.terminated.tolist() == [False]
    assert not np.array_equal(steps.final_obs, steps.next_obs)  # next: the new episode's first
    env.close()
