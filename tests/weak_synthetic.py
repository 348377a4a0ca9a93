"""Tiny separable snippet features for the weakly supervised tests.

Normal snippets are ``|N(0, 1)|`` vectors; in an abnormal video a contiguous run of snippets is shifted
by ``shift`` along one fixed unit direction, so every detector can separate them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from vadlib.stores import write_store
from vadlib.weak.score import snippet_scores


def make_video(rng: np.random.Generator, label: int, t: int, crops: int, dim: int, shift: float,
               direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[t, crops, dim]`` and per-snippet truth ``[t]``."""
    x = np.abs(rng.normal(size=(t, crops, dim))).astype(np.float32)
    truth = np.zeros(t, dtype=np.uint8)
    if label:
        length = max(1, t // 3)
        start = int(rng.integers(0, t - length + 1))
        truth[start:start + length] = 1
        x[start:start + length] += shift * direction
    return x, truth


def write_dataset(root: Path, n_normal: int, n_abnormal: int, t: tuple[int, int] = (8, 14), crops: int = 2,
                  dim: int = 32, shift: float = 3.0, seed: int = 0, prefix: str = "v",
                  pretrained: bool = False) -> tuple[dict[str, str], dict[str, int], dict[str, np.ndarray]]:
    """Write feature stores under ``root``; returns (video -> path, video -> label, video -> snippet truth)."""
    rng = np.random.default_rng(seed)
    direction = np.random.default_rng(1234).normal(size=dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    paths, labels, truths = {}, {}, {}
    for i, label in enumerate([0] * n_normal + [1] * n_abnormal):
        video = f"{prefix}{i:03d}"
        x, truth = make_video(rng, label, int(rng.integers(t[0], t[1] + 1)), crops, dim, shift, direction)
        attrs = {"extractor": "synthetic", "weights": "none", "pretrained": pretrained, "snippet_len": 16,
                 "preprocessing": {}}
        paths[video] = str(write_store(root / f"{video}.zarr", "features", x.astype(np.float16), attrs))
        labels[video], truths[video] = label, truth
    return paths, labels, truths


def snippet_auc(model, paths: dict[str, str], truths: dict[str, np.ndarray], dim: int) -> float:
    """Snippet-level AUC of a model over the given videos."""
    from vadlib.weak.data import read_features

    scores = [snippet_scores(model, read_features(paths[v], dim)) for v in paths]
    return float(roc_auc_score(np.concatenate([truths[v] for v in paths]), np.concatenate(scores)))
