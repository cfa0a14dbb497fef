"""PointMassReach: dm_control's point mass, rendered by MuJoCo, with a dense reward.

The suite's ``point_mass-easy`` pays only near the target, so from pixels an agent
must first find it by chance; on a CPU that takes longer than a comparison of
settings can afford. Here the reward falls linearly with the distance to the
target across the whole arena, so SAC from pixels learns in a few thousand agent
steps. The scene, lights (with shadows) and cameras are the suite's own, which
makes it the cheap MuJoCo-rendered task for measuring render settings
(``scripts/bench_fast_render.py --setup reach``), and a template for custom
dm_control tasks: ``DMCEnv`` takes any loader with ``suite.load``'s signature.

    make_env("robovision/PointMassReach-v0", obs="pixels", image_size=48)
"""

from __future__ import annotations

from typing import Any

from dm_control.rl import control
from dm_control.suite import point_mass
from dm_control.utils import rewards

TIME_LIMIT = 20.0
"""Seconds per episode: 1000 physics steps, as in the suite."""
REWARD_MARGIN = 0.3
"""Distance (m) at which the reward reaches 0: the arena's walls (its corners are 0.42 away)."""


class DenseReach(point_mass.PointMass):
    """The easy task (fixed actuator gains) with ``1 - distance / 0.3`` as reward,
    times the suite's small-control factor."""

    def get_reward(self, physics: point_mass.Physics) -> float:
        target_size = physics.named.model.geom_size["target", 0]
        near = rewards.tolerance(physics.mass_to_target_dist(), bounds=(0, target_size),
                                 margin=REWARD_MARGIN, sigmoid="linear", value_at_margin=0)
        control_reward = rewards.tolerance(physics.control(), margin=1, value_at_margin=0,
                                           sigmoid="quadratic").mean()
        return float(near * (control_reward + 4) / 5)


def load(domain: str = "point_mass", task: str = "reach", task_kwargs: dict | None = None,
         environment_kwargs: dict | None = None) -> control.Environment:
    """``suite.load``'s signature, for ``DMCEnv(loader=load)``."""
    task_kwargs: dict[str, Any] = dict(task_kwargs or {})
    physics = point_mass.Physics.from_xml_string(*point_mass.get_model_and_assets())
    reach = DenseReach(randomize_gains=False, random=task_kwargs.pop("random", None))
    return control.Environment(physics, reach, time_limit=task_kwargs.pop("time_limit", TIME_LIMIT),
                               **(environment_kwargs or {}))
