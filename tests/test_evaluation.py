"""Evaluation with several envs in the process (``train.eval_envs``): the same episodes as
one env plays them, their actions computed in one batch per step."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from robovision import factory
from robovision.config import ConfigError, load_config
from robovision.episode import play_episode, play_episodes
from robovision.loop import evaluate


def _cartpole_policy(observations):
    """Deterministic, per row, and poor enough that episodes end at different lengths."""
    return [int(obs[2] > 0) for obs in observations]


def test_batched_episodes_are_the_sequential_episodes():
    seeds = [11, 12, 13, 14, 15, 16, 17]
    sequential_env = gym.make("CartPole-v1")
    frames_seen = []

    def render():  # the frame of the step about to be taken in episode 0
        frames_seen.append(len(frames_seen))
        return np.zeros((2, 2, 3), np.uint8)

    expected = [play_episode(sequential_env, lambda obs: _cartpole_policy([obs])[0], seed=s)
                for s in seeds]
    envs = [gym.make("CartPole-v1") for _ in range(3)]
    played = play_episodes(envs, _cartpole_policy, seeds, render=render)
    assert [e.length for e in played] == [e.length for e in expected]
    assert len({e.length for e in played}) > 1  # the envs really went out of step
    assert [e.total_return for e in played] == [e.total_return for e in expected]
    assert len(played[0].frames) == played[0].length == len(frames_seen)
    assert all(not e.frames for e in played[1:])
    assert all(e.total_return == e.length for e in expected)  # CartPole pays 1 a step
    recorded = play_episode(sequential_env, lambda obs: _cartpole_policy([obs])[0], seed=11,
                            render=lambda: np.ones((2, 2, 3), np.uint8))
    assert len(recorded.frames) == recorded.length == expected[0].length


def test_render_problem_says_why_an_env_cannot_give_a_video_frame():
    from robovision.episode import render_problem

    assert render_problem(gym.make("CartPole-v1", render_mode="rgb_array"), seed=0) is None
    no_mode = render_problem(gym.make("CartPole-v1"), seed=0)
    assert "render() returned NoneType, not an HxWx3 frame" in no_mode
    assert "render_mode='rgb_array'" in no_mode

    class Broken(gym.Wrapper):
        def render(self):
            raise OSError("no display")

    assert render_problem(Broken(gym.make("CartPole-v1")), seed=0) == "OSError: no display"


def _agent_and_envs(preset, overrides, n_envs):
    cfg = load_config(preset, ["agent.hidden=16,16", *overrides])
    envs = [factory.build_env(cfg, seed=k, evaluation=True) for k in range(n_envs)]
    torch.manual_seed(0)
    agent = factory.build_agent(cfg, envs[0].observation_space, envs[0].action_space,
                                torch.device("cpu"))
    return agent, envs


@pytest.mark.parametrize(("preset", "overrides"), [
    ("pendulum_sac", []),
    ("cheetah_run_pixels", ["env.spec=dmc/cartpole-balance", "env.image_size=32",
                            "env.options.task_kwargs={time_limit: 1}"])])
def test_eval_envs_score_the_episodes_one_env_scores(preset, overrides):
    agent, envs = _agent_and_envs(preset, overrides, 3)
    try:
        alone = evaluate(agent, envs[0], 5, seed=100)
        together = evaluate(agent, envs[0], 5, seed=100, extra_envs=envs[1:])
    finally:
        for env in envs:
            env.close()
    assert len(together.returns) == 5
    assert len(set(alone.returns.round(6))) > 1  # the seeds give different episodes
    np.testing.assert_allclose(together.returns, alone.returns, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("workers", [False, True], ids=["in_process", "workers"])
def test_a_run_evaluates_with_its_eval_envs_and_closes_them(tmp_path, monkeypatch, workers):
    import multiprocessing

    from robovision import loop

    closed = []
    cfg = load_config("pendulum_sac", [
        "agent.hidden=16,16", "train.total_steps=200", "train.learning_starts=100",
        "train.batch_size=16", "train.eval_every=0", "train.eval_episodes=3",
        "train.eval_envs=8", "train.progress=false", f"train.eval_workers={workers}"])
    run = loop.Run(cfg, tmp_path)
    assert len(run.extra_eval_envs) == 2  # never more envs than episodes
    assert len(multiprocessing.active_children()) == (2 if workers else 0)
    for env in (run.eval_env, *run.extra_eval_envs):
        monkeypatch.setattr(env, "close", lambda env=env, close=env.close: (
            closed.append(env), close()))
    seen = []
    real_evaluate = loop.evaluate
    monkeypatch.setattr(loop, "evaluate", lambda *a, **k: seen.append(k) or real_evaluate(*a, **k))
    assert np.isfinite(run.evaluate())
    run.close()
    assert seen[0]["extra_envs"] == run.extra_eval_envs
    assert len(closed) == 3
    assert not multiprocessing.active_children()


def test_eval_envs_must_be_positive():
    with pytest.raises(ConfigError, match=r"train\.eval_envs must be >= 1"):
        load_config("pendulum_sac", ["train.eval_envs=0"])


class _WorkersAlreadyStepping(gym.Wrapper):
    """The env of this process; each of its steps checks that every worker has its own
    step under way (started before any env is collected)."""

    def __init__(self, env, workers):
        super().__init__(env)
        self.workers, self.checked = workers, 0

    def step(self, action):
        assert all(w._pending is not None for w in self.workers)
        self.checked += 1
        return super().step(action)


def test_eval_workers_step_in_parallel_and_score_the_episodes_of_this_process():
    from robovision.envworker import EnvWorker

    common = ["agent.hidden=16,16", "train.eval_episodes=6", "train.eval_envs=3"]
    agent, (first,) = _agent_and_envs("pendulum_sac", ["agent.hidden=16,16"], 1)
    local = factory.build_extra_eval_envs(load_config("pendulum_sac", common), 0)
    workers = factory.build_extra_eval_envs(
        load_config("pendulum_sac", [*common, "train.eval_workers=true"]), 0)
    assert len(workers) == 2 and all(isinstance(w.unwrapped, EnvWorker) for w in workers)
    checking = _WorkersAlreadyStepping(first, workers)
    try:
        # Six 200-step episodes in three envs: every env is busy at every step.
        alone = evaluate(agent, first, 6, seed=100)
        in_process = evaluate(agent, first, 6, seed=100, extra_envs=local)
        in_workers = evaluate(agent, checking, 6, seed=100, extra_envs=workers)
    finally:
        for env in (first, *local, *workers):
            env.close()
    assert checking.checked == 400
    assert len(set(alone.returns.round(6))) > 1
    np.testing.assert_allclose(in_workers.returns, in_process.returns, rtol=1e-6)
    np.testing.assert_allclose(in_workers.returns, alone.returns, rtol=1e-4, atol=1e-4)


class _Walk(gym.Env):
    """A seeded start on a line; each step moves by the action. Succeeds (``info``) when it
    ends at or past 1. ``reports``: in which episodes ``info`` says so (``always``,
    ``odd`` seeds, ``never``)."""

    observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, reports="always"):
        self.reports, self.position, self.t, self.odd = reports, 0.0, 0, False

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t, self.odd = float(self.np_random.uniform(-1, 1)), 0, seed % 2 == 1
        return np.array([self.position], np.float32), {}

    def step(self, action):
        self.position += float(action[0])
        self.t += 1
        says = self.reports == "always" or (self.reports == "odd" and self.odd)
        info = {"success": self.position >= 1} if says else {}
        return np.array([self.position], np.float32), self.position, False, self.t >= 3, info

    def render(self):
        return np.full((2, 2, 3), self.t, np.uint8)


class _HalfStepAgent:
    """Acts +0.3 when evaluating and -0.3 when exploring (the batched act of the agents)."""

    def __init__(self):
        self.evals = []

    def act(self, obs, eval=False):
        self.evals.append(eval)
        return np.full((len(obs), 1), 0.3 if eval else -0.3, np.float32)


def test_evaluate_plays_deterministic_episodes_seeded_seed_plus_i():
    agent, env = _HalfStepAgent(), _Walk()
    result = evaluate(agent, env, 4, seed=20)
    expected = [play_episode(env, lambda obs: np.array([0.3], np.float32), seed=20 + i)
                for i in range(4)]
    assert result.returns.tolist() == [e.total_return for e in expected]
    assert len(set(result.returns.tolist())) == 4  # the seeds give different starts
    assert set(agent.evals) == {True}
    assert result.successes.tolist() == [float(e.info["success"]) for e in expected]
    assert result.success_rate == pytest.approx(np.mean(result.successes))
    assert 0 < result.success_rate < 1
    assert result.frames == []


def test_evaluate_records_the_first_episode_and_reports_success_only_for_every_episode():
    recorded = evaluate(_HalfStepAgent(), _Walk(), 2, seed=0, record=True)
    assert [int(frame[0, 0, 0]) for frame in recorded.frames] == [0, 1, 2]  # before each step
    some = evaluate(_HalfStepAgent(), _Walk(reports="odd"), 4, seed=0)
    assert some.successes is None and some.success_rate is None  # two of four said
    assert evaluate(_HalfStepAgent(), _Walk(reports="never"), 2, seed=0).successes is None
