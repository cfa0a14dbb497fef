"""The one place where agents, environments and storage are built from a Config.

Nothing here names an algorithm: the registry entry of ``cfg.algo`` says what it is
(off- or on-policy, which action spaces) and which class builds it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from robovision.agents.protocol import Agent
from robovision.agents.registry import Algorithm, algorithm
from robovision.config import Config, TrainConfig
from robovision.envworker import EnvWorker
from robovision.make import build_env
from robovision.replay import ReplayBuffer, ReplayLanes, RolloutBuffer

REWARD_CLIP = 10.0
"""Normalised learning rewards are clipped to +-10 (as CleanRL and SB3's VecNormalize)."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for but torch sees no CUDA device; "
                           "use device=auto or device=cpu")
    return torch.device(name)


# --------------------------------------------------------------------------- environments


def build_eval_env(cfg: Config, seed: int, record: bool) -> gym.Env:
    """The first evaluation env, seeded ``seed``; it renders frames for the videos with
    ``record``."""
    return build_env(cfg, seed=seed, render_mode="rgb_array" if record else None,
                     evaluation=True)


def build_extra_eval_envs(cfg: Config, first_seed: int) -> list[gym.Env]:
    """The evaluation envs beside the first (``train.eval_envs``, never more than the
    episodes of an evaluation), seeded ``first_seed + k``; in worker processes started
    together with ``train.eval_workers``."""
    count = min(cfg.train.eval_envs, cfg.train.eval_episodes)
    seeds = [first_seed + k for k in range(1, count)]
    if not cfg.train.eval_workers:
        return [build_env(cfg, seed=seed, evaluation=True) for seed in seeds]
    return EnvWorker.start_all([(partial(build_env, cfg, seed=seed, evaluation=True),
                                 f"{cfg.env.spec} (evaluation env {k})")
                                for k, seed in enumerate(seeds, start=1)],
                               off="train.eval_workers=false")


def build_train_env(cfg: Config, seed: int) -> gym.Env | gym.vector.VectorEnv:
    """What the loop collects with: one env, or ``num_envs`` stepped together (a finished
    env resets in the same step and reports its final observation in
    ``info["final_obs"]``); in this process, or in worker processes with
    ``train.env_worker``. Episode statistics are recorded on the raw rewards
    (``info["episode"]``) before any reward normalisation."""
    worker = cfg.train.env_worker
    if algorithm(cfg.algo).kind == "off_policy" and cfg.env.num_envs == 1:
        wrappers = gym.wrappers
        env = (EnvWorker(partial(build_env, cfg, seed), name=cfg.env.spec) if worker
               else build_env(cfg, seed=seed))
    else:  # the same wrappers in gymnasium's vector versions
        fns = [partial(build_env, cfg, seed + i) for i in range(cfg.env.num_envs)]
        wrappers = gym.wrappers.vector
        env = (AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP, context="spawn")
               if worker else SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP))
    env = wrappers.RecordEpisodeStatistics(env)
    if cfg.agent.normalize_reward:
        env = wrappers.ClipReward(wrappers.NormalizeReward(env, gamma=cfg.agent.gamma),
                                  -REWARD_CLIP, REWARD_CLIP)
    return env


def _reward_normalizer(env: Any) -> Any | None:
    while env is not None:
        if isinstance(env, gym.wrappers.NormalizeReward | gym.wrappers.vector.NormalizeReward):
            return env
        env = getattr(env, "env", None)
    return None


def normalizer_state(env: Any) -> dict[str, torch.Tensor] | None:
    """The reward normaliser's running statistics, for checkpoints (None if there is none)."""
    norm = _reward_normalizer(env)
    if norm is None:
        return None
    rms = norm.return_rms
    return {"mean": torch.as_tensor(rms.mean), "var": torch.as_tensor(rms.var),
            "count": torch.as_tensor(float(rms.count)),
            "accumulated": torch.as_tensor(np.asarray(norm.accumulated_reward))}


def load_normalizer_state(env: Any, state: dict[str, torch.Tensor]) -> None:
    norm = _reward_normalizer(env)
    if norm is None:
        return
    norm.return_rms.mean = state["mean"].cpu().numpy().astype(np.float64)
    norm.return_rms.var = state["var"].cpu().numpy().astype(np.float64)
    norm.return_rms.count = float(state["count"])
    accumulated = state["accumulated"].cpu().numpy()
    norm.accumulated_reward = (accumulated.astype(np.float32) if accumulated.ndim
                               else float(accumulated))


# --------------------------------------------------------------------------- agents


def check_action_space(space: spaces.Space, spec: str, entry: Algorithm) -> None:
    if isinstance(space, spaces.Discrete) and entry.discrete_actions:
        return
    if not isinstance(space, spaces.Box):
        takes = "a Box or Discrete" if entry.discrete_actions else "a continuous Box"
        raise ValueError(f"{spec}: {entry.name} needs {takes} action space, got {space}")
    if not (np.all(space.low == -1) and np.all(space.high == 1)):
        raise ValueError(f"{spec}: actions must lie in [-1, 1] after make_env's rescaling; "
                         f"got bounds {space.low}..{space.high} (unbounded actions?)")


def build_agent(cfg: Config, obs_space: spaces.Space, action_space: spaces.Space,
                device: torch.device) -> Agent:
    entry = algorithm(cfg.algo)
    check_action_space(action_space, cfg.env.spec, entry)
    return entry.agent_class()(cfg.agent, obs_space, action_space, device)


def use_cuda_graphs(agent: Agent, device: torch.device, asked: bool | str = True
                    ) -> str | None:
    """Replay an off-policy ``agent``'s updates and acts as CUDA graphs
    (``train.cuda_graph``: ``asked`` is True or ``"auto"``); says what it did, or None on
    the CPU with ``auto``."""
    from robovision.agents.graph import GraphableAgent, Graphed

    auto = asked == "auto"
    if device.type != "cuda":
        return None if auto else (f"train.cuda_graph applies on CUDA only; updates on "
                                  f"{device} run eagerly")
    if not isinstance(agent, GraphableAgent):
        how = ("an agent graphs its updates by splitting them into next_phase() and learn() "
               "as robovision.agents.common.ActorCritic does")
        if auto:
            return (f"{type(agent).__name__} has no use_runner(), so its updates run eagerly "
                    f"({how}; train.cuda_graph=false silences this)")
        raise TypeError(f"train.cuda_graph=true: {type(agent).__name__} has no use_runner(); "
                        f"{how}. Set train.cuda_graph=false to update eagerly.")
    runner = Graphed()
    agent.use_runner(runner, capturable=True, acts=Graphed())
    return (f"updates and acts replayed as CUDA graphs, one per update phase and one per "
            f"act batch size, after {runner.warmup} eager warm-up calls each "
            f"(train.cuda_graph={'auto' if auto else 'true'}; false to run them eagerly)")


CUDA_BACKENDS = {"cudnn_benchmark": "cuDNN picks each convolution's algorithm by timing it",
                 "tf32": "float32 matrix products run on TF32 tensor cores"}
"""The process-wide CUDA settings a run can ask for (``train.<name>``), and what each does."""


def use_cuda_backends(train: TrainConfig, device: torch.device) -> str | None:
    """Turn on the process-wide CUDA settings a run asks for (:data:`CUDA_BACKENDS`); says
    what it did, or None when it asks for none. Settings not asked for are left as they
    are."""
    asked = [name for name in CUDA_BACKENDS if getattr(train, name)]
    if not asked:
        return None
    if device.type != "cuda":
        keys = " and ".join(f"train.{name}" for name in asked)
        verb = "apply" if len(asked) > 1 else "applies"
        return f"{keys} {verb} on CUDA only; ignored on {device}"
    if train.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if train.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    return "; ".join(f"train.{name}: {CUDA_BACKENDS[name]}" for name in asked)


def encoder_precision(cfg: Config, obs_space: spaces.Space, device: torch.device
                      ) -> str | None:
    """What the pixel encoder computes in, to say at a run's start: for
    ``agent.encoder.amp=auto`` always, for ``true`` only where bf16 is emulated (a warning);
    None for state observations and for ``false``."""
    from robovision.obs import is_image_space, leaf_spaces
    from robovision.runtime import native_bf16

    amp = cfg.agent.encoder.amp
    if amp is False or not any(is_image_space(s) for s in leaf_spaces(obs_space).values()):
        return None
    native, why = native_bf16(device)
    if amp == "auto":
        what = "bf16 autocast" if native else "float32"
        return f"pixel encoder in {what} on {device.type}: {why} (agent.encoder.amp: auto)"
    if native:
        return None
    return (f"agent.encoder.amp=true: the pixel encoder runs in bf16 on {device.type} "
            f"although {why}; emulated bf16 made the main job's update 2-8x slower than float32 "
            "(agent.encoder.amp=auto uses float32 here)")


def restore_agent(cfg: Config, checkpoint: Path, obs_space: spaces.Space,
                  action_space: spaces.Space, device: torch.device) -> Agent:
    """The agent of a saved run: built from its config, weights from ``checkpoint``."""
    from robovision.checkpoint import load_checkpoint

    agent = build_agent(cfg, obs_space, action_space, device)
    agent.load_state_dict(load_checkpoint(checkpoint)["agent"])
    return agent


# --------------------------------------------------------------------------- storage


def build_storage(cfg: Config, obs_space: spaces.Space, action_space: spaces.Space,
                  device: torch.device, train: TrainConfig | None = None
                  ) -> ReplayBuffer | ReplayLanes | RolloutBuffer:
    """The replay (off-policy; one lane per env with several) or the rollout (on-policy)
    for this run. ``train``: the train config in agent steps (default ``cfg.train``)."""
    t = train or cfg.train
    if algorithm(cfg.algo).kind == "on_policy":
        return RolloutBuffer(t.rollout_steps, cfg.env.num_envs, obs_space, action_space, device)
    # The replay keeps each episode's final observation in a slot of its own: room for the
    # budget plus one slot per episode of 10 or more steps holds the whole run.
    capacity = min(t.buffer_size, t.total_steps + t.total_steps // 10 + 10)
    frame_stack = cfg.env.frame_stack if cfg.env.obs != "state" else 1
    per_slot = ReplayBuffer.bytes_needed(obs_space, action_space, 1, frame_stack)
    storage, why = choose_replay_device(t.replay_on_device, device, capacity * per_slot)
    lanes = cfg.env.num_envs
    if lanes > 1:  # all lanes together, before the first is allocated
        ReplayBuffer.check_fits(capacity, per_slot, storage)
    made = [ReplayBuffer(obs_space, action_space, -(-capacity // lanes), gamma=cfg.agent.gamma,
                         n_step=t.n_step, frame_stack=frame_stack, device=device,
                         storage_device=storage) for _ in range(lanes)]
    replay = made[0] if lanes == 1 else ReplayLanes(made)
    replay.placement = why if lanes == 1 else f"{why}, one lane per env ({lanes})"
    return replay


def choose_replay_device(setting: str | bool, device: torch.device, needed: int
                         ) -> tuple[torch.device, str]:
    """Where the replay lives, and a sentence saying why. ``auto`` puts it on a CUDA
    training device when it takes at most half of the device's free memory."""
    from robovision.replay.buffer import available_memory

    cpu = torch.device("cpu")
    gib = needed / 2**30
    if device.type != "cuda" or setting is False:
        return cpu, f"replay ({gib:.2f} GiB) in host memory"
    if setting is True:
        return device, f"replay ({gib:.2f} GiB) on {device} (train.replay_on_device=true)"
    free = available_memory(device)
    if needed <= free // 2:
        return device, (f"replay ({gib:.2f} GiB) on {device}: it fits in half of its "
                        f"{free / 2**30:.1f} GiB free")
    return cpu, (f"replay ({gib:.2f} GiB) in host memory: more than half of {device}'s "
                 f"{free / 2**30:.1f} GiB free; batches go through pinned memory")
