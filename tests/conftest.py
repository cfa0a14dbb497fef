import numpy as np
import pytest
import torch

import robovision  # noqa: F401  (defaults MUJOCO_GL before any renderer is loaded)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run on a GPU machine and are skipped elsewhere."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
