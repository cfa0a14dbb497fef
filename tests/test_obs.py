"""Observation trees: one array or a dict of them, handled in one place."""

import numpy as np
import torch
from gymnasium import spaces

from robovision import obs as obs_tree

IMAGE = spaces.Box(0, 255, (3, 8, 8), np.uint8)
STATE = spaces.Box(-1, 1, (4,), np.float64)
DICT = spaces.Dict({"pixels": IMAGE, "state": STATE})


def test_alloc_keeps_images_uint8_and_stores_the_rest_as_float32():
    store = obs_tree.alloc(DICT, (5, 2), "cpu")
    assert store["pixels"].shape == (5, 2, 3, 8, 8) and store["pixels"].dtype == torch.uint8
    assert store["state"].shape == (5, 2, 4) and store["state"].dtype == torch.float32
    assert obs_tree.alloc(STATE, (3,), "cpu").shape == (3, 4)


def test_to_tensor_batches_a_single_observation_and_says_so():
    single = {"pixels": np.zeros((3, 8, 8), np.uint8), "state": np.ones(4, np.float32)}
    tensors, was_single = obs_tree.to_tensor(single, torch.device("cpu"),
                                             obs_tree.space_ndim(DICT))
    assert was_single and tensors["pixels"].shape == (1, 3, 8, 8)
    batch, was_single = obs_tree.to_tensor(np.zeros((6, 4), np.float32), torch.device("cpu"), 1)
    assert not was_single and batch.shape == (6, 4)


def test_map_stack_and_index_work_leaf_by_leaf():
    a = {"x": np.arange(3), "y": np.arange(3) * 10}
    b = {"x": np.ones(3), "y": np.ones(3)}
    summed = obs_tree.map_obs(lambda u, v: u + v, a, b)
    assert summed["y"].tolist() == [1, 11, 21]
    stacked = obs_tree.stack([a, a])
    assert stacked["x"].shape == (2, 3)
    assert obs_tree.stack([a])["y"].shape == (1, 3)
    assert obs_tree.index(stacked, 1)["y"].tolist() == [0, 10, 20]
    assert obs_tree.from_leaves({None: 5}) == 5 and obs_tree.leaf_spaces(STATE) == {None: STATE}
