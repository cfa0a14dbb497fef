"""Each MuJoCo renderer draws in, and frees from, its own GL context.

A process may hold several MuJoCo envs that render (a training env and its evaluation
env, envs of several tasks, a video renderer), each with its own GL context, and only
one context is current per thread. Three renderers assume theirs stays current:

- gymnasium's ``MujocoRenderer`` makes a viewer's context current only when it builds
  the viewer. Under EGL, making or freeing any other context releases it, and the env's
  later frames are drawn in another context, with that one's textures and settings.
- dm_control remembers which of its contexts it made current on its render thread and
  skips making it current again, so after another renderer changed the current context
  its frames lose their textures.
- ``MjrContext`` objects are freed (``close``, or the garbage collector after it) in
  whichever context is current: GL names are per context, so they delete another
  renderer's textures and framebuffers, whose frames turn black.

Each renderer here makes its own context current before a frame and before freeing;
that costs 5-7 µs of a 2 ms frame (BENCHMARKS.md, section 18). GL libraries load only
when a renderer is made (``order_triton_and_gl`` in ``robovision.runtime`` says why the
order matters), so the classes are defined on first use.
"""

from __future__ import annotations

import atexit
import weakref
from typing import Any

import gymnasium as gym

_CLASSES: dict[str, type] = {}
_OPEN_RENDERERS: weakref.WeakSet = weakref.WeakSet()
"""Renderers with a GL context, closed at exit if nothing closed them before."""
_DM_CONTROL_CONTEXTS: weakref.WeakSet = weakref.WeakSet()
"""dm_control GL contexts that rendered a frame here, freed at exit if still open."""


def render_in_own_gl_context(env: gym.Env) -> None:
    """Give a gymnasium MuJoCo env a renderer that makes its context current for each
    frame and frees its GL objects in it on close (a renderer of the env's own, or
    none, is left as it is)."""
    renderer = getattr(env.unwrapped, "mujoco_renderer", None)
    if renderer is None:
        return
    own = own_context_gymnasium_renderer()
    if type(renderer) in (own, own.__base__):
        renderer.__class__ = own  # the same state, two methods changed: nothing to copy


def own_context_gymnasium_renderer() -> type:
    """gymnasium's ``MujocoRenderer`` with its GL context current for each frame and
    for freeing."""
    if "gymnasium" not in _CLASSES:
        from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

        class OwnContextMujocoRenderer(MujocoRenderer):
            def _get_viewer(self, render_mode: str | None) -> Any:
                first = render_mode not in self._viewers
                viewer = super()._get_viewer(render_mode)
                if first:
                    _close_at_exit(self)
                viewer.make_context_current()
                return viewer

            def close(self) -> None:
                for viewer in self._viewers.values():
                    viewer.make_context_current()
                    viewer.con.free()
                super().close()
                self._viewers.clear()  # a later render() builds a new viewer
                self.viewer = None

        _CLASSES["gymnasium"] = OwnContextMujocoRenderer
    return _CLASSES["gymnasium"]


def mujoco_renderer(model: Any, height: int, width: int) -> Any:
    """A ``mujoco.Renderer`` (which makes its context current for each frame) that
    also frees its ``MjrContext`` with its own context current, on ``close`` and when
    collected."""
    if "mujoco" not in _CLASSES:
        import mujoco

        class OwnContextRenderer(mujoco.Renderer):
            def close(self) -> None:
                if getattr(self, "_mjr_context", None) and self._gl_context:
                    self._gl_context.make_current()
                super().close()

        _CLASSES["mujoco"] = OwnContextRenderer
    renderer = _CLASSES["mujoco"](model, height, width)
    _close_at_exit(renderer)
    return renderer


def make_dm_control_context_current(physics: Any) -> None:
    """Make a dm_control physics' GL context current on its render thread, even where
    dm_control believes it still is."""
    gl = physics.contexts.gl
    with gl.make_current() as ctx:
        ctx.call(gl._platform_make_current)
    if gl not in _DM_CONTROL_CONTEXTS:
        _DM_CONTROL_CONTEXTS.add(gl)
        _run_exit_hook_first()  # before the exit handlers dm_control registered with it


def close_dm_control_env(env: Any) -> None:
    """Close a dm_control environment with its GL context current (if it has one), so
    that its ``MjrContext`` is freed in that context."""
    physics = env.physics
    if getattr(physics, "_contexts", None) is not None:
        make_dm_control_context_current(physics)
    env.close()


def _close_at_exit(renderer: Any) -> None:
    """Close ``renderer`` at exit unless something closes it first."""
    _OPEN_RENDERERS.add(renderer)
    _run_exit_hook_first()


def _run_exit_hook_first() -> None:
    """Move the exit hook to the front of the exit handlers registered so far.

    ``mujoco.egl`` and dm_control each terminate the one EGL display at exit (registered
    when their first context is made), and dm_control frees each of its contexts at exit
    too; a context freed after a terminate raises an ``EGLError``. Registered again after
    each new renderer, this hook runs before all of them, and frees every renderer and
    dm_control context still open, each in its own context."""
    atexit.unregister(_close_open_renderers)
    atexit.register(_close_open_renderers)


def _close_open_renderers() -> None:
    for renderer in list(_OPEN_RENDERERS):
        renderer.close()
    for gl in list(_DM_CONTROL_CONTEXTS):
        gl._free_unconditionally()  # what dm_control's own exit handler calls, earlier
