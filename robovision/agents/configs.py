"""Hyper-parameters of every algorithm, as typed dataclasses (torch-free).

These live apart from the agents' code so that parsing and validating a config
(``robovision.config``) never imports torch. An algorithm's agent file imports
its dataclass from here; :mod:`robovision.agents.registry` pairs the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class EncoderConfig:
    """How an agent encodes observations (``agent.encoder.*`` in configs)."""

    kind: str = "auto"
    """``auto`` (flatten for state vectors, ``drq`` for images and dicts), ``flat``,
    ``drq`` or ``nature``."""
    feature_dim: int = 50
    """Output size of the Linear-LayerNorm-Tanh projection after the DrQ conv trunk."""
    projection: Literal["shared", "per_head"] = "shared"
    """Where the DrQ projection sits. ``shared``: inside the encoder, trained by the
    critic loss only (DrQ's layout). ``per_head``: the encoder is the conv trunk alone and
    the actor and the critic each own a Linear-LayerNorm-Tanh trunk on top of it, the
    actor's trained by the actor loss on detached conv features (DrQ-v2's layout)."""
    views: Literal["separate", "shared"] = "separate"
    """Several camera views as a dict (``env.camera_views=dict``): a conv trunk per view,
    or one ``shared`` by all views."""
    amp: Literal["auto", True, False] = False
    """bf16 autocast for the pixel encoder (channels_last where faster). ``auto``: where
    the training device computes bf16 natively (a CUDA GPU from Ampere on, a CPU with
    AVX-512 BF16 or AMX), float32 elsewhere, where emulated bf16 is slower
    (:func:`robovision.agents.common.encoder_bf16`)."""
    augment: Literal["none", "shift"] = "none"
    """Off-policy agents: DrQ's random shift of obs and next_obs in every update."""
    grad: Literal["critic", "both"] = "critic"
    """Off-policy agents: which losses train the shared encoder. ``critic``: the
    critic loss only, the actor sees detached features (DrQ, DrQ-v2); ``both``:
    the actor loss too. PPO's encoder is always trained by its whole loss."""


@dataclass
class AgentConfig:
    """What every algorithm's hyper-parameters share."""

    gamma: float = 0.99
    """Discount factor (the replay's n-step returns and reward normalisation use it too)."""
    normalize_reward: bool = False
    """Learn from rewards scaled by the running std of the discounted return (gymnasium's
    ``NormalizeReward``, clipped to +-10); logged and evaluated returns stay raw."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


@dataclass
class SACConfig(AgentConfig):
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden layer sizes of actor and critics."""
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    tau: float = 0.005
    """Polyak rate of the target critics."""
    n_critics: int = 2
    init_alpha: float = 1.0
    learn_alpha: bool = True
    target_entropy: float | None = None
    """Entropy target; ``None`` gives the usual ``-|A|``."""
    actor_update_every: int = 1
    target_update_every: int = 1
    log_std_min: float = -5.0
    log_std_max: float = 2.0


@dataclass
class TD3Config(AgentConfig):
    hidden: list[int] = field(default_factory=lambda: [400, 300])
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    tau: float = 0.005
    n_critics: int = 2
    policy_delay: int = 2
    """Actor and target networks update once every this many critic updates."""
    target_noise: float = 0.2
    """Std of the target policy smoothing noise (0 disables)."""
    target_noise_clip: float = 0.5
    exploration_noise: float = 0.1
    """Std (Gaussian) or sigma (OU) of the exploration noise, in [-1, 1] action units."""
    noise_type: Literal["gaussian", "ou"] = "gaussian"
    """OU noise restarts from zero at every episode start (the agent's episode-end hook)."""
    ou_theta: float = 0.15
    noise_schedule: str = ""
    """If set (``linear(1.0,0.1,500000)``), the Gaussian exploration std and the target
    smoothing std both follow it over the agent's exploration steps (DrQ-v2)."""
    actor_q: Literal["first", "min"] = "first"
    """Actor objective: Q1 (TD3) or the min over critics (DrQ-v2)."""


@dataclass
class DDPGConfig(TD3Config):
    """DDPG as TD3 settings: one critic, no target smoothing, no delay."""

    n_critics: int = 1
    policy_delay: int = 1
    target_noise: float = 0.0


@dataclass
class PPOConfig(AgentConfig):
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    lr: float = 3e-4
    anneal_lr: bool = True
    """Linearly decay the learning rate to 0 over the run."""
    epochs: int = 10
    num_minibatches: int = 32
    gae_lambda: float = 0.95
    clip: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    norm_adv: bool = True
    normalize_obs: bool = True
    normalize_reward: bool = True
    target_kl: float | None = None
    """Stop the epochs early when the approximate KL exceeds this."""
    log_std_init: float = 0.0
    ortho_init: bool = True
