"""Process-level runtime settings."""

import os
import subprocess
import sys

import pytest

from robovision.runtime import tune_allocator


def _printed_by_fresh_python(code: str) -> list[str]:
    """The words ``code`` prints in a new interpreter that renders through EGL (a crash,
    such as the segfault a GL/triton clash gives, fails with its exit code)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "MUJOCO_GL": "egl"})
    assert result.returncode == 0, (result.returncode, result.stderr[-1500:])
    return result.stdout.split()


def test_tune_allocator_reports_success_on_linux():
    assert tune_allocator() is sys.platform.startswith("linux")


ANY_ORDER = """
import sys
from dm_control import suite
suite.load("cheetah", "run").physics.render(32, 32)   # GL first (Mesa's: its LLVM too)
from robovision.runtime import llvm_loaded
mesa = llvm_loaded()
import robovision
import torch
from robovision import factory
from robovision.config import load_config
env = robovision.make_env("dmc/cheetah-run", obs="pixels", image_size=32)
obs, _ = env.reset(seed=0)
cfg = load_config("cheetah_run_pixels_sac", ["env.image_size=32", "agent.hidden=16,16"])
agent = factory.build_agent(cfg, env.observation_space, env.action_space, torch.device("cpu"))
print(mesa, sys.modules.get("triton") is None, agent.act(obs).shape)
"""


def test_rendering_before_importing_robovision_does_not_crash():
    """dm_control rendering before robovision used to segfault the process when torch
    loaded triton (its LLVM clashes with Mesa's) for the first fused optimiser. Where GL
    is Mesa's, triton is kept out; on an NVIDIA machine EGL is the driver's and triton
    stays available (the H200 run found this test assuming Mesa)."""
    mesa, kept_out, *action_shape = _printed_by_fresh_python(ANY_ORDER)
    assert kept_out == mesa  # triton kept out of this process exactly when Mesa's LLVM is in
    assert action_shape == ["(6,)"]


@pytest.mark.parametrize("gl_first", [False, True])
def test_triton_is_loaded_before_gl_or_kept_out(gl_first):
    """robovision first: triton loads before GL, when an env is made. GL first: triton is
    kept out where GL brought Mesa's LLVM, and loads beside NVIDIA's EGL (no LLVM)."""
    import importlib.metadata

    # Asked of the installed packages, not of this process, where robovision may have kept
    # triton out (a mutant that always kept it out made this test skip instead of fail).
    installed = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    if not installed & {"triton", "pytorch-triton"}:
        pytest.skip("this torch ships no triton")
    first = "from dm_control import suite\n" if gl_first else ""
    code = (f"{first}import sys\nfrom robovision.runtime import llvm_loaded\n"
            "mesa = llvm_loaded()\n"
            "at_import = sys.modules.get('triton') is not None  # the import stays light\n"
            "import robovision\n"
            "robovision.make_env('dmc/cartpole-balance', obs='pixels', image_size=16)\n"
            "print(at_import, 'blocked' if sys.modules['triton'] is None else 'loaded', mesa)")
    at_import, triton, mesa = _printed_by_fresh_python(code)
    assert at_import == "False"
    assert triton == ("blocked" if mesa == "True" else "loaded")
    if not gl_first:
        assert mesa == "False"  # nothing has loaded GL yet


def test_llvm_is_found_only_once_gl_brings_it_and_never_from_an_unreadable_map(monkeypatch):
    """A fresh interpreter has no libLLVM mapped; rendering through Mesa maps it (through
    NVIDIA's EGL it does not, and the check says so either way)."""
    import builtins

    from robovision import runtime

    code = ("from robovision.runtime import llvm_loaded\n"
            "before = llvm_loaded()\n"
            "from dm_control import suite\n"
            "suite.load('cartpole', 'balance').physics.render(16, 16)\n"
            "mapped = 'libLLVM' in open('/proc/self/maps').read()\n"
            "print(before, llvm_loaded() == mapped)")
    assert _printed_by_fresh_python(code) == ["False", "True"]

    def unreadable(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(builtins, "open", unreadable)
    assert runtime.llvm_loaded() is False


def test_triton_already_imported_or_kept_out_is_reported_as_it_is(monkeypatch):
    import types

    from robovision.runtime import order_triton_and_gl

    monkeypatch.setitem(sys.modules, "triton", types.ModuleType("triton"))
    assert order_triton_and_gl() == "loaded"
    monkeypatch.setitem(sys.modules, "triton", None)
    assert order_triton_and_gl() == "blocked"
