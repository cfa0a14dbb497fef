import numpy as np
import pytest
import torch

import robovision  # noqa: F401  (defaults MUJOCO_GL before any renderer is loaded)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
