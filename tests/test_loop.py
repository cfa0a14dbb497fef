"""The run's cadence and bookkeeping, driven by hand on a small run: which steps log,
evaluate and checkpoint; what an evaluation logs and when it writes ``best.pt``; an
episode's end; a failed evaluator's checkpoint; the off-policy warm-up and update
rounds. (tests/test_run.py and tests/test_lockstep.py train for real.)"""

import math
import multiprocessing
import signal
import threading

import numpy as np
import pytest
import torch

from robovision import factory, loop
from robovision.checkpoint import CheckpointError
from robovision.config import load_config
from robovision.evaluation import Evaluation
from robovision.logging import read_metrics
from robovision.loop import NonFiniteLossError, Run, StopRequested

SMALL = ["agent.hidden=16,16", "train.batch_size=8", "train.progress=false",
         "train.eval_episodes=1", "train.video=false", "threads=1"]
PPO_SMALL = ["train.progress=false", "env.num_envs=2", "train.rollout_steps=32",
             "agent.epochs=1", "train.eval_episodes=1"]


@pytest.fixture
def run(tmp_path):
    run = Run(load_config("pendulum_sac", [*SMALL, "train.total_steps=100",
                                           "train.learning_starts=10", "train.log_every=10",
                                           "train.eval_every=25", "train.checkpoint_every=40"]),
              tmp_path)
    yield run
    run.close()


def _record(monkeypatch, run, name):
    calls = []
    monkeypatch.setattr(run, name, lambda *args, **kwargs: calls.append(run.counters.step))
    return calls


def _spy_in_loop(monkeypatch, kind, owner, name, note):
    """Run the ``kind`` loop with ``owner(run).<name>`` wrapped: each call is first passed
    to ``note(run, *args, **kwargs)``. Spies stack: each wraps the loop as it then is."""
    real_loop = loop.LOOPS[kind]

    def watched(run):
        target = owner(run)
        method = getattr(target, name)

        def spy(*args, **kwargs):
            note(run, *args, **kwargs)
            return method(*args, **kwargs)

        monkeypatch.setattr(target, name, spy)
        real_loop(run)

    monkeypatch.setitem(loop.LOOPS, kind, watched)


def _agent(run):
    return run.agent


def test_each_step_logs_evaluates_and_checkpoints_when_it_crosses_its_multiple(run,
                                                                                monkeypatch):
    evaluated, saved = _record(monkeypatch, run, "evaluate"), _record(monkeypatch, run, "save")
    loss = {"critic_loss": torch.tensor(0.5)}
    for before in range(0, 99, 3):  # three envs in lockstep: 3 agent steps at a time
        run.counters.step = before + 3
        run.after_steps(before, loss if before % 2 else {})
    logged = read_metrics(run.run_dir)["train/critic_loss"][0].tolist()
    assert logged == [12, 21, 30, 42, 51, 60, 72, 81, 90]  # the step that crossed each 10
    assert evaluated == [27, 51, 75]  # nothing crosses 100 before step 100
    assert saved == [42, 81]


def test_a_log_step_without_metrics_yet_logs_nothing_and_a_bad_one_stops(run):
    run.counters.step = 10
    run.after_steps(9, {})  # no update has run: nothing to log
    assert "train/critic_loss" not in read_metrics(run.run_dir)
    run.counters.step = 11
    run.after_steps(10, {"critic_loss": torch.tensor(2.0)})  # kept for the next log step
    run.counters.step = 20
    run.after_steps(19, {})
    assert read_metrics(run.run_dir)["train/critic_loss"][0].tolist() == [20]
    run.counters.step = 30
    with pytest.raises(NonFiniteLossError, match="non-finite actor_loss at step 30"):
        run.after_steps(29, {"critic_loss": torch.tensor(1.0),
                             "actor_loss": torch.tensor(math.nan)})


def test_a_stop_request_ends_the_loop_after_the_steps_bookkeeping(run, monkeypatch):
    evaluated = _record(monkeypatch, run, "evaluate")
    run.stop_requested = True
    run.counters.step = 25
    with pytest.raises(StopRequested):
        run.after_steps(24, {})
    assert evaluated == [25]


def test_an_evaluation_logs_its_numbers_and_a_new_best_writes_best_pt(run, monkeypatch):
    saved, seen = [], []
    monkeypatch.setattr(loop, "save_checkpoint", lambda state, path: saved.append(
        (path.name, state["counters"]["best_eval"])))
    run.observer = type("Seen", (), {"evaluated": lambda self, r, result, step: seen.append(
        (step, float(result.returns.mean())))})()
    for step, returns, success in ((10, [1.0, 3.0], None), (20, [0.0], [1.0, 0.0]),
                                   (30, [4.0, 6.0], [1.0, 1.0]), (40, [5.0], None)):
        run._log_evaluation(step, Evaluation(np.array(returns), [],
                                             None if success is None else np.array(success)),
                            lambda: {"counters": {"best_eval": run.counters.best_eval}})
    metrics = read_metrics(run.run_dir)
    assert metrics["eval/return_mean"][0].tolist() == [10, 20, 30, 40]
    assert metrics["eval/return_mean"][1].tolist() == [10, 20, 30, 40]  # frames: repeat 1
    assert metrics["eval/return_mean"][2].tolist() == [2.0, 0.0, 5.0, 5.0]
    assert metrics["eval/return_std"][2].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert metrics["eval/success_rate"][0].tolist() == [20, 30]
    assert metrics["eval/success_rate"][2].tolist() == [0.5, 1.0]
    assert saved == [("best.pt", 2.0), ("best.pt", 5.0)]  # strictly better only
    assert (run.counters.best_eval, run.counters.last_eval) == (5.0, 5.0)
    assert seen == [(10, 2.0), (20, 0.0), (30, 5.0), (40, 5.0)]


def test_an_evaluation_logs_frames_at_the_runs_action_repeat(tmp_path):
    run = Run(load_config("cheetah_run_pixels", [
        *SMALL, "env.spec=dmc/cartpole-balance", "env.image_size=32", "train.eval_every=0",
        "train.total_steps=1000", "train.learning_starts=100", "train.progress=true"]),
        tmp_path)
    try:
        assert run.action_repeat == 2 and run.train_cfg.total_steps == 500  # from frames
        assert (run.logger._bar.total, run.logger._bar.unit) == (1000, "frame")  # the budget's
        run._log_evaluation(40, Evaluation(np.array([1.0]), [], None), dict)
        run.counters.step = 7
        assert run.frames == 14
    finally:
        run.close()
    steps, frames, _ = read_metrics(tmp_path)["eval/return_mean"]
    assert (steps.tolist(), frames.tolist()) == ([40], [80])


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_a_run_counts_its_progress_in_agent_steps_and_sets_the_threads_asked(
        tmp_path, monkeypatch, threads):
    set_to = []
    monkeypatch.setattr(torch, "set_num_threads", set_to.append)
    run = Run(load_config("pendulum_sac", [*SMALL, "train.total_steps=100",
                                           "train.progress=true", f"threads={threads}"]),
              tmp_path)
    try:
        assert (run.logger._bar.total, run.logger._bar.unit) == (100, "step")
    finally:
        run.close()
    assert set_to == ([threads] if threads else [])  # 0: torch's default


def test_an_episodes_end_counts_logs_and_tells_the_agent(run, monkeypatch):
    ended = []
    monkeypatch.setattr(run.agent, "episode_end", ended.append)
    run.counters.step = 50
    run.episode_done(-12.5, 50, env_index=2)
    run.episode_done(-3.0, 20)
    assert run.counters.episodes == 2 and ended == [2, 0]
    metrics = read_metrics(run.run_dir)
    assert metrics["train/episode_return"][2].tolist() == [-12.5, -3.0]
    assert metrics["train/episode_length"][2].tolist() == [50, 20]


@pytest.mark.parametrize(("evaluated_at", "pending"), [(60, 60), (50, -1)])
def test_a_failed_evaluator_leaves_a_checkpoint_with_the_due_evaluation_pending(
        run, capsys, evaluated_at, pending):
    run.counters.step, run.evaluated_at = 60, evaluated_at
    run.after_evaluator_failure()
    saved = torch.load(run.latest, weights_only=True)["counters"]
    assert (saved["step"], saved["eval_pending"]) == (60, pending)
    assert f"Resume with: robovision resume {run.run_dir}" in capsys.readouterr().err


def test_a_checkpoint_holds_the_reward_normalizer_when_the_env_has_one(tmp_path):
    run = Run(load_config("inverted_pendulum_ppo", [*PPO_SMALL, "train.total_steps=64"]),
              tmp_path)
    try:
        state = run.state()
    finally:
        run.close()
    assert "reward_normalizer" in state and "replay" not in state
    assert state["algo"] == "ppo" and state["counters"]["step"] == 0


@pytest.mark.parametrize(("before", "step", "every", "rounds"), [
    (0, 1, 1, 1), (9, 10, 2, 1), (10, 11, 2, 0), (0, 4, 2, 2), (3, 7, 2, 2), (5, 6, 4, 0)])
def test_update_rounds_are_the_multiples_crossed(before, step, every, rounds):
    assert loop.update_rounds(before, step, every) == rounds


def test_warm_up_steps_act_at_random_and_updates_start_after_them(tmp_path, monkeypatch):
    """learning_starts=20, update_every=1, 2 updates a step: the first 20 steps act at
    random, the agent acts from step 21 on; updates run twice a step from step 20 on
    (before its transition is added: DrQ-v2's order)."""
    cfg = load_config("pendulum_sac", [*SMALL, "train.total_steps=30", "train.learning_starts=20",
                                       "train.updates_per_step=2", "train.eval_every=0",
                                       "train.checkpoint_every=0"])
    acted, updates = [], []
    _spy_in_loop(monkeypatch, "off_policy", _agent, "act", lambda run, obs, eval=False: (
        None if eval else acted.append(run.counters.step + 1)))
    _spy_in_loop(monkeypatch, "off_policy", _agent, "update_from",
                 lambda run, replay, size: updates.append(run.counters.step + 1))
    counters = loop.train(cfg, tmp_path)
    assert counters.step == 30
    assert acted == list(range(21, 31))
    assert updates == [s for s in range(20, 31) for _ in range(2)]


def test_a_run_that_fails_to_build_closes_the_env_workers_it_started(tmp_path):
    cfg = load_config("pendulum_sac", [*SMALL, "train.env_worker=true", "train.eval_envs=2",
                                       "train.eval_workers=true", "train.eval_async=false"])
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Run(cfg, tmp_path, resume=True)  # the workers start before the restore
    assert not multiprocessing.active_children()


@pytest.mark.parametrize(("video", "recorded"), [("false", False), ("true", True)])
def test_evaluations_record_frames_only_while_videos_are_on(tmp_path, monkeypatch, video,
                                                             recorded):
    asked = []
    monkeypatch.setattr(loop, "evaluate", lambda *args, **kwargs: asked.append(
        kwargs["record"]) or Evaluation(np.zeros(1), [], None))
    run = Run(load_config("pendulum_sac", [*SMALL, f"train.video={video}"]), tmp_path)
    try:
        run.evaluate()
        run.side.disable("video", "switched off by the test")
        run.evaluate()
    finally:
        run.close()
    assert asked == [recorded, False]


@pytest.mark.parametrize(("preset", "envs", "said"), [
    ("pendulum_sac", 1, False), ("pendulum_sac", 2, True), ("inverted_pendulum_ppo", 2, False)])
def test_only_off_policy_runs_of_several_envs_say_they_step_in_lockstep(tmp_path, capsys,
                                                                        preset, envs, said):
    Run(load_config(preset, ["train.progress=false", f"env.num_envs={envs}",
                             "train.eval_episodes=1"]), tmp_path).close()
    assert ("envs in lockstep" in capsys.readouterr().err) == said


@pytest.mark.parametrize("save_replay", [False, True])
def test_a_checkpoint_without_its_replay_refills_it_before_updates_resume(tmp_path, capsys,
                                                                         save_replay):
    cfg = load_config("pendulum_sac", [*SMALL, f"train.save_replay={str(save_replay).lower()}",
                                       "train.learning_starts=30", "train.total_steps=100"])
    run = Run(cfg, tmp_path)
    run.counters.step = 50
    run.save()
    run.close()
    resumed = Run(cfg, tmp_path, resume=True)
    resumed.close()
    assert resumed.counters.step == 50
    assert resumed.warmup_until == (30 if save_replay else 50 + 30)
    said = "latest.pt holds no replay; it refills with 30 random steps" in capsys.readouterr().err
    assert said == (not save_replay)


def test_an_evaluation_with_frames_writes_its_video_and_one_without_does_not(run, monkeypatch):
    written = []
    monkeypatch.setattr(loop, "write_video", lambda frames, path: written.append(
        (len(frames), path.relative_to(run.run_dir).as_posix())))
    frame = np.zeros((4, 4, 3), np.uint8)
    run._log_evaluation(40, Evaluation(np.zeros(1), [frame, frame], None), dict)
    run._log_evaluation(50, Evaluation(np.zeros(1), [], None), dict)
    run.side.disable("video", "switched off by the test")
    run._log_evaluation(60, Evaluation(np.zeros(1), [frame], None), dict)
    assert written == [(2, "videos/eval_000000040.mp4")]


def test_closing_a_run_closes_its_logs_and_envs(tmp_path, monkeypatch):
    run = Run(load_config("pendulum_sac", [*SMALL, "train.eval_envs=2", "train.eval_episodes=2"]),
              tmp_path)
    closed = []
    for env in (run.env, run.eval_env, *run.extra_eval_envs):
        monkeypatch.setattr(env, "close", lambda env=env: closed.append(env))
    run.close()
    assert closed == [run.env, run.eval_env, *run.extra_eval_envs]
    assert len(run.extra_eval_envs) == 1 and run.logger._csv_file.closed


def test_lockstep_envs_start_updating_at_the_warm_ups_end_not_before(tmp_path, monkeypatch):
    """4 envs, learning_starts=20, one update per agent step: the lockstep step that
    reaches step 20 runs one update round (for step 20), the next ones 4 each."""
    cfg = load_config("pendulum_sac", [*SMALL, "train.total_steps=40", "env.num_envs=4",
                                       "train.learning_starts=20", "train.eval_every=0",
                                       "train.checkpoint_every=0"])
    updates = []
    _spy_in_loop(monkeypatch, "off_policy", _agent, "update_from",
                 lambda run, replay, size: updates.append(run.counters.step + 4))
    loop.train(cfg, tmp_path)
    assert updates == [20] + [s for s in (24, 28, 32, 36, 40) for _ in range(4)]


def test_ppo_runs_whole_rollouts_to_its_budget_logging_episodes(tmp_path, monkeypatch):
    """Rollouts of 32 steps in 2 envs: 64 agent steps each; the agent is told how far
    through its budget each rollout starts (for its schedules)."""
    cfg = load_config("inverted_pendulum_ppo", [
        *PPO_SMALL, "train.total_steps=128", "agent.num_minibatches=2", "train.eval_every=0",
        "train.checkpoint_every=0"])
    started = []
    _spy_in_loop(monkeypatch, "on_policy", _agent, "update", lambda run, rollout, obs, progress:
                 started.append((run.counters.step, progress)))
    counters = loop.train(cfg, tmp_path)
    assert counters.step == 128 and started == [(64, 0.0), (128, 0.5)]
    returns = read_metrics(tmp_path)["train/episode_return"]
    assert counters.episodes == len(returns[0]) > 0  # a random policy drops the pole soon


def _tiny_run_config():
    return load_config("pendulum_sac", [*SMALL, "train.total_steps=5", "train.eval_every=0",
                                        "train.checkpoint_every=0"])


def test_ctrl_c_asks_the_run_to_stop_and_a_second_one_aborts(tmp_path, monkeypatch):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    seen = []

    def loop_that_is_interrupted(run):
        handler = signal.getsignal(signal.SIGINT)
        assert signal.getsignal(signal.SIGTERM) is handler and handler not in before
        handler(signal.SIGINT, None)
        seen.append(run.stop_requested)
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)  # the second one: at once
        run.counters.step = 3
        raise StopRequested

    monkeypatch.setitem(loop.LOOPS, "off_policy", loop_that_is_interrupted)
    with pytest.raises(KeyboardInterrupt):
        loop.train(_tiny_run_config(), tmp_path)
    assert seen == [True]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert torch.load(tmp_path / "checkpoints" / "latest.pt",
                      weights_only=True)["counters"]["step"] == 3  # saved before it stopped


def test_a_run_off_the_main_thread_leaves_the_signals_to_their_owner(tmp_path, monkeypatch):
    handlers = []
    monkeypatch.setitem(loop.LOOPS, "off_policy", lambda run: handlers.append(
        signal.getsignal(signal.SIGINT)))
    before = signal.getsignal(signal.SIGINT)
    errors = []

    def in_thread():
        try:
            loop.train(_tiny_run_config(), tmp_path)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert not errors and handlers == [before]


def test_a_resumed_off_policy_run_reseeds_its_env_and_actions_where_it_left_off(
        tmp_path, monkeypatch):
    """Not the first episode's seed again: ``seed + episodes`` for the env, ``seed +
    step`` for the warm-up's random actions."""
    seeds = []
    real_collector = loop.collector

    def recording(env):
        envs = real_collector(env)
        reset, seed_actions = envs.reset, envs.seed_actions
        monkeypatch.setattr(envs, "reset", lambda seed: seeds.append(("env", seed)) or reset(seed))
        monkeypatch.setattr(envs, "seed_actions", lambda seed: seeds.append(
            ("actions", seed)) or seed_actions(seed))
        return envs

    monkeypatch.setattr(loop, "collector", recording)
    common = [*SMALL, "seed=7", "train.learning_starts=240", "train.eval_every=0",
              "train.checkpoint_every=0"]
    first = loop.train(load_config("pendulum_sac", [*common, "train.total_steps=250"]), tmp_path)
    assert (first.step, first.episodes) == (250, 1)  # Pendulum: 200 steps an episode
    loop.train(load_config("pendulum_sac", [*common, "train.total_steps=260"]), tmp_path,
               resume=True)
    assert seeds == [("env", 7), ("actions", 7), ("env", 7 + 1), ("actions", 7 + 250)]


def test_a_resumed_ppo_run_reseeds_its_envs_at_its_step(tmp_path, monkeypatch):
    seeds = []
    _spy_in_loop(monkeypatch, "on_policy", lambda run: run.env, "reset",
                 lambda run, seed: seeds.append(seed))
    common = [*PPO_SMALL, "seed=3", "train.eval_every=0", "train.checkpoint_every=0"]
    loop.train(load_config("inverted_pendulum_ppo", [*common, "train.total_steps=64"]), tmp_path)
    loop.train(load_config("inverted_pendulum_ppo", [*common, "train.total_steps=128"]),
               tmp_path, resume=True)
    assert seeds == [3, 3 + 64]


def test_a_resumed_ppo_run_restores_its_reward_normalizer(tmp_path):
    cfg = load_config("inverted_pendulum_ppo", [*PPO_SMALL, "train.total_steps=64",
                                                "train.eval_every=0"])
    loop.train(cfg, tmp_path)
    saved = torch.load(tmp_path / "checkpoints" / "latest.pt",
                       weights_only=True)["reward_normalizer"]
    resumed = Run(cfg, tmp_path, resume=True)
    try:
        restored = factory.normalizer_state(resumed.env)
    finally:
        resumed.close()
    assert float(restored["var"]) == pytest.approx(float(saved["var"]))
    assert float(restored["var"]) != pytest.approx(1.0)  # it had learned something to restore
