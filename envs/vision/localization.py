"""Box localization as an MDP (Caicedo & Lazebnik, 2015): an agent transforms a box
over an image until it covers the object, rewarded by the change in IoU.

Default MDP: 8 transformations (right, left, up, down, bigger, smaller, fatter,
taller), each by ``alpha`` of the box's width or height, plus a trigger. A
transformation earns ``sign(delta IoU)`` (or the raw delta); the trigger earns
``+eta`` if IoU >= ``tau`` else ``-eta`` (or ``-miss_penalty`` when given) and ends
the search. The first box is the
whole image; a search lasts at most ``max_steps`` steps. The target is the
ground-truth box of highest IoU with the current box (optionally of one class).

``info["success"]`` (1.0 or 0.0) says whether the box counts as a localization: IoU
with the target >= ``success_iou`` (0.5, PASCAL VOC's criterion), on a trigger step the
IoU of the box that was triggered. At an episode's last step it is the episode's
success, which training evaluations log as ``eval/success_rate``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robovision.envs.vision.data import AnnotatedImage, named_dataset, split_samples
from robovision.envs.vision.geometry import box_iou

ACTIONS = ("right", "left", "up", "down", "bigger", "smaller", "fatter", "taller", "trigger")
TRIGGER = 8
MIN_SIZE = 4.0


def transform_box(box: np.ndarray, action: int, alpha: float, width: int, height: int
                  ) -> np.ndarray:
    """Apply one of the 8 transformations and clip the box to the image.

    A move past the border therefore shrinks the box from the opposite side, which is
    how a box in a corner is reached: sliding the box back inside instead leaves the
    greedy oracle stuck on 20% of the easy procedural images (100% solved with clipping,
    ``scripts/bench_vision.py``)."""
    x1, y1, x2, y2 = box
    aw, ah = alpha * (x2 - x1), alpha * (y2 - y1)
    moves = {
        0: (aw, 0, aw, 0), 1: (-aw, 0, -aw, 0), 2: (0, -ah, 0, -ah), 3: (0, ah, 0, ah),
        4: (-aw / 2, -ah / 2, aw / 2, ah / 2), 5: (aw / 2, ah / 2, -aw / 2, -ah / 2),
        6: (0, ah / 2, 0, -ah / 2),  # fatter: less tall, so relatively wider
        7: (aw / 2, 0, -aw / 2, 0),  # taller: less wide, so relatively taller
    }
    dx1, dy1, dx2, dy2 = moves[action]
    new = np.array([x1 + dx1, y1 + dy1, x2 + dx2, y2 + dy2], np.float32)
    return _valid(new, width, height, fallback=box)


def _valid(box: np.ndarray, width: int, height: int, fallback: np.ndarray) -> np.ndarray:
    box = np.clip(box, 0, [width, height, width, height]).astype(np.float32)
    if box[2] - box[0] < MIN_SIZE or box[3] - box[1] < MIN_SIZE:
        return fallback.astype(np.float32)
    return box


def crop_resize(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The image under ``box`` resized to ``size x size``, uint8 channels-first."""
    x1, y1, x2, y2 = box
    h, w = image.shape[:2]
    xi1, yi1 = int(np.floor(x1)), int(np.floor(y1))
    xi2, yi2 = max(xi1 + 1, min(w, int(np.ceil(x2)))), max(yi1 + 1, min(h, int(np.ceil(y2))))
    crop = image[yi1:yi2, xi1:xi2]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)


class BoxLocalization(gym.Env):
    """``robovision/BoxLocalization-v0``.

    Observation: ``{"pixels": uint8 (C, S, S), "state": float32}`` with the crop under
    the box (plus, with ``context``, a small view of the whole image as 3 more
    channels) and the one-hot history of the last ``history`` actions (continuous
    actions: the last actions, clipped to [-1, 1]).
    """

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, dataset: str | list[AnnotatedImage] = "procedural",
                 split: Literal["train", "val", "test", "all"] = "train",
                 action_type: Literal["discrete", "continuous"] = "discrete",
                 obs_size: int = 84, alpha: float = 0.2, eta: float = 3.0, tau: float = 0.6,
                 miss_penalty: float | None = None,
                 max_steps: int = 40, history: int = 10,
                 reward: Literal["sign", "delta"] = "sign", delta_scale: float = 1.0,
                 context: bool = False,
                 target_class: int | None = None, inhibition: bool = False,
                 max_triggers: int = 1, trigger_threshold: float = 0.0,
                 success_iou: float = 0.5,
                 num_images: int = 500, image_size: int = 96,
                 difficulty: str = "easy", data_seed: int = 0,
                 render_mode: str | None = None) -> None:
        if isinstance(dataset, str):
            dataset = named_dataset(dataset, "boxes", num_images, image_size, difficulty,
                                    data_seed)
        dataset = split_samples(dataset, split, data_seed)
        if not dataset:
            raise ValueError("BoxLocalization needs at least one annotated image")
        self.images = dataset
        self.action_type, self.obs_size, self.alpha = action_type, obs_size, alpha
        self.eta, self.tau, self.max_steps, self.history_len = eta, tau, max_steps, history
        self.miss_penalty = eta if miss_penalty is None else miss_penalty
        self.reward_kind, self.delta_scale = reward, delta_scale
        self.context, self.target_class = context, target_class
        self.inhibition, self.max_triggers = inhibition, max_triggers
        self.trigger_threshold, self.render_mode = trigger_threshold, render_mode
        if not 0.0 < success_iou <= 1.0:
            raise ValueError(f"success_iou={success_iou}: an IoU threshold in (0, 1]")
        self.success_iou = success_iou
        self.action_dim = len(ACTIONS) if action_type == "discrete" else 5
        if action_type == "discrete":
            self.action_space = spaces.Discrete(len(ACTIONS))
        else:
            self.action_space = spaces.Box(-1.0, 1.0, (5,), np.float32)
        channels = 6 if context else 3
        self.observation_space = spaces.Dict({
            "pixels": spaces.Box(0, 255, (channels, obs_size, obs_size), np.uint8),
            "state": spaces.Box(-1.0, 1.0, (history * self.action_dim,), np.float32)})
        self.sample: AnnotatedImage | None = None

    # -- episode -------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        index = (options or {}).get("index", int(self.np_random.integers(len(self.images))))
        self.sample = self.images[index]
        self.image = self.sample.image.copy()
        self.targets = self._targets(self.sample)
        self.found = np.zeros(len(self.targets), bool)
        self.triggers = 0
        self._new_search()
        return self._observation(), self._info()

    def _targets(self, sample: AnnotatedImage) -> np.ndarray:
        boxes = sample.boxes
        if self.target_class is not None:
            boxes = boxes[sample.labels == self.target_class]
        if len(boxes) == 0:
            raise ValueError(f"{sample.source}: no box of class {self.target_class}")
        return boxes

    def _new_search(self) -> None:
        h, w = self.image.shape[:2]
        if self.context:  # the whole-image view changes only with inhibition marks
            self._context_view = crop_resize(self.image, np.array([0, 0, w, h], np.float32),
                                             self.obs_size)
        self.box = np.array([0, 0, w, h], np.float32)
        self.steps = 0
        self.history = np.zeros((self.history_len, self.action_dim), np.float32)

    def iou(self, box: np.ndarray | None = None) -> float:
        """IoU with the target: the not-yet-found ground-truth box of highest IoU."""
        if box is None:
            return self._current_iou
        ious = np.where(self.found, -1.0, box_iou(box, self.targets))
        return float(max(ious.max(), 0.0))

    @property
    def box(self) -> np.ndarray:
        return self._box

    @box.setter
    def box(self, value: np.ndarray) -> None:
        """Setting the box also caches its IoU with the target (read many times a step)."""
        self._box = np.asarray(value, np.float32)
        self._current_iou = self.iou(self._box)

    def step(self, action):
        h, w = self.image.shape[:2]
        move, trigger = self._decode(action)
        before = self.iou()
        self.steps += 1
        self._remember(action)
        if trigger:
            success = before >= self.tau
            reward = self.eta if success else -self.miss_penalty
            self.triggers += 1
            if success:
                ious = np.where(self.found, -1, box_iou(self.box, self.targets))
                self.found[int(np.argmax(ious))] = True
                self.box = self.box  # refresh the cached IoU: the target changed
            terminated = (not self.inhibition or self.triggers >= self.max_triggers
                          or self.found.all())
            info = {**self._info(), "triggered": True, "final_iou": before,
                    "success": float(before >= self.success_iou)}
            if not terminated:
                self._mark_inhibition()
                self._new_search()
            return self._observation(), reward, terminated, False, info
        self.box = move(self.box, w, h)
        after = self.iou()
        delta = after - before
        reward = (float(np.sign(delta)) if self.reward_kind == "sign"
                  else float(delta) * self.delta_scale)
        truncated = self.steps >= self.max_steps
        return self._observation(), reward, False, truncated, self._info()

    def _decode(self, action) -> tuple[Any, bool]:
        if self.action_type == "discrete":
            a = int(action)
            if a == TRIGGER:
                return None, True
            return (lambda box, w, h: transform_box(box, a, self.alpha, w, h)), False
        a = np.clip(np.asarray(action, np.float32).reshape(-1), -1.0, 1.0)
        if a[4] > self.trigger_threshold:
            return None, True

        def move(box, w, h):
            bw, bh = box[2] - box[0], box[3] - box[1]
            delta = a[:4] * self.alpha * np.array([bw, bh, bw, bh], np.float32)
            return _valid(box + delta, w, h, fallback=box)

        return move, False

    def _remember(self, action) -> None:
        self.history[:-1] = self.history[1:]
        if self.action_type == "discrete":
            self.history[-1] = 0.0
            self.history[-1, int(action)] = 1.0
        else:
            self.history[-1] = np.clip(np.asarray(action, np.float32).reshape(-1), -1, 1)

    def _mark_inhibition(self) -> None:
        """Inhibition of return: a black cross over the found region, then search again."""
        x1, y1, x2, y2 = self.box.astype(int)
        cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
        thickness = max(2, (x2 - x1) // 8)
        cv2.line(self.image, (x1, cy), (x2, cy), (0, 0, 0), thickness)
        cv2.line(self.image, (cx, y1), (cx, y2), (0, 0, 0), thickness)

    # -- observation -----------------------------------------------------------------

    def _observation(self) -> dict[str, np.ndarray]:
        pixels = crop_resize(self.image, self.box, self.obs_size)
        if self.context:
            pixels = np.concatenate([pixels, self._context_view], 0)
        return {"pixels": np.ascontiguousarray(pixels), "state": self.history.reshape(-1).copy()}

    def _info(self) -> dict[str, Any]:
        iou = self.iou()
        return {"iou": iou, "box": self.box.copy(), "steps": self.steps,
                "success": float(iou >= self.success_iou)}

    def render(self) -> np.ndarray:
        """The image with the targets outlined in green and the box in red (a box
        ``(x1, y1, x2, y2)`` covers the pixels ``x1..x2-1`` and ``y1..y2-1``)."""
        frame = self.image.copy()
        for target in self.targets:
            _outline(frame, target, (0, 255, 0))
        _outline(frame, self.box, (255, 0, 0))
        return frame


def _outline(frame: np.ndarray, box: np.ndarray, colour: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = (int(v) for v in box)
    cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), colour, 1)


def greedy_oracle_action(env: BoxLocalization) -> int:
    """The transformation with the best IoU after one step, or the trigger when none
    improves it (an upper bound that knows the ground truth)."""
    h, w = env.image.shape[:2]
    current = env.iou()
    gains = [env.iou(transform_box(env.box, a, env.alpha, w, h)) - current for a in range(8)]
    best = int(np.argmax(gains))
    if gains[best] <= 0 or (current >= env.tau and gains[best] < 0.02):
        return TRIGGER
    return best
