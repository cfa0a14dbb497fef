"""A plain (non-editable) install trains: the wheel holds every package and the presets,
and nothing resolves paths inside the source tree.

The wheel is built from this checkout and installed into a fresh venv outside it.
Its dependencies (torch alone is 5.5 GB) come from the project's venv (and from
``PYTHONPATH`` entries outside the checkout, where a machine carries them so) through a
``.pth`` path entry; robovision itself comes only from the wheel (the project venv's
editable-install hook is a ``.pth`` file there, and ``.pth`` files in a directory
reached that way are not executed).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # build from a copy of the sources, so no build/ folder is left in (or reused from)
    # the checkout
    source = tmp_path_factory.mktemp("source") / "robovision"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".gpu", "build", "runs", "*.egg-info", "__pycache__", ".*_cache"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(source)], check=True,
                   capture_output=True)
    return next(out.glob("robovision-*.whl"))


def test_wheel_holds_every_package_and_the_presets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in (("robovision", "robovision"), ("envs", "robovision/envs")):
        for init in (ROOT / folder).rglob("__init__.py"):
            inside = init.relative_to(ROOT / folder).as_posix()
            assert f"{package}/{inside}" in names, f"{package}/{inside} missing from the wheel"
    presets = {p.name for p in (ROOT / "configs").glob("*.yaml")}
    assert presets and {f"robovision/configs/{p}" for p in presets} <= names


def test_installed_wheel_trains_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                "get_paths()['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    # the dependencies wherever this interpreter finds them: its site-packages, and the
    # PYTHONPATH entries other than the checkout (a machine that carries them there)
    dependencies = [sysconfig.get_paths()["purelib"], *(
        entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() != ROOT)]
    (site / "project_dependencies.pth").write_text("\n".join(dependencies) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ROBOVISION_DATA")}
    # without PYTHONPATH, or pip would find the checkout there and call it installed
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True, env=env)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env["HOME"] = str(tmp_path / "home")
    env.pop("XDG_CACHE_HOME", None)
    where = subprocess.run(
        [str(python), "-c", "import robovision, robovision.config as c; "
         "from robovision.envs.vision import real; "
         "print(robovision.__file__); print(len(c.list_presets())); print(real.data_dir())"],
        cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    assert where[0].startswith(str(site)), where[0]  # the wheel's copy, not the checkout
    assert int(where[1]) == len(list((ROOT / "configs").glob("*.yaml")))
    assert where[2] == str(tmp_path / "home" / ".cache" / "robovision")
    run = work / "run"
    result = subprocess.run(
        [str(venv / "bin" / "robovision"), "train", "pendulum_sac", "train.total_steps=300",
         "train.learning_starts=100", "train.eval_every=0", "train.eval_episodes=1",
         "train.progress=false", "agent.hidden=32,32", f"run_dir={run}"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "done: 300 steps" in result.stdout
    assert (run / "checkpoints" / "latest.pt").exists() and (run / "metrics.csv").exists()
