"""``make_env``: the one place where environments are created and wrapped.

Wrapper order, fixed here and nowhere else::

    base env -> RescaleAction([-1, 1]) -> RepeatAction(k)
             -> PixelObservation (render, resize, uint8 CHW; dict with state+pixels)
             -> FrameStack(k)

Frames are rendered once per agent step, after the repeated actions.
"""

from __future__ import annotations

import difflib
import os
import sys
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robovision.runtime import order_triton_and_gl

if TYPE_CHECKING:
    from robovision.config import Config

OBS_KINDS = ("state", "pixels", "state+pixels")
RENDER_BACKENDS = ("auto", "egl", "osmesa")

# Action repeat per dm_control domain in the PlaNet setting, the convention of the
# published DMC pixel tables (PlaNet, SAC-AE, CURL, DrQ). DrQ-v2 uses 2 everywhere.
PLANET_ACTION_REPEAT = {"cartpole": 8, "finger": 2, "walker": 2, "cheetah": 4, "reacher": 4,
                        "ball_in_cup": 4}
DEFAULT_PIXEL_ACTION_REPEAT = 2


class UnknownEnvError(ValueError):
    """An env spec that is neither a registered gymnasium ID nor a dm_control task."""


def _ensure_registered() -> None:
    import robovision.envs  # noqa: F401  (registers dmc/* ids on import)


def available_specs() -> list[str]:
    """Every spec ``make_env`` accepts: gymnasium IDs, ``dmc/<domain>-<task>`` and
    ``manip/<task>``."""
    _ensure_registered()
    return sorted(gym.registry)


MJCF_PREFIX = "mjcf:"


def is_factory(spec: str) -> bool:
    """``module:factory`` or ``path/to/file.py:factory`` (a callable returning an env),
    as opposed to a registered ID or gymnasium's own ``module:EnvID`` form."""
    if spec.startswith(MJCF_PREFIX) or ":" not in spec or spec in gym.registry:
        return False
    return spec.rpartition(":")[2] not in gym.registry


def check_spec(spec: str) -> None:
    _ensure_registered()
    if spec in gym.registry or spec.startswith(MJCF_PREFIX) or ":" in spec:
        return  # an MJCF file or a factory is checked when it is built
    close = difflib.get_close_matches(spec, list(gym.registry), n=5, cutoff=0.5)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise UnknownEnvError(
        f"unknown env spec '{spec}'.{hint} `robovision envs` lists all; dm_control tasks are "
        "'dmc/<domain>-<task>' (e.g. dmc/cheetah-run).")


def default_action_repeat(spec: str, obs: str) -> int:
    """1 for state; for pixels the PlaNet per-domain setting (2 for unlisted tasks)."""
    if obs == "state":
        return 1
    if spec.startswith("dmc/"):
        domain = spec[4:].rsplit("-", 1)[0]
        return PLANET_ACTION_REPEAT.get(domain, DEFAULT_PIXEL_ACTION_REPEAT)
    return 1


def select_render_backend(backend: str) -> None:
    """Set ``MUJOCO_GL`` unless a different backend is already in use."""
    if backend not in RENDER_BACKENDS:
        raise ValueError(f"render_backend='{backend}' is not one of {RENDER_BACKENDS}")
    current = os.environ.get("MUJOCO_GL")
    if backend == "auto":  # robovision/__init__.py set the default on import
        return
    if current and current != backend and "dm_control._render" in sys.modules:
        raise ValueError(f"render_backend='{backend}' but MUJOCO_GL={current} is already in "
                         "use in this process; set MUJOCO_GL before the first env is created")
    os.environ["MUJOCO_GL"] = backend


def make_env(spec: str, *, obs: str = "state", seed: int | None = None, image_size: int = 84,
             frame_stack: int = 3, action_repeat: int | None = None,
             camera: int | str | list[int | str] | None = None, grayscale: bool = False,
             render_backend: str = "auto", fast_render: bool = True,
             normalize_action: bool = True, render_mode: str | None = None,
             frames: Any = None, camera_views: str = "channels",
             **options: Any) -> gym.Env:
    """Create an environment by spec.

    Args:
        spec: a gymnasium ID (``HalfCheetah-v5``, ``Pendulum-v1``, user-registered)
            or ``dmc/<domain>-<task>``.
        obs: ``"state"``, ``"pixels"`` (uint8 ``(3*frame_stack, size, size)``) or
            ``"state+pixels"`` (a dict with ``pixels`` and ``state``).
        seed: seeds the first reset and the action space.
        image_size: square frame size in pixels.
        frame_stack: frames stacked along channels (pixel observations).
        action_repeat: ``None`` picks :func:`default_action_repeat`.
        camera: camera index or name (dm_control: default 0; gymnasium MuJoCo: the
            env's default camera), or a list of them, rendered each step and stacked
            along channels (dm_control tasks and ``mjcf:`` scenes).
        grayscale: one channel per frame instead of RGB.
        render_backend: ``auto`` (``MUJOCO_GL`` or EGL), ``egl`` or ``osmesa``.
        fast_render: shadows and multisampling off (about 6x faster frames on a CPU).
        normalize_action: rescale a bounded Box action space to ``[-1, 1]``.
        render_mode: passed to the env (``"rgb_array"`` for videos of state envs).
        frames: a frame source for the pixels instead of the env's camera: a callable
            ``source(env) -> HxWx3 uint8``, ``module:function``, ``folder:PATH`` or
            ``video:PATH`` (:mod:`robovision.envs.frames`). An env whose observation
            already is an image needs none.
        camera_views: several cameras stacked along ``channels`` (one image) or as a
            ``dict`` of one image per camera name (for a per-view encoder).
        options: extra keyword arguments for the env constructor.
    """
    if obs not in OBS_KINDS:
        raise ValueError(f"obs='{obs}' is not one of {OBS_KINDS}")
    check_spec(spec)
    pixels = obs != "state"
    if pixels:
        select_render_backend(render_backend)
        order_triton_and_gl()  # before a renderer loads GL (runtime.py says why)
    cameras = list(camera) if isinstance(camera, list | tuple) else None
    if cameras is not None and len(cameras) < 2:
        camera, cameras = (cameras[0] if cameras else None), None
    env = _make_base(spec, pixels and frames is None, image_size,
                     cameras[0] if cameras else camera, render_mode, options)
    from robovision.wrappers.gl_context import render_in_own_gl_context

    render_in_own_gl_context(env)
    if normalize_action and _bounded_box(env.action_space):
        shape = env.action_space.shape
        env = gym.wrappers.RescaleAction(env, np.full(shape, -1, np.float32),
                                         np.full(shape, 1, np.float32))
    repeat = default_action_repeat(spec, obs) if action_repeat is None else action_repeat
    if repeat > 1:
        env = gym.wrappers.RepeatAction(env, repeat)
    if pixels:
        from robovision.wrappers import FrameStack, PixelObservation
        from robovision.wrappers.pixels import apply_fast_render

        if fast_render:
            apply_fast_render(env)
        env = PixelObservation(env, image_size,
                               cameras or (camera if is_dm_control(spec) else None),
                               grayscale, keep_state=obs == "state+pixels", frames=frames,
                               views=camera_views, fast_render=fast_render)
        if frame_stack > 1:
            keys = env.view_names or ("pixels" if obs == "state+pixels" else None)
            env = FrameStack(env, frame_stack, key=keys)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def action_repeat_of(env: gym.Env) -> int:
    """The action repeat ``make_env`` applied (1 if none)."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.RepeatAction):
            return env.num_repeats
        env = env.env
    return 1


def is_dm_control(spec: str) -> bool:
    """Whether ``spec`` is served by the dm_control adapter (suite tasks and custom
    tasks registered with ``DMCEnv``): it renders through ``physics.render``."""
    if spec.startswith(("dmc/", "manip/")):
        return True
    entry = gym.registry[spec].entry_point if spec in gym.registry else None
    return entry == "robovision.envs.dmc:DMCEnv"


def _make_from_file_or_factory(spec: str, pixels: bool, size: int, camera, render_mode,
                               options: dict) -> gym.Env:
    """``mjcf:scene.xml`` (:class:`robovision.envs.MJCFEnv`) or ``module:factory``."""
    from robovision.envs.mjcf import MJCFEnv, load_callable

    mode = "rgb_array" if pixels else render_mode
    if spec.startswith(MJCF_PREFIX):
        sized = {"width": size, "height": size} if pixels else {}
        return MJCFEnv(spec[len(MJCF_PREFIX):], camera=camera, render_mode=mode,
                       **sized, **options)
    factory = load_callable(spec, f"env.spec {spec}")
    env = factory(**options, **({"render_mode": mode} if mode else {}))
    if not isinstance(env, gym.Env):
        raise UnknownEnvError(f"env.spec {spec}: the factory returned {type(env).__name__}, "
                              "not a gymnasium.Env")
    return env


def _make_base(spec: str, pixels: bool, size: int, camera, render_mode, options) -> gym.Env:
    if spec.startswith(MJCF_PREFIX) or is_factory(spec):
        return _make_from_file_or_factory(spec, pixels, size, camera, render_mode, options)
    options = dict(options)
    if render_mode is not None:  # envs without rendering need not accept the argument
        options["render_mode"] = render_mode
    if spec.startswith("manip/"):  # the variant (features or vision) follows obs
        options["obs"] = "pixels" if pixels else "state"
    if not pixels or is_dm_control(spec):
        return gym.make(spec, **options)
    return _make_gym_to_render(spec, size, camera, options)


def _make_gym_to_render(spec: str, size: int, camera, options: dict) -> gym.Env:
    """A gymnasium env that renders frames: at the target size and camera where it
    accepts them (gymnasium's MuJoCo envs), else at its own size; an env that cannot
    render but observes an image is taken as it is."""
    options["render_mode"] = "rgb_array"
    sized = {"width": size, "height": size}
    if camera is not None:
        sized["camera_name" if isinstance(camera, str) else "camera_id"] = camera
    try:
        return gym.make(spec, **options, **sized)
    except TypeError:
        if camera is not None:
            raise ValueError(f"{spec} does not accept a camera argument") from None
    try:
        return gym.make(spec, **options)
    except TypeError as exc:
        if "render_mode" not in str(exc):
            raise
        from robovision.wrappers.pixels import RenderError, cannot_render, is_frame_space

        del options["render_mode"]  # an env whose observation is the image renders nothing
        env = gym.make(spec, **options)
        if not is_frame_space(env.observation_space):
            env.close()
            raise RenderError(cannot_render(spec)) from exc
        return env


def _bounded_box(space: spaces.Space) -> bool:
    return (isinstance(space, spaces.Box) and bool(np.all(np.isfinite(space.low)))
            and bool(np.all(np.isfinite(space.high)))
            and not (np.all(space.low == -1) and np.all(space.high == 1)))


def build_env(cfg: Config, seed: int | None, render_mode: str | None = None,
              evaluation: bool = False) -> gym.Env:
    """The env of a run's config as ``make_env`` builds it, or with ``evaluation`` the env
    with ``env.eval_options`` applied (evaluation rewards are never normalised). Here,
    not in the factory, so that an env worker process builds it without importing torch
    (about 300 MB less in each)."""
    e = cfg.env
    options = {**e.options, **e.eval_options} if evaluation else e.options
    pixel_options = {}
    if e.obs != "state":
        pixel_options = {"image_size": e.image_size, "frame_stack": e.frame_stack,
                         "camera": (None if not e.camera else e.camera[0]
                                    if len(e.camera) == 1 else list(e.camera)),
                         "grayscale": e.grayscale, "render_backend": e.render_backend,
                         "frames": e.frames or None, "camera_views": e.camera_views,
                         "fast_render": e.fast_render}
    return make_env(e.spec, obs=e.obs, seed=seed, render_mode=render_mode,
                    action_repeat=e.action_repeat if e.action_repeat > 0 else None,
                    **pixel_options, **options)
