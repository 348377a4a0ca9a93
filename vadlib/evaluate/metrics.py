"""Frame-level metrics: micro AUC and AP over all test frames concatenated, the area under the
precision-recall curve as XD-Violence's code computes it, and macro AUC over the test videos.

- ``auc``: ROC AUC of every test frame at once (micro), the field's AUC.
- ``ap``: average precision, scikit-learn's ``average_precision_score``: the step sum
  ``sum_n (R_n - R_{n-1}) P_n`` over the thresholds, no interpolation.
- ``pr_auc``: the trapezoid area under scikit-learn's ``precision_recall_curve``,
  ``auc(recall, precision)``: what XD-Violence's ``test.py`` (XDVioDet, Wu et al., ECCV 2020) and
  the works built on it report as AP. Each recall step counts the mean of the precisions at its two
  ends where ``ap`` counts the precision at its higher recall, so the two differ wherever precision
  changes across a step: on y = 1 0 1 scored .9 .8 .7, ap = 5/6 and pr_auc = 19/24. Without ties a
  step never ends at a lower precision than it starts, so pr_auc <= ap; tied scores (the 16 frames of
  a snippet share one) can make it the larger (y = 1 0 1 1 scored .9 .5 .5 .1: 58/72 and 61/72).
- ``macro_auc``: the mean, over the test videos that hold both normal and anomalous frames, of each
  video's frame AUC; ``macro_videos`` is how many videos it averages (videos of one class have no AUC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import auc as trapezoid_area
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve


class EvaluationError(ValueError):
    """Scores and ground truth do not fit together."""


@dataclass
class FrameMetrics:
    auc: float | None
    ap: float | None
    frames: int
    abnormal_frames: int
    videos: int
    pr_auc: float | None = None
    macro_auc: float | None = None
    macro_videos: int = 0
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


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Trapezoid area under scikit-learn's precision-recall curve, ``auc(recall, precision)``, as
    XD-Violence's ``test.py`` reports it (both classes must be present)."""
    precision, recall, _ = precision_recall_curve(labels, scores)
    return float(trapezoid_area(recall, precision))


def macro_auc(scores: np.ndarray, labels: np.ndarray, lengths: Sequence[int]) -> tuple[float | None, int]:
    """Mean frame AUC of the videos that hold both classes, and their number; ``scores`` and ``labels``
    are the concatenation of videos of ``lengths`` frames. ``(None, 0)`` when no video holds both."""
    if sum(lengths) != len(labels) or len(scores) != len(labels):
        raise EvaluationError(f"macro AUC: video lengths add up to {sum(lengths)} frames, the scores hold "
                              f"{len(scores)} and the labels {len(labels)}")
    aucs, start = [], 0
    for n in lengths:
        y, s = labels[start:start + n], scores[start:start + n]
        start += n
        if 0 < int(y.sum()) < n:
            aucs.append(float(roc_auc_score(y, s)))
    return (float(np.mean(aucs)) if aucs else None), len(aucs)


def frame_metrics(scores: np.ndarray, labels: np.ndarray, videos: int,
                  lengths: Sequence[int] | None = None) -> FrameMetrics:
    """Micro AUC, AP (scikit-learn's) and the PR curve's trapezoid area over all frames; with
    ``lengths`` (the frames of each video, in concatenation order) macro AUC as well. The frame-level
    metrics are undefined (``None``, with a note) when only one class is present."""
    abnormal = int(labels.sum())
    if abnormal == 0 or abnormal == len(labels):
        kind = "normal" if abnormal == 0 else "abnormal"
        return FrameMetrics(None, None, len(labels), abnormal, videos,
                            note=f"AUC undefined: every test frame is {kind}")
    macro, macro_videos = macro_auc(scores, labels, lengths) if lengths is not None else (None, 0)
    return FrameMetrics(float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores)),
                        len(labels), abnormal, videos, pr_auc=pr_auc(scores, labels), macro_auc=macro,
                        macro_videos=macro_videos)


def roc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr
