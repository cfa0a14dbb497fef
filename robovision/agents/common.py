"""What the agents share: optimiser helpers, state dicts, the DrQ front end, and the
body of the off-policy actor-critic agents (SAC and TD3/DDPG build on it; no agent
inherits another)."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from robovision import obs as obs_tree
from robovision.agents.configs import EncoderConfig
from robovision.agents.graph import Eager, Phase, Runner
from robovision.nets.encoders import Encoder, FlattenEncoder, make_encoder
from robovision.nets.heads import Projection, QEnsemble
from robovision.replay.batch import Batch
from robovision.replay.buffer import ReplayBuffer
from robovision.runtime import native_bf16


def adam(params: Iterable[torch.Tensor], lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with the fused kernel (one op for all parameters) where torch has one."""
    return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)


def encoder_bf16(cfg: EncoderConfig, device: torch.device) -> bool:
    """Whether the pixel encoder (and DrQ-v2's per-head projections) run in bf16 autocast
    on ``device``: ``encoder.amp`` itself, or for ``auto`` whether the device computes
    bf16 natively."""
    if cfg.amp == "auto":
        return native_bf16(device)[0]
    return bool(cfg.amp)


def build_encoder(cfg: EncoderConfig, obs_space: spaces.Space, device: torch.device) -> Encoder:
    """The agent's observation encoder from its ``encoder`` config."""
    return make_encoder(obs_space, cfg.kind, cfg.feature_dim, encoder_bf16(cfg, device),
                        project=cfg.projection == "shared",
                        shared_views=cfg.views == "shared").to(device)


def collect_state(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    """``state_dict()`` of each named attribute (modules, optimisers, tensors)."""
    state = {}
    for name in names:
        value = getattr(obj, name)
        is_tensor = isinstance(value, torch.Tensor)
        state[name] = value.detach().clone() if is_tensor else value.state_dict()
    return state


def restore_state(obj: Any, names: Iterable[str], state: dict[str, Any]) -> None:
    missing = [n for n in names if n not in state]
    if missing:
        raise KeyError(f"checkpoint lacks agent components {missing}")
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, torch.Tensor):
            with torch.no_grad():
                value.copy_(state[name])
        else:
            value.load_state_dict(state[name])


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def optimize(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def encode_batch(encoder: nn.Module, obs: Any, next_obs: Any, cfg: EncoderConfig
                 ) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """The off-policy agents' shared front end: augment (DrQ random shift) if asked,
    encode ``obs`` with gradients (the critic loss trains the encoder) and ``next_obs``
    without. Returns ``(augmented obs, features, next_features)``."""
    if cfg.augment == "shift":
        from robovision.augment import augment_obs

        obs, next_obs = augment_obs(obs), augment_obs(next_obs)
    features = encoder(obs)
    with torch.no_grad():
        next_features = encoder(next_obs)
    return obs, features, next_features


def actor_features(encoder: nn.Module, obs: Any, features: torch.Tensor,
                   cfg: EncoderConfig) -> torch.Tensor:
    """Features for the actor loss: detached (DrQ) or re-encoded so the actor loss
    trains the encoder too (``encoder.grad=both``)."""
    return encoder(obs) if cfg.grad == "both" else features.detach()


ActorFactory = Callable[[int, nn.Module | None], nn.Module]
"""``(feature_dim, trunk or None) -> actor module``."""


class ActorCritic(ABC):
    """The body SAC and TD3/DDPG share: encoder, actor, critic ensemble and its target,
    their optimisers, observation conversion, the episode-end hook, the state dict, and
    the update's split into a Python-side phase and its tensor work.

    ``update`` counts the update, asks the agent for its phase (:meth:`next_phase`: which
    parts run; it also fills the scalar tensors the update reads) and runs :meth:`learn`
    through the runner: eagerly, or replayed as a CUDA graph per phase
    (:mod:`robovision.agents.graph`).

    The critic loss trains the encoder; the actor loss does too with
    ``encoder.grad=both``. With ``encoder.projection=per_head`` (pixels) the actor
    and the critic each get their own Linear-LayerNorm-Tanh trunk (DrQ-v2).
    """

    STATE: ClassVar[tuple[str, ...]] = ("encoder", "actor", "critic", "critic_target",
                                        "actor_opt", "critic_opt")
    """Components saved in the state dict; agents add theirs."""
    COUNTERS: ClassVar[tuple[str, ...]] = ("num_updates",)

    def __init__(self, cfg: Any, obs_space: spaces.Space, action_space: spaces.Box,
                 device: torch.device, make_actor: ActorFactory) -> None:
        self.cfg, self.device = cfg, device
        self.action_dim = int(np.prod(action_space.shape))
        self.obs_ndim = obs_tree.space_ndim(obs_space)
        self.encoder = build_encoder(cfg.encoder, obs_space, device)
        feat = self.encoder.out_dim
        self.actor = make_actor(feat, self._trunk(feat)).to(device)
        self.critic = QEnsemble(feat, self.action_dim, cfg.hidden, cfg.n_critics,
                                trunk=self._trunk(feat)).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        actor_params = [*self.actor.parameters()]
        if cfg.encoder.grad == "both":
            actor_params += [*self.encoder.parameters()]
        self.actor_opt = adam(actor_params, cfg.actor_lr)
        self.critic_opt = adam([*self.encoder.parameters(), *self.critic.parameters()],
                               cfg.critic_lr)
        self.num_updates = 0
        self.runner: Runner = Eager()
        """How updates run (:meth:`use_runner`)."""
        self.act_runner: Runner = Eager()
        """How acts run: the encoder and the policy, on a batch of observations."""
        self.capturable = False

    def _trunk(self, feature_dim: int) -> Projection | None:
        enc = self.cfg.encoder
        if enc.projection != "per_head" or isinstance(self.encoder, FlattenEncoder):
            return None
        return Projection(feature_dim, enc.feature_dim, encoder_bf16(enc, self.device))

    def observe(self, obs: Any) -> tuple[Any, bool]:
        """Numpy observation(s) -> batched tensors on the device, and whether it was one."""
        return obs_tree.to_tensor(obs, self.device, self.obs_ndim)

    def episode_end(self, env_index: int = 0) -> None:  # noqa: B027 (a default, not abstract)
        """Nothing spans an episode by default."""

    @torch.no_grad()
    def act(self, obs: Any, eval: bool = False) -> np.ndarray:
        """Action(s) for one observation or a batch, in [-1, 1]: the policy through the
        act runner (a CUDA graph per batch size with ``train.cuda_graph``), then the
        agent's exploration outside it."""
        obs_t, single = self.observe(obs)
        action = self.act_runner(self.policy, obs_t, self.policy_phase(eval))
        action = self.explore(action, eval).cpu().numpy()
        return action[0] if single else action

    @abstractmethod
    def policy_phase(self, eval: bool) -> Phase:
        """What :meth:`policy` computes for an act, decided in Python."""

    @abstractmethod
    def policy(self, obs: Any, phase: Phase) -> torch.Tensor:
        """The act's tensor work: batched observation tensors -> actions."""

    def explore(self, action: torch.Tensor, eval: bool) -> torch.Tensor:
        """Exploration added outside the policy's graph (none by default)."""
        return action

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.num_updates += 1
        return self.runner(self.learn, batch, self.next_phase())

    def update_from(self, replay: ReplayBuffer, batch_size: int) -> dict[str, torch.Tensor]:
        """An update on a batch that ``replay`` samples inside the runner's step, from its
        device counter: with the replay on the training device and CUDA graphs, sampling
        and update are captured and replayed as one graph."""
        self.num_updates += 1
        return self.runner(partial(self._sample_and_learn, replay, batch_size),
                           replay.t_device, self.next_phase())

    def _sample_and_learn(self, replay: ReplayBuffer, batch_size: int, t: torch.Tensor,
                          phase: Phase) -> dict[str, torch.Tensor]:
        return self.learn(replay.sample(batch_size, t), phase)

    @abstractmethod
    def next_phase(self) -> Phase:
        """What this update runs, decided in Python."""

    @abstractmethod
    def learn(self, batch: Batch, phase: Phase) -> dict[str, torch.Tensor]:
        """The update's tensor work for ``phase``."""

    def use_runner(self, runner: Runner, capturable: bool, acts: Runner | None = None
                   ) -> None:
        """Run updates through ``runner`` and acts through ``acts`` (eagerly when None);
        ``capturable`` makes every optimiser safe to capture in a CUDA graph (its step
        count stays on the device)."""
        self.runner, self.capturable = runner, capturable
        self.act_runner = acts if acts is not None else Eager()
        self._apply_capturable()

    def _apply_capturable(self) -> None:
        for name in self.STATE:
            optimizer = getattr(self, name)
            if isinstance(optimizer, torch.optim.Optimizer):
                for group in optimizer.param_groups:
                    group["capturable"] = self.capturable

    def state_dict(self) -> dict[str, Any]:
        state = collect_state(self, self.STATE)
        state.update({name: getattr(self, name) for name in self.COUNTERS})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_state(self, self.STATE, state)
        for name in self.COUNTERS:
            setattr(self, name, int(state.get(name, 0)))
        # Loading replaced the optimiser state a captured graph reads, and the saved
        # param groups carry the saving run's capturable flag.
        self._apply_capturable()
        self.runner.reset()
        self.act_runner.reset()
