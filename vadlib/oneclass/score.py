"""Test-time scoring shared by the one-class methods: windows to frame scores, combination, saving.

Windows to frames. A method scores windows (clips) of a test video that start every ``test_stride``
frames (:func:`vadlib.oneclass.clips.window_starts`) and gives each window's value to one frame: its
centre frame ``start + clip_len // 2`` (the 9th frame of a 16-frame window) for reconstruction-type
scores, or the frame it predicts for prediction-type scores. :func:`to_frames` turns these
(frame, value) pairs into one score per frame: values that land on the same frame are averaged, frames
between two scored frames are linearly interpolated (nothing to interpolate when the stride is 1), and
frames before the first / after the last scored frame take the nearest score (edge padding).

Combination. Components are rescaled per video (:mod:`vadlib.oneclass.rescalings`) and summed with
weights; each method documents its own weights.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from vadlib.scores import save_scores


def to_frames(values: np.ndarray, frames: np.ndarray, n_frames: int) -> np.ndarray:
    """One score per frame from window values placed at ``frames`` (see the module docstring)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    frames = np.minimum(np.asarray(frames, dtype=np.int64).reshape(-1), n_frames - 1)
    if values.size == 0 or values.size != frames.size:
        raise ValueError(f"need one frame per window value, got {values.size} values and {frames.size} frames")
    at, inverse = np.unique(frames, return_inverse=True)
    mean = np.bincount(inverse, weights=values) / np.bincount(inverse)
    return np.interp(np.arange(n_frames), at, mean).astype(np.float32)


def combine(components: Mapping[str, np.ndarray], weights: Mapping[str, float],
            rescale: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``sum_c weights[c] * rescale(components[c])`` over the weighted components of one video."""
    missing = [c for c in weights if c not in components]
    if missing:
        raise KeyError(f"weights name components {missing} that the method does not produce; "
                       f"known: {sorted(components)}")
    total = None
    for name, weight in weights.items():
        part = float(weight) * rescale(components[name]).astype(np.float64)
        total = part if total is None else total + part
    return np.asarray(total, dtype=np.float32)


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for a in range(0, len(items), size):
        yield items[a:a + size]


def save_rows(path, rows: dict[str, dict[str, np.ndarray]], method: str, params: dict,
              model_params: dict | None = None) -> None:
    """Save frame scores with the meta every one-class method records."""
    meta = {"method": method, "protocol": "oneclass", "pretrained": False, "params": params}
    if model_params is not None:
        meta["model_params"] = model_params
    save_scores(path, rows, meta=meta)
