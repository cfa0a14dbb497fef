"""An environment stepped in a process of its own, so that simulation and rendering run
beside the learner instead of between its updates.

:class:`EnvWorker` is a ``gymnasium.Env`` whose ``reset`` and ``step`` run in a child
process. The loop calls ``step_async(action)`` before it updates the agent and
``step(action)`` after: the child simulates and renders while the parent computes
the update (on a GPU, while it launches and waits for the update's kernels). Anything
can wrap it (episode statistics, reward normalisation), since ``step`` is an
ordinary, synchronous step for everyone above it.

The child is started with ``spawn`` (never ``fork``): it opens its own GL context and
touches neither the parent's CUDA context nor its threads. It ignores SIGINT and
SIGTERM, so Ctrl-C on the terminal reaches only the parent, which stops at a step
boundary and then closes the child; a child whose parent died sees its pipe close
and exits. torch-free; it imports nothing from robovision.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import signal
import traceback
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

EnvFactory = Callable[[], gym.Env]
"""A picklable callable building the env in the child (a top-level function, or a
``functools.partial`` of one)."""


class EnvWorkerError(RuntimeError):
    """The env failed in its worker process; the message carries the child's traceback."""


def _serve(connection, make: EnvFactory) -> None:
    """The child's loop: build the env, then answer ``step``, ``reset`` and ``close``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    env = None
    try:
        env = make()
        connection.send(("ok", (env.observation_space, env.action_space, env.metadata)))
        while True:
            command, argument = connection.recv()
            if command == "close":
                break
            try:
                result = env.step(argument) if command == "step" else env.reset(**argument)
                connection.send(("ok", result))
            except Exception:
                connection.send(("error", traceback.format_exc()))
    except EOFError:
        pass  # the parent is gone
    except Exception:
        connection.send(("error", traceback.format_exc()))
    finally:
        if env is not None:
            env.close()
        connection.close()


class EnvWorker(gym.Env):
    """``make()`` run in a child process, stepped through a pipe.

    ``step_async(action)`` starts a step and returns at once; the next
    ``step(action)`` with the same action collects it (a ``step`` with no step started
    does both). ``name`` says which env this is in error messages, ``off`` the setting
    that steps it in this process instead.
    """

    def __init__(self, make: EnvFactory, name: str = "env", start_timeout: float = 300.0,
                 wait: bool = True, off: str = "train.env_worker=false") -> None:
        self.name, self.off = name, off
        context = mp.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, make), daemon=True,
                                        name=f"robovision-env-{name}")
        self._process.start()
        child.close()
        # Closed at exit if its owner never closes it: the child ignores SIGTERM, so
        # multiprocessing's exit hook (terminate, then join) would wait for it forever.
        atexit.register(self.close)
        self._pending: np.ndarray | None = None
        if wait:
            self.wait_ready(start_timeout)

    def wait_ready(self, timeout: float = 300.0) -> EnvWorker:
        """Wait until the child has built its env and sent its spaces (``wait=False``
        starts several workers that build their envs at the same time)."""
        if not self._connection.poll(timeout):
            self._process.kill()
            raise EnvWorkerError(f"{self.name}: the env worker did not start in {timeout:.0f} s")
        self.observation_space, self.action_space, self.metadata = self._receive(
            "building the env")
        return self

    @classmethod
    def start_all(cls, makers: list[tuple[EnvFactory, str]], start_timeout: float = 300.0,
                  off: str = "train.env_worker=false") -> list[EnvWorker]:
        """Workers for ``(make, name)`` pairs, started together (each child imports and
        builds on its own core) rather than one after another."""
        workers = [cls(make, name, wait=False, off=off) for make, name in makers]
        try:
            return [worker.wait_ready(start_timeout) for worker in workers]
        except BaseException:
            for worker in workers:
                worker.close()
            raise

    # -- the pipe ------------------------------------------------------------------

    def _receive(self, doing: str) -> Any:
        try:
            status, value = self._connection.recv()
        except (EOFError, ConnectionResetError):
            self._process.join(timeout=5)
            code = self._process.exitcode
            raise EnvWorkerError(
                f"{self.name}: the env worker process died while {doing} (exit code {code}). "
                f"Run with {self.off} to see the error in this process.") from None
        if status == "error":
            raise EnvWorkerError(f"{self.name} failed in its worker process while {doing}:\n"
                                 f"{value}")
        return value

    def _request(self, command: str, argument: Any, doing: str) -> Any:
        if self._pending is not None:
            raise RuntimeError(f"{self.name}: a step was started and not collected before "
                               f"{doing}")
        self._connection.send((command, argument))
        return self._receive(doing)

    # -- gymnasium -------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return self._request("reset", {"seed": seed, "options": options}, "resetting")

    def step_async(self, action: Any) -> None:
        """Start a step; ``step(action)`` collects it."""
        if self._pending is not None:
            raise RuntimeError(f"{self.name}: step_async called twice without a step between")
        self._connection.send(("step", action))
        self._pending = np.asarray(action)

    def step(self, action: Any):
        if self._pending is None:
            return self._request("step", action, "stepping")
        started, self._pending = self._pending, None
        if not np.array_equal(started, np.asarray(action)):
            self._receive("stepping")  # keep the pipe in order before failing
            raise RuntimeError(f"{self.name}: step() got another action than the one "
                               "step_async() started (a wrapper above the worker changed it)")
        return self._receive("stepping")

    def close(self) -> None:
        atexit.unregister(self.close)
        if not self._process.is_alive():
            return
        try:
            if self._pending is not None:
                self._pending = None
                self._connection.recv()
            self._connection.send(("close", None))
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()


def step_starter(env: gym.Env) -> Callable[[Any], None]:
    """What starts ``env``'s step early: the worker's ``step_async`` when a worker process
    runs it (looked up once, not on every step), else a no-op (an env stepped in this
    process steps at ``env.step``)."""
    inner = env.unwrapped
    return inner.step_async if isinstance(inner, EnvWorker) else _no_start


def _no_start(action: Any) -> None:
    """An env in this process steps at ``env.step``; nothing to start early."""
