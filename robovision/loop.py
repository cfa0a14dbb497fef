"""Training loops (off-policy and on-policy), evaluation, and everything a run
needs around them: seeding, checkpoints, resume, signals and non-finite losses.

The loops speak the agent protocols of :mod:`robovision.agents.protocol` and pick
themselves by the registry entry's ``kind``; no algorithm is named here.

Counting: ``step`` counts environment steps summed over parallel envs (agent
decisions); ``frames`` = ``step * action_repeat`` counts simulator frames, the
unit of the published pixel-RL tables.
"""

from __future__ import annotations

import copy
import math
import random
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from robovision import factory
from robovision import obs as obs_tree
from robovision.agents.graph import GraphableAgent
from robovision.agents.protocol import OffPolicyAgent, OnPolicyAgent
from robovision.agents.registry import algorithm
from robovision.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from robovision.collect import collector
from robovision.config import Config, TrainConfig, save_config
from robovision.episode import render_problem
from robovision.evaluation import (
    EVAL_SEED_OFFSET,
    BackgroundEvaluator,
    Evaluation,
    EvaluatorError,
    evaluate,
    read_snapshot,
    snapshot,
)
from robovision.lock import RunLock
from robovision.logging import (
    EVAL_KEY,
    SUCCESS_KEY,
    RunLogger,
    SideJobs,
    plot_curves,
    write_video,
)
from robovision.make import action_repeat_of
from robovision.replay import ReplayBuffer, ReplayLanes, lanes_of
from robovision.runtime import tune_allocator

__all__ = ["EVAL_SEED_OFFSET", "Evaluation", "NonFiniteLossError", "Run", "evaluate", "train"]


class RunObserver(Protocol):
    """Watches a run from outside the loop (a sweep reports each evaluation to its
    scheduler through one). Both methods are called in the training thread."""

    def started(self, run: Run) -> None:
        """The run is built (and restored, when resuming); ``run.counters.step`` is where
        it starts."""

    def evaluated(self, run: Run, result: Evaluation, step: int) -> None:
        """An evaluation of the agent as it was at agent step ``step`` was logged (with
        ``train.eval_async`` that can be some steps before ``run.counters.step``)."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or inf; the run stopped without overwriting its checkpoint."""


class StopRequested(Exception):
    """Raised inside the loop when Ctrl-C / SIGTERM asked the run to stop."""


@dataclass
class Counters:
    step: int = 0
    episodes: int = 0
    best_eval: float = -math.inf
    last_eval: float = math.nan
    eval_pending: int = -1
    """The step of an evaluation sent to the background evaluator and not yet logged
    (-1: none). A checkpoint holds one only for its own step, whose weights it holds:
    a resumed run evaluates them again."""


@dataclass
class _Sent:
    """An evaluation under way in the background: what ``best.pt`` needs if it wins."""

    weights: bytes
    counters: Counters
    rng: dict[str, Any]


# --------------------------------------------------------------------------- seeding


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG a run draws from (torch, CUDA, numpy's and Python's global ones), with
    the Gaussian each of numpy and Python may hold back for its next normal draw."""
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    _, python, python_gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "python": list(python), "python_gauss": python_gauss,
             "numpy_keys": torch.from_numpy(keys.astype(np.int64)), "numpy_pos": int(pos),
             "numpy_gauss": [int(has_gauss), float(cached_gaussian)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`. RNG states are CPU byte tensors whatever device the run
    trains on (torch and CUDA both require that), so any tensor is brought back first."""
    torch.set_rng_state(state["torch"].cpu())
    random.setstate((3, tuple(state["python"]), state.get("python_gauss")))
    has_gauss, cached_gaussian = state.get("numpy_gauss", (0, 0.0))  # older checkpoints
    np.random.set_state(("MT19937", state["numpy_keys"].cpu().numpy().astype(np.uint32),
                         state["numpy_pos"], has_gauss, cached_gaussian))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def check_finite(metrics: dict[str, torch.Tensor], step: int, checkpoint: Path) -> None:
    if not metrics:
        return
    values = torch.stack([torch.as_tensor(v, dtype=torch.float32).cpu() for v in metrics.values()])
    if bool(torch.isfinite(values).all()):
        return
    bad = [k for k, v in zip(metrics, values, strict=True) if not torch.isfinite(v)]
    raise NonFiniteLossError(
        f"non-finite {', '.join(bad)} at step {step}: training stopped. The last good "
        f"checkpoint ({checkpoint}) was left intact; lower the learning rate or check the "
        "rewards and observations for NaN/inf.")


def in_steps(train: TrainConfig, action_repeat: int) -> TrainConfig:
    """The train config with every budget in agent steps (converted from frames)."""
    if train.unit == "steps":
        return train
    steps = copy.copy(train)
    for key in ("total_steps", "learning_starts", "eval_every", "checkpoint_every", "log_every"):
        setattr(steps, key, getattr(train, key) // action_repeat)
    steps.unit = "steps"
    return steps


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in ``(before, after]``."""
    return every > 0 and after // every > before // every


# --------------------------------------------------------------------------- the run


class Run:
    """A training run: its agent, storage, logger and counters, and the cadence of
    evaluation, logging and checkpoints. The loops below drive it."""

    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False,
                 checkpoint: str = "latest", observer: RunObserver | None = None) -> None:
        """``resume`` restores ``checkpoints/<checkpoint>.pt`` (``latest`` or ``best``)."""
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.observer = observer
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.latest = self.ckpt_dir / "latest.pt"
        self.lock = RunLock(self.run_dir)  # before anything in the directory is touched
        self.logger: RunLogger | None = None
        self.side = SideJobs(self.write)
        self.evaluator: BackgroundEvaluator | None = None
        self.env: Any = None
        self.eval_env: Any = None
        self.extra_eval_envs: list[Any] = []
        try:
            self._build(cfg, resume, checkpoint)
        except BaseException:
            self.close()
            raise

    def _build(self, cfg: Config, resume: bool, checkpoint: str) -> None:
        self._set_up_process(cfg)
        self._build_evaluation(cfg)
        self.action_repeat = action_repeat_of(self.eval_env)
        self.train_cfg = in_steps(cfg.train, self.action_repeat)
        self.kind = algorithm(cfg.algo).kind
        self._build_learner(cfg)
        self.counters = Counters()
        self.warmup_until = self.train_cfg.learning_starts
        """Off-policy: random actions and no updates before this step (moved on when a
        resume starts with an empty replay)."""
        if resume:
            self._restore(self.ckpt_dir / f"{checkpoint}.pt")
        save_config(cfg, self.run_dir / "config.yaml")  # resume overrides persist too
        self.logger = RunLogger(self.run_dir, self.counters.step, self.train_cfg.total_steps,
                                progress=cfg.train.progress, side_jobs=self.side,
                                redo_evaluation=self.counters.eval_pending == self.counters.step,
                                frames_per_step=self.action_repeat if cfg.train.unit == "frames"
                                else 1)
        if cfg.train.video:  # say now, not at the first evaluation, if videos cannot work
            problem = render_problem(self.eval_env, seed=cfg.seed + EVAL_SEED_OFFSET)
            if problem:
                self.side.disable("video", f"{cfg.env.spec} cannot render: {problem}")
        self.stop_requested = False
        self.last_metrics: dict[str, torch.Tensor] = {}

    def _set_up_process(self, cfg: Config) -> None:
        """Device, allocator, threads, CUDA backend flags and seeds: before anything is
        built."""
        self.device = factory.resolve_device(cfg.device)
        tune_allocator()
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        backends = factory.use_cuda_backends(cfg.train, self.device)
        if backends:
            self.write(f"robovision: {backends}")
        seed_everything(cfg.seed)

    def _build_evaluation(self, cfg: Config) -> None:
        """The evaluation env, and either a background evaluator or the extra evaluation
        envs that evaluate in this process."""
        self.eval_env = factory.build_eval_env(cfg, cfg.seed + EVAL_SEED_OFFSET, cfg.train.video)
        self._sent: _Sent | None = None
        self.evaluated_at = -1
        """The step of the last evaluation this process started."""
        if not cfg.train.evaluates_in_background(self.device.type):
            self.extra_eval_envs = factory.build_extra_eval_envs(cfg,
                                                                 cfg.seed + EVAL_SEED_OFFSET)
            return
        self.evaluator = BackgroundEvaluator(cfg, seed=cfg.seed + EVAL_SEED_OFFSET)
        precision = factory.encoder_precision(cfg, self.eval_env.observation_space,
                                              torch.device("cpu"))
        self.write("robovision: evaluations run in a process of their own, on the CPU, "
                   f"while training goes on (train.eval_async: "
                   f"{str(cfg.train.eval_async).lower()})"
                   + (f"; evaluator: {precision}" if precision else ""))

    def _build_learner(self, cfg: Config) -> None:
        """The agent, its storage and the training env(s), each saying how it was set up."""
        obs_space, act_space = self.eval_env.observation_space, self.eval_env.action_space
        self.agent = factory.build_agent(cfg, obs_space, act_space, self.device)
        precision = factory.encoder_precision(cfg, obs_space, self.device)
        if precision:
            self.write(f"robovision: {precision}")
        if cfg.train.cuda_graph is not False and self.kind == "off_policy":
            graphs = factory.use_cuda_graphs(self.agent, self.device, cfg.train.cuda_graph)
            if graphs:
                self.write(f"robovision: {graphs}")
        self.storage = factory.build_storage(cfg, obs_space, act_space, self.device,
                                             self.train_cfg)
        self.env = factory.build_train_env(cfg, seed=cfg.seed)
        if self.device.type == "cuda" and getattr(self.storage, "placement", ""):
            self.write(f"robovision: {self.storage.placement}")
        if self.kind == "off_policy" and cfg.env.num_envs > 1:
            t = self.train_cfg
            self.write(f"robovision: {cfg.env.num_envs} envs in lockstep (one batched act for "
                       f"all, a replay lane each); {t.updates_per_step} update(s) every "
                       f"{t.update_every} agent step(s), counted over all envs as with one")

    @property
    def frames(self) -> int:
        return self.counters.step * self.action_repeat

    def write(self, message: str) -> None:
        """A message to the user, above the progress bar when there is one."""
        if self.logger is not None:
            self.logger.write(message)
        else:
            print(message, file=sys.stderr, flush=True)

    # -- checkpoints ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        state = {"agent": self.agent.state_dict(), "counters": asdict(self.counters),
                 "rng": rng_state(), "algo": self.cfg.algo}
        if self.kind == "off_policy" and self.train_cfg.save_replay:
            state["replay"] = self.storage.state_dict()
        normalizer = factory.normalizer_state(self.env)
        if normalizer is not None:
            state["reward_normalizer"] = normalizer
        return state

    def save(self) -> None:
        """Write ``latest.pt``. A background evaluation of an earlier step is waited for
        first, so a checkpoint only ever leaves its own step's evaluation pending."""
        if self.counters.eval_pending not in (-1, self.counters.step):
            self.collect_evaluation(wait=True)
        check_finite(self.last_metrics, self.counters.step, self.latest)
        save_checkpoint(self.state(), self.latest)

    def _restore(self, path: Path) -> None:
        """Load a checkpoint onto the CPU; each component then moves what it restores to
        where it lives (agent weights to the agent's device, the replay to its storage
        device, RNG states stay on the CPU), whatever device the run trains on. A
        checkpoint that does not fit this run is an error naming the file and the fix."""
        other = "best" if path.stem == "latest" else "latest"
        recover = (f"To go on from the other checkpoint: robovision resume {self.run_dir} "
                   f"--checkpoint {other}")
        try:
            state = load_checkpoint(path, map_location="cpu")
        except CheckpointError as exc:
            raise CheckpointError(f"{exc} {recover}") from exc
        if state.get("algo") != self.cfg.algo:
            raise CheckpointError(
                f"{path} holds a '{state.get('algo')}' agent but {self.run_dir / 'config.yaml'} "
                f"says algo={self.cfg.algo}; resume with the config the run was trained with.")
        try:
            self.agent.load_state_dict(state["agent"])
            if "replay" in state:
                self.storage.load_state_dict(state["replay"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(
                f"{path} does not fit this run's agent or replay ({type(exc).__name__}: "
                f"{str(exc)[:300]}): it was saved for another observation or action shape or "
                "other network settings. Resume with the settings it was trained with, or "
                "start a new run_dir.") from exc
        self.counters = Counters(**state["counters"])
        if "reward_normalizer" in state:
            factory.load_normalizer_state(self.env, state["reward_normalizer"])
        if "rng" in state:
            set_rng_state(state["rng"])
        if self.kind == "off_policy" and "replay" not in state:
            self.warmup_until = self.counters.step + self.train_cfg.learning_starts
            self.write(f"robovision: {path.name} holds no replay; it refills with "
                       f"{self.train_cfg.learning_starts} random steps before updates resume.")

    # -- cadence -------------------------------------------------------------------

    def after_steps(self, before: int, metrics: dict[str, torch.Tensor]) -> None:
        """Log, evaluate and checkpoint for the steps ``(before, counters.step]``."""
        step, train = self.counters.step, self.train_cfg
        self.collect_evaluation()
        if metrics:
            self.last_metrics = metrics
        if crossed(before, step, train.log_every) and self.last_metrics:
            check_finite(self.last_metrics, step, self.latest)
            self.logger.log(step, self.frames,
                            {f"train/{k}": float(v) for k, v in self.last_metrics.items()})
        if crossed(before, step, train.eval_every):
            self.evaluate()
        if crossed(before, step, train.checkpoint_every):
            self.save()
        self.logger.advance(step, self.frames)
        if self.stop_requested:
            raise StopRequested

    def episode_done(self, episode_return: float, length: int, env_index: int = 0) -> None:
        self.agent.episode_end(env_index)
        self.counters.episodes += 1
        self.logger.log(self.counters.step, self.frames,
                        {"train/episode_return": episode_return, "train/episode_length": length})

    def evaluate(self) -> float | None:
        """Evaluate the agent as it is now. In this process: log the result and return its
        mean return. With the background evaluator: wait for the evaluation under way if
        there is one, send this step's weights, and return None; the result is logged at
        this step when it arrives (:meth:`collect_evaluation`)."""
        step = self.evaluated_at = self.counters.step
        record = self.train_cfg.video and self.side.enabled("video")
        if self.evaluator is None:
            result = evaluate(self.agent, self.eval_env, self.train_cfg.eval_episodes,
                              seed=self.cfg.seed + EVAL_SEED_OFFSET, record=record,
                              render=lambda: self.side.run("video", self.eval_env.render),
                              extra_envs=self.extra_eval_envs)
            self._log_evaluation(step, result, self._live_state)
            return float(result.returns.mean())
        self.collect_evaluation(wait=True)
        weights = snapshot(self.agent)
        self.evaluator.submit(step, weights, record)
        self._sent = _Sent(weights, Counters(**asdict(self.counters)), rng_state())
        self.counters.eval_pending = step
        return None

    def collect_evaluation(self, wait: bool = False) -> None:
        """Log the background evaluation if it is done (with ``wait``, once it is). Until
        the evaluator has started, see whether it failed to (so a bad env or agent stops
        the run now, not at its first evaluation)."""
        if self.evaluator is None:
            return
        if self.evaluator.pending is None:
            self.evaluator.check_started()
            return
        done = self.evaluator.wait() if wait else self.evaluator.poll()
        if done is None:
            return
        step, result, video_problem = done
        if video_problem:
            self.side.disable("video", f"{self.cfg.env.spec} cannot render: {video_problem}")
        sent, self._sent = self._sent, None
        self.counters.eval_pending = -1
        self._log_evaluation(step, result, lambda: self._sent_state(sent))

    def after_evaluator_failure(self) -> None:
        """The evaluator failed or died: keep the training done so far. The checkpoint
        leaves this step's evaluation pending if one was due, so a resumed run (with the
        evaluator's problem fixed, or ``train.eval_async=false``) plays it."""
        self._sent = None
        due = self.evaluated_at == self.counters.step
        self.counters.eval_pending = self.counters.step if due else -1
        self.save()
        self.write(f"robovision: the evaluator failed; training stopped at step "
                   f"{self.counters.step} with a checkpoint. Resume with: robovision resume "
                   f"{self.run_dir} (add train.eval_async=false to evaluate in this process)")

    def _live_state(self) -> dict[str, Any]:
        return {"agent": self.agent.state_dict(), "algo": self.cfg.algo,
                "counters": asdict(self.counters), "rng": rng_state()}

    def _sent_state(self, sent: _Sent) -> dict[str, Any]:
        """``best.pt`` from the weights a background evaluation played with."""
        counters = Counters(**{**asdict(sent.counters), "eval_pending": -1,
                               "best_eval": self.counters.best_eval,
                               "last_eval": self.counters.last_eval})
        return {"agent": read_snapshot(sent.weights), "algo": self.cfg.algo,
                "counters": asdict(counters), "rng": sent.rng}

    def _log_evaluation(self, step: int, result: Evaluation,
                        best_state: Callable[[], dict[str, Any]]) -> None:
        """Log an evaluation of the agent as it was at ``step``; a new best writes
        ``best.pt`` from ``best_state()``."""
        returns, frames = result.returns, result.frames
        mean = float(returns.mean())
        self.counters.last_eval = mean
        logged = {EVAL_KEY: mean, "eval/return_std": returns.std()}
        if result.success_rate is not None:
            logged[SUCCESS_KEY] = result.success_rate
        self.logger.log(step, step * self.action_repeat, logged)
        if frames and self.side.enabled("video"):
            self.side.run("video", write_video, frames,
                          self.run_dir / "videos" / f"eval_{step:09d}.mp4")
        if mean > self.counters.best_eval:
            self.counters.best_eval = mean
            check_finite(self.last_metrics, step, self.latest)
            save_checkpoint(best_state(), self.ckpt_dir / "best.pt")
        self.side.run("plot", plot_curves, [self.run_dir], self.run_dir / "curve.png")
        if self.observer is not None:
            self.observer.evaluated(self, result, step)

    def close(self) -> None:
        """Close whatever has been built (all of it after a build; a failed build leaves
        some parts unset), env worker processes included, and release the run directory."""
        if self.evaluator is not None:
            self.evaluator.close()
        if self.logger is not None:
            self.logger.close()
        for env in (self.env, self.eval_env, *self.extra_eval_envs):
            if env is not None:
                env.close()
        self.lock.release()


# --------------------------------------------------------------------------- loops


def updater(agent: OffPolicyAgent, replay: ReplayBuffer | ReplayLanes, batch_size: int
            ) -> Callable[[], dict[str, torch.Tensor]]:
    """One update on a fresh batch: sampled inside the agent's update (with CUDA graphs,
    one graph for both) when the agent can and the replay lives on the training device;
    else sampled here and handed over."""
    if isinstance(agent, GraphableAgent) and replay.storage_device == replay.device:
        return partial(agent.update_from, replay, batch_size)
    return lambda: agent.update(replay.sample(batch_size))


def update_rounds(before: int, step: int, every: int) -> int:
    """Update rounds due for the agent steps ``(before, step]``: one per multiple of
    ``every`` (with one env, one when ``step`` is a multiple)."""
    return step // every - before // every


def run_off_policy(run: Run) -> None:
    cfg, agent, replay, train = run.cfg, run.agent, run.storage, run.train_cfg
    assert isinstance(agent, OffPolicyAgent) and isinstance(replay, ReplayBuffer | ReplayLanes)
    update = updater(agent, replay, train.batch_size)
    lanes, envs = lanes_of(replay), collector(run.env)
    obs = envs.reset(seed=cfg.seed + run.counters.episodes)
    envs.seed_actions(cfg.seed + run.counters.step)
    replay.end_episode()
    while run.counters.step < train.total_steps:
        before = run.counters.step
        step = before + envs.num_envs  # agent steps count every env's
        actions = envs.random_actions() if before < run.warmup_until else agent.act(obs)
        # The updates of this step run while the envs step: in worker processes when they
        # have them; on a GPU, the update's kernels run while this process steps the envs.
        # They see the replay up to the previous step (DrQ-v2's order).
        envs.step_async(actions)
        metrics = {}
        if step >= run.warmup_until and replay.can_sample:
            # rounds due for the steps from the end of the warm-up on
            rounds = update_rounds(max(before, run.warmup_until - 1), step, train.update_every)
            for _ in range(rounds * train.updates_per_step):
                metrics = update()
        stepped = envs.step_wait()
        for i, lane in enumerate(lanes):
            lane.add(obs_tree.index(obs, i), actions[i], float(stepped.reward[i]),
                     obs_tree.index(stepped.final_obs, i), bool(stepped.terminated[i]),
                     bool(stepped.truncated[i]))
        run.counters.step = step
        for i, episode_return, length in stepped.ended:
            run.episode_done(episode_return, length, env_index=i)
        obs = stepped.next_obs
        run.after_steps(before, metrics)


def run_on_policy(run: Run) -> None:
    cfg, agent, rollout, train, envs = run.cfg, run.agent, run.storage, run.train_cfg, run.env
    assert isinstance(agent, OnPolicyAgent)
    obs, _ = envs.reset(seed=cfg.seed + run.counters.step)
    while run.counters.step < train.total_steps:
        before = run.counters.step
        for t in range(train.rollout_steps):
            policy = agent.explore(obs)
            obs, reward, terminated, truncated, info = envs.step(policy.env_action)
            rollout.store(t, policy.obs, policy.action, policy.log_prob, policy.value,
                          reward, terminated, terminated | truncated,
                          _truncation_values(agent, info, truncated, terminated))
            if "episode" in info:
                for i in np.flatnonzero(info["_episode"]):
                    run.episode_done(float(info["episode"]["r"][i]),
                                     int(info["episode"]["l"][i]), env_index=int(i))
        run.counters.step += train.rollout_steps * cfg.env.num_envs
        run.after_steps(before, agent.update(rollout, obs, before / train.total_steps))


LOOPS = {"off_policy": run_off_policy, "on_policy": run_on_policy}
"""The collection loop of each kind of agent (``Algorithm.kind``)."""


def _truncation_values(agent: OnPolicyAgent, info: dict, truncated: np.ndarray,
                       terminated: np.ndarray) -> torch.Tensor:
    """V(final observation) for envs cut by a time limit; zero elsewhere."""
    values = torch.zeros(len(truncated), device=agent.device)
    cut = np.flatnonzero(truncated & ~terminated)
    if len(cut):
        final = obs_tree.stack([info["final_obs"][i] for i in cut])
        values[torch.as_tensor(cut, device=agent.device)] = agent.value(final)
    return values


# --------------------------------------------------------------------------- entry


def train(cfg: Config, run_dir: Path, resume: bool = False,
          checkpoint: str = "latest", observer: RunObserver | None = None) -> Counters:
    """Train (or resume from ``checkpoints/<checkpoint>.pt``) one run. Ctrl-C or SIGTERM
    stops at the next step boundary and writes a checkpoint first; a second Ctrl-C aborts
    immediately. Off the main thread (a Ray Tune trial) signals stay with whoever owns
    them."""
    run = Run(cfg, run_dir, resume=resume, checkpoint=checkpoint, observer=observer)
    main_thread = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGINT, signal.SIGTERM) if main_thread else ()
    previous = {s: signal.getsignal(s) for s in signals}

    def request_stop(signum, frame):
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_requested = True
        run.logger.write("Stopping: writing a checkpoint at the next step (Ctrl-C again to abort)")

    for sig in previous:
        signal.signal(sig, request_stop)
    try:
        if observer is not None:
            observer.started(run)
        if run.counters.eval_pending == run.counters.step:
            run.evaluate()  # the checkpoint's own evaluation was under way when it stopped
        LOOPS[run.kind](run)
        if run.evaluated_at != run.counters.step:
            run.evaluate()  # a final evaluation unless the last step just had one
        run.collect_evaluation(wait=True)
        run.save()
    except EvaluatorError:
        run.after_evaluator_failure()
        raise
    except StopRequested:
        run.collect_evaluation(wait=True)
        run.save()
        run.logger.write(f"Stopped at step {run.counters.step}; checkpoint saved. Resume with: "
                         f"robovision resume {run.run_dir}")
        raise KeyboardInterrupt from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        run.close()
    return run.counters
