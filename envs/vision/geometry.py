"""Box and point geometry for the vision envs.

IoU is torchvision's (``torchvision.ops.box_iou``, shipped and pinned with torch);
these wrappers take numpy arrays or tensors and give back the same kind. Boxes
are ``(x1, y1, x2, y2)`` in pixels. A degenerate (zero-area) box has IoU 0 with
everything, itself included (torchvision gives 0/0 there), so an agent can never
be rewarded for collapsing its box.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou as _torchvision_box_iou


def pairwise_iou(a: Any, b: Any) -> Any:
    """IoU of every box in ``a (N, 4)`` with every box in ``b (M, 4)`` -> ``(N, M)``."""
    is_numpy = not isinstance(a, torch.Tensor)
    # np.array copies: a box may be a read-only view of a shared dataset image's boxes
    ta = torch.from_numpy(np.array(a, np.float64)) if is_numpy else a.to(torch.float64)
    tb = torch.from_numpy(np.array(b, np.float64)) if is_numpy else b.to(torch.float64)
    iou = torch.nan_to_num(_torchvision_box_iou(ta, tb), nan=0.0)
    return iou.numpy() if is_numpy else iou


def box_iou(box: Any, boxes: Any) -> Any:
    """IoU of one box ``(4,)`` with each of ``boxes (N, 4)`` -> ``(N,)``, or with one
    box ``(4,)`` -> a scalar."""
    many = np.ndim(boxes) == 2
    iou = pairwise_iou(box.reshape(1, 4), boxes.reshape(-1, 4))[0]
    return iou if many else iou[0]


def point_distance(a, b, spacing=None):
    """Euclidean distance between points ``(..., D)``; ``spacing`` (D,) converts pixels
    or voxels to physical units (e.g. millimetres). (torchvision has no point ops.)"""
    delta = a - b
    if spacing is not None:
        if isinstance(delta, torch.Tensor):
            delta = delta * torch.as_tensor(spacing, dtype=delta.dtype, device=delta.device)
        else:
            delta = delta * np.asarray(spacing)
    return (delta * delta).sum(-1) ** 0.5
