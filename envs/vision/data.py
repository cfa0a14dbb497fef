"""Annotated images for the vision environments: a procedural generator that needs no
download, loaders for COCO JSON, Pascal VOC XML, COCO keypoints and ``.pts`` files,
train/val/test splits and a seeded sampler.

Bad input (a missing or unreadable image, a box outside the image or of zero area, an
image without annotations) raises :class:`AnnotationError` naming the file and the entry,
or, with ``on_error="skip"``, is skipped and counted in the returned :class:`LoadReport`.
"""

from __future__ import annotations

import functools
import json
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

OnError = Literal["raise", "skip"]


class AnnotationError(ValueError):
    """An annotation or image that cannot be used; the message names file and entry."""


@dataclass
class AnnotatedImage:
    image: np.ndarray
    """``(H, W, 3)`` uint8 RGB (2D) or ``(D, H, W)`` uint8 (volumes)."""
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    """``(N, 4)`` float32 ``x1, y1, x2, y2`` in pixels."""
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    """``(K, 2)`` ``x, y`` (2D) or ``(K, 3)`` ``x, y, z`` (volumes)."""
    spacing: tuple[float, ...] | None = None
    """Physical size of a pixel/voxel per axis (x, y[, z]); ``None``: pixels."""
    source: str = ""


@dataclass
class LoadReport:
    """What a loader kept and what it skipped (``on_error="skip"``), by reason."""

    loaded: int = 0
    skipped: Counter = field(default_factory=Counter)

    def skip(self, reason: str, where: str, on_error: OnError) -> None:
        if on_error == "raise":
            raise AnnotationError(f"{where}: {reason}")
        self.skipped[reason.split(":")[0]] += 1

    def warn(self, what: str) -> None:
        if self.skipped:
            warnings.warn(f"{what}: skipped {sum(self.skipped.values())} entries "
                          f"({dict(self.skipped)})", stacklevel=3)


# ----------------------------------------------------------------------------- images


def read_image(path: Path) -> np.ndarray:
    """RGB uint8; raises :class:`AnnotationError` naming the file when it cannot be read."""
    if not Path(path).exists():
        raise AnnotationError(f"image file not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise AnnotationError(f"unreadable image file: {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _check_box(box, width: int, height: int) -> str | None:
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return f"zero-area box {list(box)}"
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        return f"box {list(box)} outside the {width}x{height} image"
    return None


def _finish(image: np.ndarray, boxes: list, labels: list, where: str, report: LoadReport,
            on_error: OnError, keypoints: list | None = None) -> AnnotatedImage | None:
    h, w = image.shape[:2]
    kept_boxes, kept_labels = [], []
    for box, label in zip(boxes, labels, strict=True):
        problem = _check_box(box, w, h)
        if problem:
            report.skip(f"bad box: {problem}", where, on_error)
            continue
        kept_boxes.append(box)
        kept_labels.append(label)
    if not kept_boxes and not keypoints:
        report.skip("image without annotations", where, on_error)
        return None
    report.loaded += 1
    return AnnotatedImage(
        image=image, boxes=np.asarray(kept_boxes, np.float32).reshape(-1, 4),
        labels=np.asarray(kept_labels, np.int64),
        keypoints=np.asarray(keypoints or [], np.float32).reshape(-1, 2), source=where)


# ----------------------------------------------------------------------------- loaders


def load_coco(annotation_file: Path, image_dir: Path, on_error: OnError = "raise",
              keypoints: bool = False) -> tuple[list[AnnotatedImage], LoadReport]:
    """COCO-style JSON (``images``, ``annotations`` with ``bbox = [x, y, w, h]``).
    With ``keypoints``, each annotation's ``keypoints`` (x, y, visibility triples)
    become the image's keypoints (visible ones only)."""
    annotation_file, image_dir = Path(annotation_file), Path(image_dir)
    try:
        data = json.loads(annotation_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"{annotation_file}: cannot read COCO JSON: {exc}") from exc
    by_image: dict[int, list[dict]] = {}
    for ann in data.get("annotations", []):
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    report, samples = LoadReport(), []
    for info in data.get("images", []):
        where = f"{annotation_file} image id {info.get('id')} ({info.get('file_name')})"
        try:
            image = read_image(image_dir / info["file_name"])
        except AnnotationError as exc:
            report.skip(f"image: {exc}", where, on_error)
            continue
        anns = by_image.get(info.get("id"), [])
        boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                  a["bbox"][1] + a["bbox"][3]] for a in anns if "bbox" in a]
        labels = [int(a.get("category_id", 0)) for a in anns if "bbox" in a]
        points = None
        if keypoints:
            points = [[k[i], k[i + 1]] for a in anns for k in [a.get("keypoints", [])]
                      for i in range(0, len(k), 3) if k[i + 2] > 0]
        sample = _finish(image, boxes, labels, where, report, on_error, points)
        if sample is not None:
            samples.append(sample)
    report.warn(str(annotation_file))
    return samples, report


def load_voc(annotation_dir: Path, image_dir: Path, on_error: OnError = "raise",
             classes: list[str] | None = None) -> tuple[list[AnnotatedImage], LoadReport]:
    """Pascal VOC XML files (one per image); labels index ``classes`` (learned in order
    of appearance when not given)."""
    classes = list(classes or [])
    report, samples = LoadReport(), []
    for xml_path in sorted(Path(annotation_dir).glob("*.xml")):
        where = str(xml_path)
        try:
            root = ET.parse(xml_path).getroot()
            image = read_image(Path(image_dir) / root.findtext("filename", ""))
        except (ET.ParseError, AnnotationError) as exc:
            report.skip(f"unreadable: {exc}", where, on_error)
            continue
        boxes, labels = [], []
        for i, obj in enumerate(root.iter("object")):
            name = obj.findtext("name", "")
            bnd = obj.find("bndbox")
            try:
                box = [float(bnd.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            except (AttributeError, TypeError, ValueError):
                report.skip(f"bad box: object {i} has no numeric bndbox", where, on_error)
                continue
            if name not in classes:
                classes.append(name)
            boxes.append(box)
            labels.append(classes.index(name))
        sample = _finish(image, boxes, labels, where, report, on_error)
        if sample is not None:
            samples.append(sample)
    report.warn(str(annotation_dir))
    return samples, report


def parse_pts(text: str, where: str) -> np.ndarray:
    """``(K, 2)`` float32 ``x, y`` points from ``.pts`` text (the ``version: 1`` /
    ``n_points: K`` / ``{ ... }`` format of the menpo/iBUG face sets)."""
    try:
        header, body = text.split("{", 1)
        points = np.asarray(body.split("}", 1)[0].split(), np.float32).reshape(-1, 2)
    except ValueError as exc:
        raise AnnotationError(f"{where}: not a .pts landmark file ({exc})") from exc
    declared = [line.split(":", 1)[1] for line in header.splitlines() if "n_points" in line]
    if declared and int(declared[0]) != len(points):
        raise AnnotationError(f"{where}: n_points says {int(declared[0])}, "
                              f"the file lists {len(points)}")
    return points


def load_pts(pts_file: Path, image_file: Path) -> AnnotatedImage:
    """An image with ``.pts`` landmarks (see :func:`parse_pts`)."""
    pts_file = Path(pts_file)
    try:
        text = pts_file.read_text()
    except OSError as exc:
        raise AnnotationError(f"{pts_file}: cannot read ({exc})") from exc
    points = parse_pts(text, str(pts_file))
    return AnnotatedImage(image=read_image(image_file), keypoints=points, source=str(pts_file))


# ----------------------------------------------------------------------------- procedural


def backgrounds(size: int) -> list[np.ndarray]:
    """Natural images bundled with scikit-image, as RGB backgrounds."""
    from skimage import data as skdata

    images = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon",
                 "grass", "gravel", "brick", "hubble_deep_field", "immunohistochemistry"):
        image = getattr(skdata, name)()
        if image.ndim == 2:
            image = np.stack([image] * 3, -1)
        images.append(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    return images


DIFFICULTY = {  # objects per image, object size range (fraction of image), distractors
    "easy": (1, (0.35, 0.6), 0),
    "medium": (1, (0.2, 0.45), 2),
    "hard": (3, (0.15, 0.35), 4),
}


def procedural_images(n: int, size: int = 96, difficulty: str = "easy", seed: int = 0
                      ) -> list[AnnotatedImage]:
    """:func:`generate_procedural_images`, read-only and shared by every caller with the
    same arguments: a vector env's copies and the eval env generate their images once
    (500 images take about 0.5 s here, so 4 s of a PPO run's start with 8 envs)."""
    return list(_frozen_procedural_images(n, size, difficulty, seed))


@functools.lru_cache(maxsize=4)
def _frozen_procedural_images(n: int, size: int, difficulty: str, seed: int
                              ) -> tuple[AnnotatedImage, ...]:
    samples = generate_procedural_images(n, size, difficulty, seed)
    for sample in samples:
        for array in (sample.image, sample.boxes, sample.labels, sample.keypoints):
            array.setflags(write=False)
    return tuple(samples)


def generate_procedural_images(n: int, size: int = 96, difficulty: str = "easy",
                               seed: int = 0) -> list[AnnotatedImage]:
    """Coloured shapes composited onto crops of natural images, with exact boxes (the
    shape's pixel extent) and one landmark per object (the centre of a small marker)."""
    if difficulty not in DIFFICULTY:
        raise ValueError(f"difficulty '{difficulty}' is not one of {sorted(DIFFICULTY)}")
    count, (smin, smax), distractors = DIFFICULTY[difficulty]
    rng = np.random.default_rng(seed)
    pool = backgrounds(size)
    samples = []
    for _ in range(n):
        bg = pool[rng.integers(len(pool))]
        scale = rng.uniform(0.3, 1.0)
        ch, cw = int(bg.shape[0] * scale), int(bg.shape[1] * scale)
        y0, x0 = rng.integers(0, bg.shape[0] - ch + 1), rng.integers(0, bg.shape[1] - cw + 1)
        image = cv2.resize(bg[y0:y0 + ch, x0:x0 + cw], (size, size),
                           interpolation=cv2.INTER_AREA)
        for _ in range(distractors):  # small shapes that are not targets
            _draw_shape(image, rng, size, (0.05, 0.1))
        boxes, points = [], []
        for _ in range(count):
            box, point = _draw_shape(image, rng, size, (smin, smax), marker=True)
            boxes.append(box)
            points.append(point)
        samples.append(AnnotatedImage(image=image, boxes=np.asarray(boxes, np.float32),
                                      labels=np.zeros(count, np.int64),
                                      keypoints=np.asarray(points, np.float32),
                                      source=f"procedural-{difficulty}"))
    return samples


def _draw_shape(image: np.ndarray, rng: np.random.Generator, size: int,
                scale: tuple[float, float], marker: bool = False):
    w = int(rng.uniform(*scale) * size)
    h = int(np.clip(w * rng.uniform(0.6, 1.6), 4, size - 2))
    w = max(4, min(w, size - 2))
    x1, y1 = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
    mask = np.zeros((size, size), np.uint8)
    kind = rng.integers(3)
    if kind == 0:
        cv2.rectangle(mask, (x1, y1), (x1 + w - 1, y1 + h - 1), 1, -1)
    elif kind == 1:
        cv2.ellipse(mask, (x1 + w // 2, y1 + h // 2), (w // 2, h // 2), 0, 0, 360, 1, -1)
    else:
        tri = np.array([[x1, y1 + h - 1], [x1 + w - 1, y1 + h - 1], [x1 + w // 2, y1]])
        cv2.fillConvexPoly(mask, tri, 1)
    color = rng.integers(0, 256, 3)
    stripes = np.broadcast_to((np.arange(size)[None, :] // max(2, w // 4)) % 2, (size, size))
    texture = np.where(stripes[..., None] == 1, color, 255 - color).astype(np.uint8)
    image[mask == 1] = texture[mask == 1]
    ys, xs = np.nonzero(mask)
    box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    point = [float(xs.mean()), float(ys.mean())]
    if marker:
        cx, cy = round(point[0]), round(point[1])
        cv2.circle(image, (cx, cy), 2, (255, 255, 255), -1)
        cv2.circle(image, (cx, cy), 1, (0, 0, 0), -1)
    return box, point


def procedural_volumes(n: int, size: int = 48, seed: int = 0,
                       spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
                       ) -> list[AnnotatedImage]:
    """Smooth random volumes with one bright blob whose centre is the landmark."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), -1)  # z, y, x
    samples = []
    for _ in range(n):
        noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size * size)).astype(np.float32),
                                 (0, 0), 2).reshape(size, size, size)
        centre = rng.uniform(size * 0.2, size * 0.8, 3)
        blob = np.exp(-((grid - centre) ** 2).sum(-1) / (2 * 3.0**2))
        volume = np.clip(80 + 30 * noise + 170 * blob, 0, 255).astype(np.uint8)
        z, y, x = centre
        samples.append(AnnotatedImage(image=volume, keypoints=np.array([[x, y, z]], np.float32),
                                      spacing=spacing, source="procedural-volume"))
    return samples


def named_dataset(name: str, task: Literal["boxes", "landmarks"], num_images: int,
                  image_size: int, difficulty: str = "easy", seed: int = 0
                  ) -> list[AnnotatedImage]:
    """``"procedural"`` (generated here) or ``"real"`` (views of the registry images,
    see :mod:`robovision.envs.vision.real`; always held out, never generated)."""
    if name == "procedural":
        return procedural_images(num_images, image_size, difficulty, seed)
    if name == "real":
        from robovision.envs.vision import real

        views = real.box_views if task == "boxes" else real.landmark_views
        return views(size=image_size, seed=seed)
    raise ValueError(f"dataset='{name}': pass 'procedural', 'real' or a list of "
                     "AnnotatedImage (see robovision.envs.vision.data loaders)")


# ----------------------------------------------------------------------------- splits


SPLITS = ("train", "val", "test", "all")
TEST_FRACTION, VAL_FRACTION = 0.2, 0.1


def split_samples(samples: list[AnnotatedImage], split: str, seed: int = 0
                  ) -> list[AnnotatedImage]:
    """The ``split`` part of ``samples`` (``all``: every one). A seeded permutation gives
    ``test`` its first 20 %, ``val`` the next 10 % and ``train`` the rest, so the three
    never share an image and ``test`` holds the same images whatever ``val`` takes.
    Evaluate during training on ``val`` (best.pt is chosen there) and report ``test``."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: choose one of {', '.join(SPLITS)}")
    if split == "all":
        return list(samples)
    order = np.random.default_rng(seed).permutation(len(samples))
    n_test, n_val = round(len(samples) * TEST_FRACTION), round(len(samples) * VAL_FRACTION)
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
             "train": order[n_test + n_val:]}
    chosen = [samples[i] for i in parts[split]]
    if not chosen:
        raise ValueError(f"split={split!r} of {len(samples)} images is empty (test takes "
                         f"{TEST_FRACTION:.0%}, val {VAL_FRACTION:.0%}): use more images "
                         "(num_images) or split='all'")
    return chosen
