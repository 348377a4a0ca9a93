"""Frame-level scores: the contract between every detector and the evaluation.

A scores file (``.npz``) holds one or more *rows* (a method, or one score component of a method) and,
for each row, one float32 array of frame scores per test video, stored under ``"{row}/{video}"``.
A JSON document under ``"__meta__"`` records the method, the protocol it was evaluated under, whether
its model had pretrained weights, and the parameters that produced it. Higher means more anomalous.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vadlib.runtime import atomic_output

META_KEY = "__meta__"


class ScoresError(ValueError):
    """A scores file is missing or malformed."""


def save_scores(path: str | os.PathLike, rows: dict[str, dict[str, np.ndarray]], meta: dict[str, Any]) -> None:
    """Write ``rows`` (row name -> video -> frame scores) with ``meta`` atomically."""
    path = Path(path)
    for required in ("method", "protocol"):
        if required not in meta:
            raise ScoresError(f"{path}: meta field {required!r} is required")
    arrays: dict[str, np.ndarray] = {}
    for row, per_video in rows.items():
        if "/" in row:
            raise ScoresError(f"{path}: row name {row!r} must not contain '/'")
        for video, scores in per_video.items():
            scores = np.asarray(scores, dtype=np.float32)
            if scores.ndim != 1:
                raise ScoresError(f"{path}: scores of row {row!r}, video {video!r} must be 1-D, got {scores.shape}")
            if not np.isfinite(scores).all():
                raise ScoresError(f"{path}: scores of row {row!r}, video {video!r} contain NaN or Inf")
            arrays[f"{row}/{video}"] = scores
    meta = {**meta, "rows": list(rows)}
    arrays[META_KEY] = np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_scores(path: str | os.PathLike) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Read a scores file back as ``(rows, meta)``."""
    path = Path(path)
    if not path.exists():
        raise ScoresError(f"{path}: no such scores file")
    with np.load(path) as data:
        if META_KEY not in data.files:
            raise ScoresError(f"{path}: field {META_KEY!r} is missing (not a scores file)")
        meta = json.loads(bytes(data[META_KEY]).decode())
        rows: dict[str, dict[str, np.ndarray]] = {row: {} for row in meta["rows"]}
        for key in data.files:
            if key == META_KEY:
                continue
            row, video = key.split("/", 1)
            rows[row][video] = data[key]
    return rows, meta
