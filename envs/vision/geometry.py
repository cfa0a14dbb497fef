"""Box and point geometry as pure, vectorised functions for numpy arrays and torch tensors.

Boxes are ``(..., 4)`` in ``(x1, y1, x2, y2)`` pixel coordinates with ``x2 >= x1``
and ``y2 >= y1``. A degenerate (zero-area) box has IoU 0 with everything,
itself included, so an agent can never be rewarded for collapsing its box.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _xp(x: Any):
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    return np


def box_area(boxes):
    w = (boxes[..., 2] - boxes[..., 0]).clip(0)
    h = (boxes[..., 3] - boxes[..., 1]).clip(0)
    return w * h


def box_iou(a, b):
    """Element-wise IoU of two broadcastable box arrays ``(..., 4)`` -> ``(...)``."""
    xp = _xp(a)
    x1 = xp.maximum(a[..., 0], b[..., 0])
    y1 = xp.maximum(a[..., 1], b[..., 1])
    x2 = xp.minimum(a[..., 2], b[..., 2])
    y2 = xp.minimum(a[..., 3], b[..., 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    union = box_area(a) + box_area(b) - inter
    positive = union > 0
    safe = xp.where(positive, union, xp.ones_like(union))
    return xp.where(positive, inter / safe, xp.zeros_like(inter))


def pairwise_iou(a, b):
    """IoU of every box in ``a (N, 4)`` with every box in ``b (M, 4)`` -> ``(N, M)``."""
    return box_iou(a[:, None, :], b[None, :, :])


def clip_boxes(boxes, width: float, height: float):
    """Clip boxes to the image ``[0, width] x [0, height]``."""
    xp = _xp(boxes)
    if xp is np:
        return np.clip(boxes, 0, np.array([width, height, width, height], dtype=boxes.dtype))
    limits = xp.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    return xp.minimum(boxes.clamp(min=0), limits)


def point_distance(a, b, spacing=None):
    """Euclidean distance between points ``(..., D)``; ``spacing`` (D,) converts pixels
    or voxels to physical units (e.g. millimetres)."""
    xp = _xp(a)
    delta = a - b
    if spacing is not None:
        delta = delta * (xp.asarray(spacing) if xp is np else xp.as_tensor(
            spacing, dtype=delta.dtype, device=delta.device))
    return xp.sqrt((delta * delta).sum(-1))
