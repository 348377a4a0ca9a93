"""Object masks: from ground truth, from a user's mask store, or from a background-subtraction estimate.

No segmentation weights can be fetched on the build machines, so for real videos the objects are the
foreground of a median background model: the per-pixel median of frames spread evenly over the video is
the background, pixels whose largest channel difference to it exceeds ``threshold`` are foreground, and
the foreground is cleaned by a morphological opening (drops speckle), a closing (fills holes) and the
removal of connected components smaller than ``min_area``. A median background needs no warm-up, unlike
an adaptive mixture model (MOG2) that calls every pixel foreground during its first frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vadlib.stores import Store, StoreError, open_store

BACKGROUND_DEFAULTS: dict[str, Any] = {"frames": 100, "threshold": 30, "open": 3, "close": 7, "min_area": 50}


def _ellipse(size: int) -> np.ndarray:
    size = max(1, int(size))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def load_object_masks(path: str | Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Object masks ``[T, H, W]`` bool from an ``.npz`` (key ``objects``) or a masks store, resized
    (nearest) to ``shape``; the number of frames must match."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as data:
            if "objects" not in data:
                raise StoreError(f"{path}: key 'objects' is missing (keys: {sorted(data.files)})")
            objects = np.asarray(data["objects"]).astype(bool)
        if objects.ndim != 3:
            raise StoreError(f"{path}: 'objects' must be [T, H, W], got shape {list(objects.shape)}")
    else:
        objects = open_store(path, "masks").read()
    if objects.shape[0] != shape[0]:
        raise StoreError(f"{path}: {objects.shape[0]} frames of object masks, the video has {shape[0]}")
    if objects.shape[1:] != shape[1:]:
        size = (shape[2], shape[1])
        objects = np.stack([cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
                            for m in objects]).astype(bool)
    return objects


def median_background(frames: Store, n_frames: int) -> np.ndarray:
    """Per-pixel median of ``n_frames`` frames spread evenly over the video (float32 [H, W, C])."""
    index = np.unique(np.linspace(0, len(frames) - 1, min(n_frames, len(frames))).round().astype(int))
    return np.median(frames.data.oindex[index], axis=0).astype(np.float32)


def foreground(frames: np.ndarray, background: np.ndarray, threshold: float, open_size: int,
               close_size: int, min_area: int) -> np.ndarray:
    """Cleaned foreground masks ``[N, H, W]`` of uint8 frames ``[N, H, W, C]`` against a background."""
    out = np.zeros(frames.shape[:3], bool)
    opening, closing = _ellipse(open_size), _ellipse(close_size)
    for i, frame in enumerate(frames):
        diff = np.abs(frame.astype(np.float32) - background).max(axis=-1)
        fg = (diff > threshold).astype(np.uint8)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, opening)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, closing)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        keep = np.zeros(count, bool)
        keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
        out[i] = keep[labels]
    return out


def dilate(masks: np.ndarray, size: int) -> np.ndarray:
    """Dilate each ``[H, W]`` mask by an elliptic element of ``size`` pixels (0 or 1: unchanged)."""
    if size <= 1:
        return masks
    element = _ellipse(size)
    return np.stack([cv2.dilate(m.astype(np.uint8), element) for m in masks]).astype(bool)
