"""The installed torch/torchvision pair must load torchvision's compiled ops."""

import torch
from torchvision.ops import box_iou


def test_torchvision_ops_run_on_this_torch():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    other = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]])
    assert torch.allclose(box_iou(boxes, other), torch.tensor([[1.0 / 7.0, 1.0]]))


def test_mujoco_is_below_4():
    import mujoco

    assert int(mujoco.__version__.split(".")[0]) == 3
