"""Frame sources outside MuJoCo: images that become pixel observations.

A frame source is any callable ``source(env) -> HxWx3 uint8`` called after every reset
and step (with the base env, so it can follow the env's state); if it has a
``reset(seed)`` method, it is called when the env resets. ``make_env(...,
frames=...)`` / ``env.frames`` take one as a callable, ``module:function``,
``path/to/file.py:function``, ``folder:PATH`` (:class:`ImageFolder`) or
``video:PATH`` (:class:`VideoFrames`). The pixel wrapper resizes the frames with
OpenCV and says what it did with their channel order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


class ImageFolder:
    """The images of a folder (sorted by name) one per call, looping; ``reset(seed)``
    starts again at the first image (or at ``seed`` modulo the count)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"image folder {self.folder.resolve()} does not exist")
        self.paths = sorted(p for p in self.folder.iterdir()
                            if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {self.folder}")
        self._cache: dict[int, np.ndarray] = {}
        self.index = 0

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` (modulo the count) as HxWx3 uint8 RGB."""
        index %= len(self.paths)
        if index not in self._cache:
            bgr = cv2.imread(str(self.paths[index]), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"cannot read image {self.paths[index]}")
            self._cache[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return self._cache[index]

    def reset(self, seed: int | None = None) -> None:
        self.index = 0 if seed is None else seed % len(self.paths)

    def __call__(self, env: Any = None) -> np.ndarray:
        frame = self.image(self.index)
        self.index += 1
        return frame


class VideoFrames:
    """Frames of a video file or a camera device (an OpenCV ``VideoCapture``), one per
    call; a file loops at its end and restarts on ``reset``."""

    def __init__(self, source: str | int) -> None:
        self.source = source
        self.capture = cv2.VideoCapture(source)
        if not self.capture.isOpened():
            raise FileNotFoundError(f"OpenCV cannot open video source {source!r}")

    def reset(self, seed: int | None = None) -> None:
        if not isinstance(self.source, int):
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def __call__(self, env: Any = None) -> np.ndarray:
        ok, bgr = self.capture.read()
        if not ok and not isinstance(self.source, int):  # the end of a file: loop
            self.reset()
            ok, bgr = self.capture.read()
        if not ok:
            raise RuntimeError(f"video source {self.source!r} gave no frame")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def frame_source(ref: Any) -> Any:
    """A frame source from a callable or a string (see the module docstring)."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, str) and ref.startswith("folder:"):
        return ImageFolder(ref[len("folder:"):])
    if isinstance(ref, str) and ref.startswith("video:"):
        target = ref[len("video:"):]
        return VideoFrames(int(target) if target.isdigit() else target)
    from robovision.envs.mjcf import load_callable

    return load_callable(ref, "frames")
