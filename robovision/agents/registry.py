"""Name -> (config dataclass, agent class) for every algorithm."""

from __future__ import annotations

from robovision.agents.ddpg import DDPG, DDPGConfig
from robovision.agents.ppo import PPO, PPOConfig
from robovision.agents.sac import SAC, SACConfig
from robovision.agents.td3 import TD3, TD3Config

AGENT_CONFIGS: dict[str, type] = {
    "sac": SACConfig, "td3": TD3Config, "ddpg": DDPGConfig, "ppo": PPOConfig}
AGENT_CLASSES: dict[str, type] = {"sac": SAC, "td3": TD3, "ddpg": DDPG, "ppo": PPO}
OFF_POLICY = ("sac", "td3", "ddpg")
