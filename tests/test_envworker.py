"""Environments stepped in worker processes (``train.env_worker``): the same transitions
as in this process, errors that say where they came from, training and resume through
a worker, and no process left behind."""

import multiprocessing
import os
import subprocess
import sys
from functools import partial

import gymnasium as gym
import numpy as np
import pytest
import torch

from robovision.checkpoint import load_checkpoint
from robovision.config import load_config
from robovision.envworker import EnvWorker, EnvWorkerError, step_starter
from robovision.factory import build_env
from robovision.loop import train


def _pixel_config():
    return load_config("cheetah_run_pixels", ["env.spec=dmc/cartpole-swingup", "env.image_size=32",
                                              "env.frame_stack=2"])


def _transitions(env, actions, seed):
    obs, _ = env.reset(seed=seed)
    out, start_step = [obs], step_starter(env)
    for i, action in enumerate(actions):
        if i % 2:
            start_step(action)  # started early on every other step, as the loop does
        obs, reward, terminated, truncated, _ = env.step(action)
        out += [obs, reward, terminated, truncated]
    return out


def test_a_worker_steps_exactly_like_the_env_in_this_process():
    cfg = _pixel_config()
    actions = np.random.default_rng(0).uniform(-1, 1, (12, 1)).astype(np.float32)
    here = build_env(cfg, seed=3)
    worker = EnvWorker(partial(build_env, cfg, 3), name=cfg.env.spec)
    try:
        assert worker.observation_space == here.observation_space
        assert worker.action_space == here.action_space
        ours, theirs = _transitions(worker, actions, 5), _transitions(here, actions, 5)
        assert worker.observation_space.contains(ours[0])
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    finally:
        worker.close()
        here.close()
    assert not worker._process.is_alive()


class Fails(gym.Env):
    """Steps fail after ``after`` steps, with ``os._exit`` when ``crash``."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, after=2, crash=False):
        self.after, self.crash, self.t = after, crash, 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t > self.after:
            if self.crash:
                os._exit(3)
            raise ValueError("the simulator diverged")
        return np.zeros(2, np.float32), 0.0, False, False, {}


def test_an_error_in_the_worker_names_the_env_and_shows_its_traceback():
    worker = EnvWorker(Fails, name="my/Env-v0")
    try:
        worker.reset(seed=0)
        worker.step(np.zeros(1))
        step_starter(worker)(np.zeros(1))
        worker.step(np.zeros(1))
        with pytest.raises(EnvWorkerError, match=r"(?s)my/Env-v0 failed.*ValueError: the "
                                                 r"simulator diverged"):
            worker.step(np.zeros(1))
        worker.reset()  # the worker survives an exception in the env
    finally:
        worker.close()


def test_a_worker_that_dies_is_an_error_not_a_hang():
    worker = EnvWorker(partial(Fails, after=0, crash=True), name="crashing")
    try:
        worker.reset()
        with pytest.raises(EnvWorkerError, match=r"(?s)crashing: the env worker process died.*"
                                                 r"exit code 3.*env_worker=false"):
            worker.step(np.zeros(1))
    finally:
        worker.close()


class FailsToBuild(gym.Env):
    def __init__(self):
        raise RuntimeError("no such robot")


def test_workers_started_together_all_close_when_one_fails_to_build():
    started = []

    class Recorded(EnvWorker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    with pytest.raises(EnvWorkerError, match=r"(?s)broken failed.*no such robot"):
        Recorded.start_all([(Fails, "fine"), (FailsToBuild, "broken"), (Fails, "after")])
    assert len(started) == 3  # all started before any was awaited
    for worker in started:
        worker._process.join(timeout=10)
        assert not worker._process.is_alive()
    workers = EnvWorker.start_all([(Fails, "a"), (Fails, "b")])
    try:
        assert [w.reset()[0].shape for w in workers] == [(2,), (2,)]
    finally:
        for worker in workers:
            worker.close()


class ClosesToFile(Fails):
    """Observes its step count; writes ``closed`` to ``path`` when closed (in the worker
    process)."""

    def __init__(self, path):
        super().__init__(after=100)
        self.path = path

    def step(self, action):
        _, *rest = super().step(action)
        return np.array([self.t, 0], np.float32), *rest

    def close(self):
        self.path.write_text("closed")


def test_a_step_started_must_be_collected_with_its_own_action(tmp_path):
    worker = EnvWorker(partial(ClosesToFile, tmp_path / "closed"), name="ordered")
    try:
        worker.reset(seed=0)
        worker.step_async(np.zeros(1))
        with pytest.raises(RuntimeError, match="step_async called twice"):
            worker.step_async(np.zeros(1))
        with pytest.raises(RuntimeError, match="started and not collected before resetting"):
            worker.reset()
        with pytest.raises(RuntimeError, match="another action than the one step_async"):
            worker.step(np.ones(1))
        worker.step_async(np.full(1, 0.5))  # the pipe stayed in order: the next step works
        assert worker.step(np.full(1, 0.5))[0].tolist() == [2, 0]  # the env's second step
        worker.step_async(np.zeros(1))  # closed with a step under way
    finally:
        worker.close()
    assert worker._process.exitcode == 0  # it left its loop, was not killed
    assert (tmp_path / "closed").read_text() == "closed"  # its env was closed in the worker
    worker.close()  # closing twice is harmless


def test_a_script_that_never_closes_its_worker_still_exits():
    """The worker closes itself at exit: its child ignores SIGTERM, so multiprocessing's
    exit hook alone would wait for a child that waits for its parent."""
    script = ("import functools, gymnasium as gym\n"
              "from robovision.envworker import EnvWorker\n"
              "worker = EnvWorker(functools.partial(gym.make, 'Pendulum-v1'))\n"
              "worker.reset(seed=0)\n")
    done = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def _record(monkeypatch, name):
    """Record what ``robovision.factory.<name>`` (a class or a builder) makes during the
    test."""
    import robovision.factory

    built, make = [], getattr(robovision.factory, name)

    def build(*args, **kwargs):
        built.append(make(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(robovision.factory, name, build)
    return built


def test_off_policy_training_steps_its_env_in_a_worker_and_resumes(tmp_path, monkeypatch):
    workers = _record(monkeypatch, "EnvWorker")
    fast = ["train.env_worker=true", "train.progress=false", "agent.hidden=32,32",
            "train.batch_size=16", "train.learning_starts=50", "train.eval_every=0",
            "train.eval_episodes=1", "train.checkpoint_every=100", "train.log_every=50"]
    counters = train(load_config("pendulum_sac", [*fast, "train.total_steps=300"]), tmp_path)
    assert counters.step == 300 and counters.episodes == 1
    assert len(workers) == 1 and not workers[0]._process.is_alive()
    replay = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["replay"]
    assert int(replay["has_action"].sum()) == 300
    assert not multiprocessing.active_children()  # the worker was closed with the run
    counters = train(load_config("pendulum_sac", [*fast, "train.total_steps=500"]), tmp_path,
                     resume=True)
    state = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")
    assert counters.step == 500 and int(state["replay"]["has_action"].sum()) == 500
    # the transitions came from the worker's env: Pendulum's rewards, never zero
    rewards = state["replay"]["reward"][state["replay"]["has_action"]]
    assert bool((rewards < 0).all()) and torch.isfinite(state["agent"]["log_alpha"])
    assert not multiprocessing.active_children()


def test_on_policy_envs_step_in_parallel_processes(tmp_path, monkeypatch):
    vectors = _record(monkeypatch, "AsyncVectorEnv")
    cfg = load_config("inverted_pendulum_ppo", ["train.env_worker=true", "env.num_envs=2",
                                                "agent.num_minibatches=2", "agent.epochs=1",
                                       "train.rollout_steps=32", "train.total_steps=128",
                                       "train.eval_every=0", "train.eval_episodes=1",
                                       "train.checkpoint_every=0", "train.progress=false"])
    counters = train(cfg, tmp_path)
    assert counters.step == 128 and len(vectors) == 1 and vectors[0].num_envs == 2
    assert not multiprocessing.active_children()


def test_each_steps_updates_run_before_its_env_step(tmp_path, monkeypatch):
    """DrQ-v2's order, which lets the env step while the update runs: the update of step
    t sees the t-1 transitions before it; the number of updates is unchanged."""
    import robovision.factory

    seen, build_agent = [], robovision.factory.build_agent

    def recording_agent(*args, **kwargs):
        agent = build_agent(*args, **kwargs)
        update_from = agent.update_from  # the loop's path: the replay is on the CPU too

        def update_and_record(replay, batch_size):
            seen.append(int(storages[0].has_action.sum()))
            return update_from(replay, batch_size)

        agent.update_from = update_and_record
        return agent

    storages = _record(monkeypatch, "build_storage")
    monkeypatch.setattr(robovision.factory, "build_agent", recording_agent)
    cfg = load_config("pendulum_sac", ["train.progress=false", "agent.hidden=16,16",
                                       "train.batch_size=8", "train.learning_starts=20",
                                       "train.update_every=2", "train.total_steps=60",
                                       "train.eval_every=0", "train.eval_episodes=1"])
    train(cfg, tmp_path)
    assert seen == list(range(19, 60, 2))  # updates at steps 20, 22, ..., 60
