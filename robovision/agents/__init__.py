"""Agents: SAC, TD3, DDPG (a TD3 preset) and PPO sharing losses and networks."""
