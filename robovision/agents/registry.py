"""Every algorithm in one table: what it is and how to build it.

Adding an algorithm means: its agent file (implementing
:class:`robovision.agents.protocol.OffPolicyAgent` or ``OnPolicyAgent``), its
hyper-parameter dataclass in :mod:`robovision.agents.configs`, one line here,
and a preset in ``configs/``. The loop, the factory and the config parser read
this table and name no algorithm themselves.

This module is torch-free: agent classes are imported only when one is built.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Literal

from robovision.agents.configs import AgentConfig, DDPGConfig, PPOConfig, SACConfig, TD3Config

Kind = Literal["off_policy", "on_policy"]


@dataclass(frozen=True)
class Algorithm:
    name: str
    kind: Kind
    """``off_policy``: learns from a replay (the loop samples batches); ``on_policy``:
    learns from the rollout it just collected."""
    config: type[AgentConfig]
    agent: str
    """``module:Class`` of the agent, imported on first use."""
    discrete_actions: bool = False
    """Whether it also takes a ``Discrete`` action space (all take a [-1, 1] ``Box``)."""
    summary: str = ""

    def agent_class(self) -> type:
        module, _, name = self.agent.partition(":")
        return getattr(importlib.import_module(module), name)


ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm("sac", "off_policy", SACConfig, "robovision.agents.sac:SAC",
              summary="Soft Actor-Critic, twin critics, learned temperature"),
    Algorithm("td3", "off_policy", TD3Config, "robovision.agents.td3:TD3",
              summary="TD3: clipped double Q, target smoothing, delayed actor"),
    Algorithm("ddpg", "off_policy", DDPGConfig, "robovision.agents.td3:TD3",
              summary="DDPG: the TD3 agent with one critic, no smoothing, no delay"),
    Algorithm("ppo", "on_policy", PPOConfig, "robovision.agents.ppo:PPO",
              discrete_actions=True, summary="PPO: clipped surrogate, GAE"),
)}


def algorithm(name: str) -> Algorithm:
    """The registry entry of ``name``, or an error listing the known ones."""
    if name in ALGORITHMS:
        return ALGORITHMS[name]
    close = difflib.get_close_matches(name, list(ALGORITHMS), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"unknown algorithm '{name}'.{hint} Known: {', '.join(ALGORITHMS)}")


def names(kind: Kind | None = None) -> list[str]:
    return [n for n, a in ALGORITHMS.items() if kind is None or a.kind == kind]
