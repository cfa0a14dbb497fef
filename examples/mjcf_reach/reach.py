"""Reward and termination of the reach example, functions of MuJoCo's model and data.

The reward is dense: minus the distance from the fingertip to the target (metres), so
an agent learns from the first episodes. Named in the preset as
``examples/mjcf_reach/reach.py:reward``.
"""

import mujoco
import numpy as np


def _site(model, name: str) -> int:
    return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name)


def distance(model, data) -> float:
    return float(np.linalg.norm(data.site_xpos[_site(model, "fingertip")]
                                - data.site_xpos[_site(model, "target")]))


def reward(model, data) -> float:
    return -distance(model, data)


def reached(model, data) -> bool:
    """A terminal for an episode variant that stops at the target (not used by the preset)."""
    return distance(model, data) < 0.02
