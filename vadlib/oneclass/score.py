"""Test-time scoring shared by the one-class methods: windows to frame scores, combination, saving.

Windows to frames. A method scores windows (clips) of a test video that start every ``test_stride``
frames (:func:`vadlib.oneclass.clips.window_starts`) and gives each window's value to one frame, which
each method names after its paper: LUSS-AE gives all three of its scores to the frame that follows the
clip (frame T + 1 of a T + 1 window, sec. 3.2.2); the pseudo-anomaly autoencoders give theirs to the
9th frame of a 16-frame window; the multi-level MemAE + CVAE documents its own.
:func:`to_frames` turns these (frame, value) pairs into one score per frame: values that land on the
same frame are averaged, frames between two scored frames are linearly interpolated (nothing to
interpolate when the stride is 1), and frames before the first / after the last scored frame take the
nearest score (edge padding).

Combination. Components are rescaled per video (:mod:`vadlib.oneclass.rescalings`) and summed with
weights; each method documents its own rescaling and weights.

Saving. :func:`save_rows` writes the rows with the meta every one-class method records, plus optional
``notes`` (row -> text, e.g. a discriminator that gives one value to every test frame) that the
evaluation can carry into ``auc.json``, and optional ``extra`` meta (e.g. how each row is normalised).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

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
              model_params: dict | None = None, notes: Mapping[str, str] | None = None,
              extra: Mapping[str, object] | None = None) -> None:
    """Save frame scores with the meta every one-class method records.

    ``notes`` (row -> text) go to ``meta["notes"]`` (rows without a note are absent from it); a note
    naming a row that is not written fails. ``extra`` entries are added to the meta as they are."""
    meta = {"method": method, "protocol": "oneclass", "pretrained": False, "params": params}
    if model_params is not None:
        meta["model_params"] = model_params
    notes = {row: text for row, text in (notes or {}).items() if text}
    unknown = sorted(set(notes) - set(rows))
    if unknown:
        raise KeyError(f"{method}: notes name rows {unknown} that are not written; rows: {sorted(rows)}")
    if notes:
        meta["notes"] = notes
    clash = sorted(set(extra or {}) & {*meta, "notes", "rows"})
    if clash:
        raise KeyError(f"{method}: extra meta would overwrite {clash}")
    meta.update(extra or {})
    save_scores(path, rows, meta=meta)
