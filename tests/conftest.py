import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import robovision  # noqa: F401  (defaults MUJOCO_GL before any renderer is loaded)


def _xdist_workers() -> int:
    """How many pytest-xdist workers run the suite (1 without xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def pytest_configure(config):
    """Under ``pytest -n N`` (pytest-xdist; ``make test`` runs a worker per core) each
    worker computes with one torch thread, and so do the processes it starts (runs from
    the CLI, evaluators, Ray trials): N workers at the full thread count would fight
    over the cores. With one thread, a learning test's numbers do not depend on which
    worker runs it or on how many workers there are."""
    if _xdist_workers() > 1:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _cuda_backend_flags():
    """A run with ``train.cudnn_benchmark`` or ``train.tf32`` sets process-wide flags: put
    them back after each test."""
    saved = torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32
    yield
    torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture(autouse=True)
def _torch_threads():
    """A run with ``threads=N`` sets torch's process-wide thread count: put it back after
    each test (a test left at one thread made every later one slower)."""
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.stderr.read().decode()[-2000:]}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.2)


@pytest.fixture
def wait_for():
    """``wait_for(predicate, timeout, proc)``: poll until ``predicate()`` holds; fail with
    the process's stderr if it exits first, and kill it after ``timeout`` seconds."""
    return _wait_for


@pytest.fixture
def hide_package(monkeypatch):
    """``hide_package(name)``: for this test, importing ``name`` (or a submodule) fails
    as if it were not installed."""
    def hide(name: str) -> None:
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            monkeypatch.delitem(sys.modules, module)
        monkeypatch.setitem(sys.modules, name, None)
    return hide


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run on a GPU machine and are skipped elsewhere. Under
    pytest-xdist the learning tests (``slow``) go first, so that the workers do not end
    with one of them running alone."""
    if _xdist_workers() > 1:
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable sort
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
