"""Dependencies run one way: observation helpers and nets at the bottom, then the
replay, then the agents, then the factory and the loop, then the CLI. Parsing a config
imports no torch."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "robovision"

LAYERS = {"obs": 0, "nets": 0, "envworker": 0, "replay": 1, "agents": 2, "factory": 3,
          "evaluation": 3, "loop": 3, "sweep": 4, "cli": 5}
"""Layer of each part of the package: a module may import only from its layer or below."""


def _robovision_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith("robovision.")}
    return found


def _part(module: str) -> str:
    return module.split(".")[1]


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path):
    part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if part not in LAYERS:
        return
    upward = [m for m in _robovision_imports(path)
              if _part(m) in LAYERS and LAYERS[_part(m)] > LAYERS[part]]
    assert not upward, f"{path.name} ({part}) imports from above its layer: {upward}"


def test_parsing_every_preset_imports_no_torch():
    code = ("import sys\nfrom robovision.config import list_presets, load_config\n"
            "for p in list_presets(): load_config(p)\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out


def test_an_env_worker_builds_its_env_without_torch():
    """Env worker processes unpickle ``robovision.make.build_env`` and call it: that path
    stays torch-free (each worker about 140 MB instead of 400 MB of its own memory)."""
    code = ("import sys\nfrom robovision.config import load_config\n"
            "from robovision.make import build_env\n"
            "build_env(load_config('pendulum_sac'), seed=0, evaluation=True).reset(seed=0)\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out


def test_commands_that_do_not_train_import_no_torch(tmp_path):
    """``robovision envs`` and a config error load no torch (they took 3-5 s more when
    the CLI imported every error class up front); the error is still a one-line message."""
    code = ("import sys\nfrom robovision.cli import main\n"
            "codes = [main(['envs', 'dmc/cheetah']), main(['train', 'no_such_preset'])]\n"
            "print(codes, sorted(m for m in sys.modules if m == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "[0, 2] []", done.stdout
    assert "robovision: error:" in done.stderr and "no_such_preset" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unexpected_error_keeps_its_traceback(monkeypatch):
    from robovision import cli

    def broken(args):
        raise ZeroDivisionError("a bug, not a user error")

    monkeypatch.setattr(cli, "cmd_envs", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["envs"])
