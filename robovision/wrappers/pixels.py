"""Camera frames as observations: render, resize (OpenCV), uint8 channels-first.

Works for dm_control tasks (a camera that lives as long as the env), gymnasium MuJoCo
envs (their own renderer, made at the target size by ``make_env``) and any env whose
``render()`` returns an ``rgb_array`` frame.
"""

from __future__ import annotations

import warnings
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robovision.wrappers.gl_context import (
    make_dm_control_context_current,
    own_context_gymnasium_renderer,
)

GL_HELP = ("Headless MuJoCo rendering needs an OpenGL backend: install the Debian packages "
           "libegl1 libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa), e.g. `sudo apt-get install "
           "libegl1 libgl1-mesa-dri libosmesa6`, and set MUJOCO_GL=egl or MUJOCO_GL=osmesa "
           "(render_backend=egl|osmesa) before the first env is created.")


class RenderError(RuntimeError):
    """The env cannot produce camera frames; the message says how to fix it."""


def cannot_render(name: str) -> str:
    return (f"{name} cannot render rgb_array frames; pixel observations need an env that "
            "accepts render_mode='rgb_array' (listed in its metadata['render_modes']) and "
            "returns an HxWx3 uint8 array from render(). Add that to your env, or wrap it so "
            "render() returns the camera image.")


def mujoco_model(env: gym.Env) -> Any | None:
    """The MuJoCo model under ``env`` (dm_control's wrapper or ``mujoco.MjModel``), or None."""
    base = env.unwrapped
    if hasattr(base, "physics"):  # dm_control adapter
        return base.physics.model
    return getattr(base, "model", None)  # gymnasium MujocoEnv


def camera_names(env: gym.Env) -> list[str]:
    model = mujoco_model(env)
    return [] if model is None else model_camera_names(model)


def model_camera_names(model: Any) -> list[str]:
    """The cameras of a MuJoCo model (dm_control's wrapper or ``mujoco.MjModel``)."""
    import mujoco

    raw = model.ptr if hasattr(model, "ptr") else model
    return [mujoco.mj_id2name(raw, mujoco.mjtObj.mjOBJ_CAMERA, i) or str(i)
            for i in range(raw.ncam)]


def camera_index(camera: int | str, names: list[str], where: str,
                 error: type[Exception] = ValueError) -> int:
    """The index of ``camera`` (a name, or an index; -1 is the free camera) among
    ``names``, or ``error`` naming the cameras of ``where``."""
    if isinstance(camera, str) and not camera.lstrip("-").isdigit():
        if camera not in names:
            raise error(f"camera '{camera}' does not exist in {where}; cameras: {names} (or "
                        "an index, -1 for the free camera)")
        return names.index(camera)
    index = int(camera)
    if not -1 <= index < len(names):
        raise error(f"camera {index} out of range in {where}; cameras: {names} (-1: the free "
                    "camera)")
    return index


def use_model_camera(env: Any, camera: int | str, where: str) -> None:
    """Render a gymnasium ``MujocoEnv``-style env (``model``, ``data``, ``width``,
    ``height``, ``mujoco_renderer``) through one of its model's cameras, by name or
    index; an unknown one is an error that lists the model's cameras."""
    index = camera_index(camera, model_camera_names(env.model), where)
    env.mujoco_renderer.close()
    env.mujoco_renderer = own_context_gymnasium_renderer()(
        env.model, env.data, width=env.width, height=env.height, camera_id=index)


def apply_fast_render(env: gym.Env) -> None:
    """Shadows and multisampling off (set before the render context exists); nothing to
    do for an env that is not MuJoCo-based."""
    model = mujoco_model(env)
    if model is not None:
        fast_render_model(model)


def fast_render_model(model: Any) -> None:
    """Shadows and multisampling off in a MuJoCo model (dm_control's wrapper or
    ``mujoco.MjModel``)."""
    model.light_castshadow[:] = 0
    model.vis.quality.offsamples = 0


def is_frame_space(space: spaces.Space) -> bool:
    """An HxWxC or CxHxW uint8 Box with 1, 3 or 4 channels: an image observation."""
    return (isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3
            and (space.shape[-1] in (1, 3, 4) or space.shape[0] in (1, 3, 4)))


def resolve_camera(env: gym.Env, camera: int | str | None) -> int:
    """Camera id for dm_control's ``physics.render``; names are checked against the model."""
    names = camera_names(env)
    if camera is None:
        return 0 if names else -1
    return camera_index(camera, names, env.spec.id if env.spec else str(env))


class PixelObservation(gym.ObservationWrapper):
    """Replace (or, with ``keep_state``, extend) the observation with a camera frame.

    Observation: ``uint8 (C, size, size)``, or ``{"pixels": ..., "state": float32}``.

    dm_control tasks render through one ``dm_control.mujoco.Camera`` kept for the
    env's life: ``physics.render`` builds a new camera and ``MjvScene`` on every call,
    which cost as much as the rest of a cheetah pixel step on a CPU. The frames are
    the same (the same camera code renders them; a test compares them).
    """

    PERSISTENT_CAMERA = True
    """Reuse one camera per env (False: ``physics.render`` per frame, for benchmarks)."""

    def __init__(self, env: gym.Env, size: int = 84,
                 camera: int | str | list[int | str] | None = None, grayscale: bool = False,
                 keep_state: bool = False, frames: Any = None, views: str = "channels",
                 fast_render: bool = False) -> None:
        """``camera``: one camera, or a list whose frames are stacked along channels
        (dm_control tasks and ``mjcf:`` scenes: named cameras of one model).
        ``frames``: a frame source instead of the env's camera
        (:mod:`robovision.envs.frames`); an env whose observation already is an image
        needs neither: that image is the frame. ``views``: several cameras stacked
        along ``channels``, or as a ``dict`` of one image per camera name."""
        super().__init__(env)
        from robovision.envs.frames import frame_source

        self._source = frame_source(frames)
        self._image_obs = self._source is None and is_frame_space(env.observation_space)
        self.size, self.grayscale, self.keep_state = size, grayscale, keep_state
        base = env.unwrapped
        cameras = list(camera) if isinstance(camera, list | tuple) else [camera]
        self._dmc = hasattr(base, "physics")
        self._dmc_cameras: dict[int, Any] = {}
        self._dmc_camera_physics: Any = None
        self._said: set[str] = set()
        self._camera_ids: list[int] | None = None
        self._last_obs: Any = None
        self._fast_render = fast_render
        name = env.spec.id if env.spec else type(base).__name__
        cameras = self._resolve_cameras(cameras, name)
        self.view_names: list[str] | None = None
        if views == "dict" and self._camera_ids is not None and len(cameras) > 1:
            self.view_names = [str(c) for c in cameras]
            if "state" in self.view_names or len(set(self.view_names)) < len(cameras):
                raise RenderError(f"{name}: camera views need distinct names other than "
                                  f"'state', got {self.view_names}")
        elif views not in ("channels", "dict"):
            raise ValueError(f"camera views '{views}' is not 'channels' or 'dict'")
        self.observation_space = self._space(len(cameras))

    def _resolve_cameras(self, cameras: list, name: str) -> list:
        """Check that the frames can be made, and set the camera ids to render (None: the
        env's own render or frame source); returns the cameras, one entry per image."""
        base = self.env.unwrapped
        if self._source is not None or self._image_obs:
            if self.keep_state and self._image_obs:
                raise RenderError(f"{name}: its observation is an image, there is no state to "
                                  "keep: use obs=pixels")
            return [None]
        if self._dmc:
            self._camera_ids = [resolve_camera(self.env, c) for c in cameras]
        elif len(cameras) > 1:
            if not hasattr(base, "render_camera"):
                raise RenderError(f"{name}: several cameras ({cameras}) need a dm_control task "
                                  "or an mjcf: scene, whose cameras robovision renders by name")
            self._camera_ids = [base.camera_index(c) for c in cameras]
        elif self.env.render_mode != "rgb_array":
            raise RenderError(cannot_render(name))
        return cameras

    def _space(self, n_cameras: int) -> spaces.Space:
        """The observation space: an image with the cameras along channels, or one image
        per camera name; with the env's state beside it when it is kept."""
        grey = 1 if self.grayscale else 3
        state = {"state": self.env.observation_space} if self.keep_state else {}
        if self.view_names:
            image = spaces.Box(0, 255, (grey, self.size, self.size), np.uint8)
            return spaces.Dict({**{view: image for view in self.view_names}, **state})
        pixels = spaces.Box(0, 255, (grey * n_cameras, self.size, self.size), np.uint8)
        return spaces.Dict({"pixels": pixels, **state}) if state else pixels

    def reset(self, *, seed=None, options=None):
        if self._source is not None and hasattr(self._source, "reset"):
            self._source.reset(seed)
        return super().reset(seed=seed, options=options)

    def render_frame(self, obs: Any = None) -> np.ndarray:
        """The observation's image: ``(C, size, size)`` uint8, cameras along channels."""
        if self._image_obs:
            return self._finish(self._as_hwc_rgb(obs if obs is not None else self._last_obs))
        if self._camera_ids is None:
            return self._frame_chw(None)
        return np.concatenate([self._frame_chw(c) for c in self._camera_ids], axis=0)

    def _frame_chw(self, camera_id: int | None) -> np.ndarray:
        try:
            if self._source is not None:
                frame = self._source(self.env.unwrapped)
            elif self._dmc:
                frame = self._render_dm_control(camera_id)
            elif camera_id is not None:
                frame = self.env.unwrapped.render_camera(camera_id)
            else:
                frame = self.env.render()
        except gym.error.DependencyNotInstalled as exc:  # e.g. pygame for classic control
            raise RenderError(f"{self._name()} cannot render: {exc}") from exc
        except Exception as exc:  # GL failures surface as many exception types
            text = f"{type(exc).__name__}: {exc}"
            if any(k in text for k in ("EGL", "OSMesa", "GL", "gl", "display", "DISPLAY")):
                raise RenderError(f"rendering failed ({text[:300]}). {GL_HELP}") from exc
            raise
        return self._finish(self._as_hwc_rgb(frame))

    def _finish(self, frame: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 -> resized (OpenCV), optionally grey, channels first."""
        if frame.shape[:2] != (self.size, self.size):
            frame = cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.grayscale:
            frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]
        return np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.uint8)

    def _as_hwc_rgb(self, frame: Any) -> np.ndarray:
        """Check a rendered frame and bring it to HxWx3 uint8, saying once what was done;
        anything that cannot be a camera image is an error, never a silent conversion."""
        name = self._name()
        if not isinstance(frame, np.ndarray) or frame.ndim != 3:
            shape = getattr(frame, "shape", None)
            raise RenderError(f"{name}: render() returned {type(frame).__name__} of shape "
                              f"{shape}, expected an HxWx3 uint8 array")
        if frame.dtype != np.uint8:
            raise RenderError(f"{name}: render() returned {frame.dtype} frames, expected uint8 "
                              "RGB in 0..255 (convert with (frame * 255).astype(np.uint8) if "
                              "yours are floats in 0..1)")
        if frame.shape[-1] == 1 or (frame.shape[0] == 1 and frame.shape[-1] not in (3, 4)):
            self._say_once(f"{name}: grey frames {frame.shape} are repeated to RGB (set "
                           "grayscale=true to keep one channel)")
            grey = frame if frame.shape[-1] == 1 else frame.transpose(1, 2, 0)
            return np.repeat(grey, 3, axis=2)
        if frame.shape[-1] in (3, 4):
            if frame.shape[-1] == 4:
                self._say_once(f"{name}: render() returned RGBA frames; the alpha channel is "
                               "dropped")
                frame = frame[..., :3]
            return frame
        if frame.shape[0] in (3, 4):
            self._say_once(f"{name}: render() returned channels-first frames {frame.shape}; "
                           "they are transposed to HxWx3 (RGB order kept)")
            return np.ascontiguousarray(frame[:3].transpose(1, 2, 0))
        raise RenderError(f"{name}: render() returned frames of shape {frame.shape}; expected "
                          "HxWx3 (RGB) or 3xHxW")

    def _name(self) -> str:
        return self.env.spec.id if self.env.spec else type(self.env.unwrapped).__name__

    def _say_once(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            warnings.warn(message, RuntimeWarning, stacklevel=4)

    def _render_dm_control(self, camera_id: int) -> np.ndarray:
        physics = self.env.unwrapped.physics
        make_dm_control_context_current(physics)
        if not self.PERSISTENT_CAMERA:
            return physics.render(self.size, self.size, camera_id=camera_id)
        if self._dmc_camera_physics is not physics:
            self._free_camera()  # a task that rebuilt its physics gets new cameras
            if self._fast_render:  # and its new model the fast settings, before any context
                fast_render_model(physics.model)
            self._dmc_camera_physics = physics
        if camera_id not in self._dmc_cameras:
            from dm_control.mujoco.engine import Camera

            self._dmc_cameras[camera_id] = Camera(physics, self.size, self.size,
                                                  camera_id=camera_id)
        return self._dmc_cameras[camera_id].render()

    def _free_camera(self) -> None:
        for camera in self._dmc_cameras.values():
            camera._scene.free()  # as physics.render does after each frame
        self._dmc_cameras.clear()
        self._dmc_camera_physics = None

    def close(self) -> None:
        self._free_camera()
        super().close()

    def observation(self, obs):
        self._last_obs = obs
        if self.view_names:
            frames = {view: self._frame_chw(c) for view, c in
                      zip(self.view_names, self._camera_ids, strict=True)}
            if self.keep_state:
                frames["state"] = np.asarray(obs, dtype=np.float32)
            return frames
        frame = self.render_frame(obs if self._image_obs else None)
        if self.keep_state:
            return {"pixels": frame, "state": np.asarray(obs, dtype=np.float32)}
        return frame


def pixel_wrapper(env: gym.Env) -> PixelObservation | None:
    """The :class:`PixelObservation` in ``env``'s wrapper chain, or None."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, PixelObservation):
            return env
        env = env.env
    return None
