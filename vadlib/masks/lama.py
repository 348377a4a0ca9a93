"""LaMa's random mask generator: irregular brush strokes and boxes, mixed.

Re-implements the sampling of ``MixedMaskGenerator`` from "Resolution-robust Large Mask Inpainting with
Fourier Convolutions" (LaMa, WACV 2022; ``saicinpainting/training/data/masks.py``) with a seeded
:class:`numpy.random.Generator`:

* irregular masks: ``times ~ U{min_times..max_times}`` strokes; each stroke starts at a uniform pixel
  and has ``1 + U{0..4}`` segments; a segment has angle ``0.01 + U{0..max_angle-1}`` radians (mirrored to
  ``2*pi - angle`` on even strokes), length ``min_len + U{0..max_len-1}`` and brush width
  ``min_width + U{0..max_width-1}`` (LaMa hard-codes ``min_len=10`` and ``min_width=5``); the end point is
  ``(x + len*sin(a), y + len*cos(a))`` clipped to the frame and drawn with ``cv2.line``;
* box masks: ``times ~ U{min_times..max_times}`` boxes with sides ``U{bbox_min_size..bbox_max_size-1}``
  (the maximum first clipped to ``frame - 2*margin``) placed uniformly at least ``margin`` from the border;
* mixed: one of the two kinds per mask, chosen with probabilities ``irregular_proba`` and ``box_proba``
  normalised to sum to one.

Presets are LaMa's configs at 256x256: ``thick``, ``medium`` and ``thin`` are the evaluation mask sets
(``configs/data_gen/random_{thick,medium,thin}_256.yaml``, whose generation keeps only masks covering
more than 0% and at most ``max_tamper_area = 0.5`` of the image: here rejection sampling, which gives
exactly the distribution of "draw, drop the rejected, pick one survivor"); ``train`` is the training
mask mix of ``configs/training/data/abl-04-256-mh-dist.yaml`` (irregular and box equally likely, no
area filter).

Resolution: every length (``max_len``, ``min_len``, ``max_width``, ``min_width``, ``margin``,
``bbox_min_size``, ``bbox_max_size``) is given for 256x256 and multiplied by ``scale``, by default
``min(H, W) / 256``: LaMa's data generation resizes each image so that its short side is 256 before
drawing, so scaling by the short side draws the same strokes relative to the frame. Counts, angles and
the area bound do not change with the size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vadlib.params import ConfigError, resolve

BASE_SIZE = 256

PRESETS: dict[str, dict[str, Any]] = {
    "thick": {
        "irregular_proba": 1.0,
        "irregular": {"min_times": 1, "max_times": 5, "max_width": 100, "max_angle": 4, "max_len": 200,
                      "min_width": 5, "min_len": 10},
        "box_proba": 0.3,
        "box": {"margin": 10, "bbox_min_size": 30, "bbox_max_size": 150, "min_times": 1, "max_times": 3},
        "max_area": 0.5,
    },
    "medium": {
        "irregular_proba": 1.0,
        "irregular": {"min_times": 4, "max_times": 5, "max_width": 50, "max_angle": 4, "max_len": 100,
                      "min_width": 5, "min_len": 10},
        "box_proba": 0.3,
        "box": {"margin": 0, "bbox_min_size": 10, "bbox_max_size": 50, "min_times": 1, "max_times": 5},
        "max_area": 0.5,
    },
    "thin": {
        "irregular_proba": 1.0,
        "irregular": {"min_times": 4, "max_times": 50, "max_width": 10, "max_angle": 4, "max_len": 40,
                      "min_width": 5, "min_len": 10},
        "box_proba": 0.0,
        "box": {"margin": 10, "bbox_min_size": 30, "bbox_max_size": 100, "min_times": 0, "max_times": 3},
        "max_area": 0.5,
    },
    "train": {
        "irregular_proba": 1.0,
        "irregular": {"min_times": 1, "max_times": 5, "max_width": 100, "max_angle": 4, "max_len": 200,
                      "min_width": 5, "min_len": 10},
        "box_proba": 1.0,
        "box": {"margin": 10, "bbox_min_size": 30, "bbox_max_size": 150, "min_times": 1, "max_times": 3},
        "max_area": 1.0,
    },
}

_LENGTHS = {"irregular": ("max_width", "min_width", "max_len", "min_len"),
            "box": ("margin", "bbox_min_size", "bbox_max_size")}


def lama_config(preset: str = "thick", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A preset merged with ``overrides`` (nested dicts merge key by key); unknown keys and values of
    the wrong type raise :class:`~vadlib.params.ConfigError` (``masks.overrides.irregular.max_width``)."""
    if preset not in PRESETS:
        raise ConfigError("masks.preset", f"unknown LaMa preset {preset!r}; choose one of {sorted(PRESETS)}")
    return resolve(overrides, PRESETS[preset], "masks.overrides")


@dataclass(frozen=True)
class LamaMaskGenerator:
    """Draws LaMa masks of one frame size. ``config`` is a :func:`lama_config` dict at 256x256."""

    height: int
    width: int
    config: dict[str, Any]
    scale: float | None = None
    max_tries: int = 1000

    @property
    def factor(self) -> float:
        return self.scale if self.scale is not None else min(self.height, self.width) / BASE_SIZE

    def _scaled(self, kind: str) -> dict[str, int]:
        params = dict(self.config[kind])
        for key in _LENGTHS[kind]:
            params[key] = max(1 if key != "margin" else 0, int(round(params[key] * self.factor)))
        return params

    def irregular(self, rng: np.random.Generator) -> np.ndarray:
        """LaMa's ``make_random_irregular_mask`` (line strokes)."""
        p = self._scaled("irregular")
        mask = np.zeros((self.height, self.width), np.uint8)
        for i in range(rng.integers(p["min_times"], p["max_times"] + 1)):
            x, y = int(rng.integers(self.width)), int(rng.integers(self.height))
            for _ in range(1 + rng.integers(5)):
                angle = 0.01 + rng.integers(p["max_angle"])
                if i % 2 == 0:
                    angle = 2 * 3.1415926 - angle
                length = p["min_len"] + rng.integers(p["max_len"])
                brush = p["min_width"] + rng.integers(p["max_width"])
                end_x = int(np.clip(np.int32(x + length * np.sin(angle)), 0, self.width))
                end_y = int(np.clip(np.int32(y + length * np.cos(angle)), 0, self.height))
                cv2.line(mask, (x, y), (end_x, end_y), 1, int(brush))
                x, y = end_x, end_y
        return mask.astype(bool)

    def box(self, rng: np.random.Generator) -> np.ndarray:
        """LaMa's ``make_random_rectangle_mask``."""
        p = self._scaled("box")
        margin = p["margin"]
        high = min(p["bbox_max_size"], self.height - 2 * margin, self.width - 2 * margin)
        low = min(p["bbox_min_size"], high - 1)
        if low < 1:
            raise ValueError(f"a {self.height}x{self.width} frame is too small for boxes with margin {margin}")
        mask = np.zeros((self.height, self.width), bool)
        for _ in range(rng.integers(p["min_times"], p["max_times"] + 1)):
            bw, bh = int(rng.integers(low, high)), int(rng.integers(low, high))
            x0 = int(rng.integers(margin, self.width - margin - bw + 1))
            y0 = int(rng.integers(margin, self.height - margin - bh + 1))
            mask[y0:y0 + bh, x0:x0 + bw] = True
        return mask

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One mixed mask, redrawn until it covers more than 0 and at most ``max_area`` of the frame."""
        probas = np.array([self.config["irregular_proba"], self.config["box_proba"]], dtype=float)
        if probas.sum() <= 0:
            raise ValueError("masks: irregular_proba and box_proba are both 0")
        probas /= probas.sum()
        for _ in range(self.max_tries):
            kind = rng.choice(2, p=probas)
            mask = self.irregular(rng) if kind == 0 else self.box(rng)
            if 0 < mask.mean() <= self.config["max_area"]:
                return mask
        raise RuntimeError(f"no LaMa mask with area in (0, {self.config['max_area']}] in {self.max_tries} draws "
                           f"for a {self.height}x{self.width} frame; check masks.overrides")
