"""DDPG (Lillicrap et al. 2016) as a TD3 preset: one critic, no target smoothing,
actor and targets updated every step. Exploration: Gaussian or OU noise."""

from __future__ import annotations

from dataclasses import dataclass, field

from robovision.agents.td3 import TD3, TD3Config


@dataclass
class DDPGConfig(TD3Config):
    hidden: list[int] = field(default_factory=lambda: [400, 300])
    n_critics: int = 1
    policy_delay: int = 1
    target_noise: float = 0.0


DDPG = TD3
