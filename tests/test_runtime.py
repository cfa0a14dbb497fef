"""Process-level runtime settings."""

import sys

import pytest

from robovision.runtime import tune_allocator


def test_tune_allocator_reports_success_on_linux():
    assert tune_allocator() is sys.platform.startswith("linux")


ANY_ORDER = """
import sys
from dm_control import suite
suite.load("cheetah", "run").physics.render(32, 32)   # Mesa's GL (and its LLVM) first
import robovision
import torch
from robovision import factory
from robovision.config import load_config
env = robovision.make_env("dmc/cheetah-run", obs="pixels", image_size=32)
obs, _ = env.reset(seed=0)
cfg = load_config("cheetah_run_pixels_sac", ["env.image_size=32", "agent.hidden=16,16"])
agent = factory.build_agent(cfg, env.observation_space, env.action_space, torch.device("cpu"))
print(sys.modules.get("triton") is None, agent.act(obs).shape)
"""


def test_rendering_before_importing_robovision_does_not_crash():
    """dm_control rendering before robovision used to segfault the process when torch
    loaded triton (its LLVM clashes with Mesa's) for the first fused optimiser."""
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", ANY_ORDER], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "MUJOCO_GL": "egl"})
    assert result.returncode == 0, (result.returncode, result.stderr[-1500:])
    assert result.stdout.split()[0] == "True"  # triton was kept out of this process
    assert "(6,)" in result.stdout


@pytest.mark.parametrize(("first", "expected"), [
    ("", "False loaded"),  # robovision first: triton loads before GL, when an env is made
    ("from dm_control import suite", "False blocked")])  # GL first: triton is kept out
def test_triton_is_loaded_before_gl_or_kept_out(first, expected):
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("triton") is None:
        pytest.skip("this torch ships no triton")
    code = (f"{first}\nimport sys, robovision\n"
            "at_import = sys.modules.get('triton') is not None  # the import stays light\n"
            "robovision.make_env('dmc/cartpole-balance', obs='pixels', image_size=16)\n"
            "print(at_import, 'blocked' if sys.modules['triton'] is None else 'loaded')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "MUJOCO_GL": "egl"}).stdout.strip()
    assert out == expected
