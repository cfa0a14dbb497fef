"""Image augmentation, batched on the training device.

``random_shift`` is DrQ's: replicate-pad by ``pad`` pixels and crop back at a
random integer offset per image. The padded batch is viewed as all its
``(2*pad+1)^2`` crops (``unfold``, no copy) and one indexing op picks each
image's crop: no Python loop over images, no host sync, uint8 in and out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, pad: int = 4,
                 shifts: torch.Tensor | None = None) -> torch.Tensor:
    """Shift each ``(C, H, W)`` image of a batch by up to ``pad`` pixels.

    ``shifts``: optional ``(B, 2)`` crop offsets in ``[0, 2*pad]`` (rows, columns)
    into the padded image, for tests; ``pad, pad`` is the identity. Drawn
    uniformly otherwise.
    """
    b, _, h, w = images.shape
    if shifts is None:
        shifts = torch.randint(0, 2 * pad + 1, (b, 2), device=images.device)
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    crops = padded.unfold(2, h, 1).unfold(3, w, 1)  # (B, C, 2p+1, 2p+1, H, W), a view
    return crops[torch.arange(b, device=images.device), :, shifts[:, 0], shifts[:, 1]]


def augment_obs(obs, pad: int = 4):
    """Shift the images of an observation batch: one image, or every image entry of a
    dict (``pixels``, or one per camera view; state vectors pass unchanged). Each view
    gets its own random shift."""
    if isinstance(obs, dict):
        return {k: random_shift(v, pad) if v.dtype == torch.uint8 and v.dim() == 4 else v
                for k, v in obs.items()}
    return random_shift(obs, pad)
