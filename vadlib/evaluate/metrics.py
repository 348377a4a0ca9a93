"""Frame-level metrics over all test frames concatenated (micro AUC and AP)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


class EvaluationError(ValueError):
    """Scores and ground truth do not fit together."""


@dataclass
class FrameMetrics:
    auc: float | None
    ap: float | None
    frames: int
    abnormal_frames: int
    videos: int
    note: str = ""


def concatenate(scores: dict[str, np.ndarray], truth: dict[str, np.ndarray], videos: list[str],
                source: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Concatenate per-video scores and labels in ``videos`` order, checking each video's length."""
    if not videos:
        raise EvaluationError(f"{source}: no test video to evaluate (empty split)")
    all_scores, all_labels = [], []
    for video in videos:
        if video not in truth:
            raise EvaluationError(f"ground truth has no entry for test video {video!r}")
        if video not in scores:
            raise EvaluationError(f"{source}: no scores for test video {video!r}")
        s, y = np.asarray(scores[video], dtype=np.float64), np.asarray(truth[video])
        if len(s) != len(y):
            raise EvaluationError(f"{source}: video {video!r} has {len(s)} frame scores but its ground truth "
                                  f"has {len(y)} frames")
        all_scores.append(s)
        all_labels.append(y)
    return np.concatenate(all_scores), np.concatenate(all_labels).astype(np.uint8)


def frame_metrics(scores: np.ndarray, labels: np.ndarray, videos: int) -> FrameMetrics:
    """Micro AUC and AP; both undefined (``None``, with a note) when only one class is present."""
    abnormal = int(labels.sum())
    if abnormal == 0 or abnormal == len(labels):
        kind = "normal" if abnormal == 0 else "abnormal"
        return FrameMetrics(None, None, len(labels), abnormal, videos,
                            note=f"AUC undefined: every test frame is {kind}")
    return FrameMetrics(float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores)),
                        len(labels), abnormal, videos)


def roc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr
