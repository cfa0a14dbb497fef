"""Meta-World's 50 single tasks (a Sawyer arm) as robovision envs.

    make_env("metaworld/pick-place-v3", obs="state" | "pixels" | "state+pixels")

An optional extra: ``pip install 'robovision[metaworld]'`` (``make setup`` installs it
with the test tools). Meta-World 3.1 pins mujoco 3.3.0, which robovision's dm-control
cannot use; 3.0.0 installs beside mujoco 3.17 but crashes at construction: its
``reset_mocap_welds`` writes an 11-value weld (anchor, relative pose, torque scale) into
``model.eq_data``, whose rows are 12 wide in current MuJoCo. :func:`load` replaces it
with one that writes the same 11 values into the first 11 columns and leaves the
model's 12th. ``tests/test_meta_world.py`` checks that and runs Meta-World's own
scripted policies, which must succeed.

Each task is the single-task setting of the pixel-RL papers: the goal is part of the
state (Meta-World's "goal observable" mode), and the object and goal positions are
drawn anew at every reset from the env's seeded generator (a seeded reset gives the
same episode). ``info["success"]`` is Meta-World's success (1.0 or 0.0), the time limit
is its 500 steps, as ``truncated``. Pixels come from ``camera`` (default
:data:`DEFAULT_CAMERA`; the model's cameras: corner, corner2, corner3, corner4,
topview, gripperPOV, behindGripper).
"""

from __future__ import annotations

from importlib import metadata
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

METAWORLD_PREFIX = "metaworld/"
INSTALL_HINT = ("the Meta-World tasks need the optional extra: pip install "
                "'robovision[metaworld]' (metaworld 3.0.0)")
EPISODE_STEPS = 500
"""Meta-World's ``max_path_length``: a step after it raises, so the time limit is this."""
DEFAULT_CAMERA = "corner2"
"""The camera of the pixel-based Meta-World papers (e.g. Masked World Models)."""
WELD_VALUES = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0)
"""What Meta-World 3.0.0 writes into each mocap weld: anchor, relative position and
quaternion, torque scale."""

TASKS: tuple[str, ...] = (
    "assembly-v3", "basketball-v3", "bin-picking-v3", "box-close-v3",
    "button-press-topdown-v3", "button-press-topdown-wall-v3", "button-press-v3",
    "button-press-wall-v3", "coffee-button-v3", "coffee-pull-v3", "coffee-push-v3",
    "dial-turn-v3", "disassemble-v3", "door-close-v3", "door-lock-v3", "door-open-v3",
    "door-unlock-v3", "drawer-close-v3", "drawer-open-v3", "faucet-close-v3",
    "faucet-open-v3", "hammer-v3", "hand-insert-v3", "handle-press-side-v3",
    "handle-press-v3", "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3",
    "peg-insert-side-v3", "peg-unplug-side-v3", "pick-out-of-hole-v3", "pick-place-v3",
    "pick-place-wall-v3", "plate-slide-back-side-v3", "plate-slide-back-v3",
    "plate-slide-side-v3", "plate-slide-v3", "push-back-v3", "push-v3", "push-wall-v3",
    "reach-v3", "reach-wall-v3", "shelf-place-v3", "soccer-v3", "stick-pull-v3",
    "stick-push-v3", "sweep-into-v3", "sweep-v3", "window-close-v3", "window-open-v3")
"""Meta-World 3.0.0's ``ALL_V3_ENVIRONMENTS``, written out so that registering the IDs
imports nothing; ``tests/test_meta_world.py`` checks it against the installed package."""


class MetaWorldNotInstalledError(ImportError):
    """Meta-World is missing or of a version the compatibility layer does not know."""


def load() -> ModuleType:
    """Import Meta-World with its mocap welds made to fit current MuJoCo. Idempotent."""
    try:
        import metaworld
        from metaworld import sawyer_xyz_env
    except ImportError as exc:
        raise MetaWorldNotInstalledError(f"{INSTALL_HINT} ({exc})") from exc
    version = metadata.version("metaworld")
    if version != "3.0.0" or not hasattr(sawyer_xyz_env.SawyerMocapBase, "reset_mocap_welds"):
        raise MetaWorldNotInstalledError(
            f"metaworld {version} is installed; robovision's compatibility layer is written "
            f"for 3.0.0: {INSTALL_HINT}")
    sawyer_xyz_env.SawyerMocapBase.reset_mocap_welds = reset_mocap_welds
    return metaworld


def reset_mocap_welds(env: Any) -> None:
    """Meta-World's weld reset, writing its 11 values into rows that may be wider."""
    import mujoco

    model = env.model
    if model.nmocap == 0 or model.eq_data is None:
        return
    for row, kind in enumerate(model.eq_type):
        if int(kind) == int(mujoco.mjtEq.mjEQ_WELD):
            model.eq_data[row, :len(WELD_VALUES)] = WELD_VALUES


def make(task: str, camera_id: int | None = None, camera_name: str | None = None,
         render_mode: str | None = None, width: int = 480, height: int = 480,
         **kwargs: Any) -> gym.Env:
    """One Meta-World task, goal observable, positions drawn anew at each reset."""
    load()
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    env = ALL_V3_ENVIRONMENTS[task](render_mode=render_mode, width=width, height=height,
                                    **kwargs)
    from robovision.wrappers.pixels import use_model_camera

    camera = next((c for c in (camera_name, camera_id) if c is not None), DEFAULT_CAMERA)
    use_model_camera(env, camera, f"{METAWORLD_PREFIX}{task}")
    env._partially_observable = False  # the goal is part of the state, and its bounds
    del env.sawyer_observation_space  # (a cached property) are the goal space's, for the
    env.observation_space = env.sawyer_observation_space  # space and the clip in step
    env._freeze_rand_vec = False  # new object and goal positions at every reset ...
    env.seeded_rand_vec = True  # ... drawn from the env's seeded generator
    env._set_task_called = True  # no MT1 task list: the env draws its own
    return MetaWorldTask(env)


class MetaWorldTask(gym.Wrapper):
    """Seeded resets (Meta-World's own reset ignores its seed), float32 observations and
    ``info["success"]`` as 1.0 or 0.0."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        self.observation_space = spaces.Box(space.low.astype(np.float32),
                                            space.high.astype(np.float32), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.env.unwrapped.seed(seed)
        obs, info = self.env.reset(options=options)
        return obs.astype(np.float32), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        info["success"] = float(info.get("success", 0.0))
        return obs.astype(np.float32), float(reward), terminated, truncated, info
