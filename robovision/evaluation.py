"""Evaluation: deterministic episodes of an agent, in the training process or beside it.

:func:`evaluate` plays a run's evaluation episodes with the agent it is given.
:class:`BackgroundEvaluator` plays them in a process of its own (``train.eval_async``):
the training process sends a snapshot of the agent's weights and goes on training
while the evaluator loads them into its own copy of the agent, on the CPU, and plays
the same episodes. The result comes back tagged with the step it was taken at.

The evaluator is started with ``spawn`` (its own GL contexts, no share of the
trainer's CUDA context or threads), ignores SIGINT and SIGTERM (the trainer stops
it), and exits when its pipe closes. Snapshots cross the pipe as ``torch.save``
bytes and are read with ``weights_only=True``, as checkpoints are.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing as mp
import os
import signal
import traceback
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from robovision import factory
from robovision import obs as obs_tree
from robovision.agents.protocol import Agent
from robovision.config import Config
from robovision.episode import Render, play_episodes

EVAL_SEED_OFFSET = 10_000
"""Evaluation envs are seeded ``seed + EVAL_SEED_OFFSET`` (episode ``i``: ``+ i``)."""


class Evaluation(NamedTuple):
    returns: np.ndarray
    frames: list[np.ndarray]
    """The first episode's frames, with ``record``."""
    successes: np.ndarray | None
    """Per episode, the env's ``info["success"]`` at its last step (None if the env
    reports no success)."""

    @property
    def success_rate(self) -> float | None:
        return None if self.successes is None else float(self.successes.mean())


def evaluate(agent: Agent, env, episodes: int, seed: int = 0, record: bool = False,
             render: Render | None = None, extra_envs: Sequence[Any] = ()) -> Evaluation:
    """Deterministic-action episodes (episode ``i`` seeded ``seed + i``): their returns,
    success (for envs that report one in ``info["success"]``) and, with ``record``, the
    frames of the first episode (from ``render``, default ``env.render``). With
    ``extra_envs`` (more envs like ``env``, ``train.eval_envs``), the episodes run
    ``1 + len(extra_envs)`` at a time with one batched ``act`` per step."""
    played = play_episodes([env, *extra_envs],
                           lambda obs: agent.act(obs_tree.stack(obs), eval=True),
                           [seed + i for i in range(episodes)],
                           render=(render or env.render) if record else None)
    returns = [episode.total_return for episode in played]
    frames = [frame for episode in played for frame in episode.frames]
    successes = [float(episode.info["success"]) for episode in played
                 if "success" in episode.info]
    return Evaluation(np.asarray(returns), frames,
                      np.asarray(successes) if len(successes) == episodes else None)


# --------------------------------------------------------------------------- snapshots


def snapshot(agent: Agent) -> bytes:
    """The agent's state dict as bytes, copied off its device: training may change the
    weights as soon as this returns."""
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    return buffer.getvalue()


def read_snapshot(data: bytes) -> dict[str, Any]:
    """A :func:`snapshot` back as a state dict of CPU tensors (``weights_only``)."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------- the evaluator


class EvaluatorError(RuntimeError):
    """The evaluator process failed; the message carries its traceback."""


def evaluator_threads() -> int:
    """Torch threads of the evaluator: a quarter of the cores, 1 to 4 (on a GPU machine
    the trainer leaves most cores idle; the evaluator's batched act needs a few)."""
    return max(1, min(4, (os.cpu_count() or 1) // 4))


class _Recorder:
    """The first env's ``render`` for the videos; the first failure switches recording off
    and is kept to report (the trainer turns its video side job off with it)."""

    def __init__(self, env) -> None:
        self.env, self.problem = env, None

    def __call__(self) -> np.ndarray | None:
        if self.problem is not None:
            return None
        try:
            return self.env.render()
        except Exception as exc:  # a missing renderer must not cost the evaluation
            self.problem = f"{type(exc).__name__}: {str(exc)[:300]}"
            return None


def _evaluate_snapshot(agent: Agent, envs: list[Any], episodes: int, seed: int,
                       weights: bytes, record: bool) -> tuple[str, Any]:
    """The evaluator's answer to one snapshot: ``("ok", (Evaluation, video problem))`` or
    ``("error", traceback)``."""
    try:
        agent.load_state_dict(read_snapshot(weights))
        recorder = _Recorder(envs[0])
        result = evaluate(agent, envs[0], episodes, seed=seed, record=record, render=recorder,
                          extra_envs=envs[1:])
        return "ok", (result, recorder.problem)
    except Exception:
        return "error", traceback.format_exc()


def _serve(connection, cfg: Config, seed: int, threads: int) -> None:
    """The evaluator's loop: build the envs and a CPU agent, then evaluate each snapshot
    it is sent (``("evaluate", (bytes, record))``) until ``close`` or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(threads)
    envs: list[Any] = []
    try:
        env = factory.build_eval_env(cfg, seed, cfg.train.video)
        envs = [env, *factory.build_extra_eval_envs(cfg, seed)]
        agent = factory.build_agent(cfg, env.observation_space, env.action_space,
                                    torch.device("cpu"))
        connection.send(("ok", None))
        while True:
            command, argument = connection.recv()
            if command == "close":
                break
            connection.send(_evaluate_snapshot(agent, envs, cfg.train.eval_episodes, seed,
                                               *argument))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the trainer is gone
    except Exception:
        connection.send(("error", traceback.format_exc()))
    finally:
        for env in envs:
            env.close()
        connection.close()


class BackgroundEvaluator:
    """A run's evaluations in a process of their own, one at a time.

    ``submit(step, weights, record)`` hands over a :func:`snapshot` and returns at once;
    ``poll()`` returns ``(step, Evaluation, video problem or None)`` when the evaluation
    is done and None before; ``wait()`` blocks for it. The process starts building its
    envs and agent at construction, and the first ``submit`` waits for it.
    """

    def __init__(self, cfg: Config, seed: int, threads: int | None = None,
                 start_timeout: float = 600.0) -> None:
        self.start_timeout = start_timeout
        context = mp.get_context("spawn")
        self._connection, child = context.Pipe()
        # not a daemon: with train.eval_workers it starts env workers of its own
        self._process = context.Process(target=_serve, daemon=False, name="robovision-evaluator",
                                        args=(child, cfg, seed, threads or evaluator_threads()))
        self._process.start()
        child.close()
        atexit.register(self.close)  # never left for the interpreter to join at exit
        self._ready = False
        self.pending: int | None = None
        """The step of the evaluation under way, if one is."""

    def _receive(self, doing: str) -> Any:
        try:
            status, value = self._connection.recv()
        except (EOFError, ConnectionResetError):
            self._process.join(timeout=5)
            raise EvaluatorError(
                f"the evaluator process died while {doing} (exit code "
                f"{self._process.exitcode}). Run with train.eval_async=false to see the "
                "error in the training process.") from None
        if status == "error":
            raise EvaluatorError(f"the evaluator process failed while {doing}:\n{value}")
        return value

    def submit(self, step: int, weights: bytes, record: bool) -> None:
        if self.pending is not None:
            raise RuntimeError(f"an evaluation (step {self.pending}) is still under way; "
                               "wait() for it first")
        if not self._ready:
            if not self._connection.poll(self.start_timeout):
                self.close()
                raise EvaluatorError(
                    f"the evaluator did not start in {self.start_timeout:.0f} s")
            self.check_started()
        self._connection.send(("evaluate", (weights, record)))
        self.pending = step

    def check_started(self) -> bool:
        """Whether the evaluator has built its envs and agent (without waiting); its
        failure to build them is raised here, with what to do."""
        if self._ready or not self._connection.poll():
            return self._ready
        try:
            self._receive("building its envs and agent")
        except EvaluatorError as exc:
            raise EvaluatorError(
                f"{exc}\nThe evaluator builds the env and the agent in a fresh process: a "
                "custom env or algorithm must be registered when a module is imported (not "
                "inside main()), or set train.eval_async=false.") from None
        self._ready = True
        return True

    def poll(self) -> tuple[int, Evaluation, str | None] | None:
        if self.pending is None or not self._connection.poll():
            return None
        return self.wait()

    def wait(self) -> tuple[int, Evaluation, str | None] | None:
        """The evaluation under way, when it is done (None when there is none)."""
        if self.pending is None:
            return None
        step, self.pending = self.pending, None
        result, video_problem = self._receive(f"evaluating step {step}")
        return step, result, video_problem

    def close(self) -> None:
        """Stop the process (an evaluation under way is dropped)."""
        atexit.unregister(self.close)
        if not self._process.is_alive():
            self._connection.close()
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            self._connection.send(("close", None))
        self._process.join(timeout=10 if self.pending is None else 0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()
