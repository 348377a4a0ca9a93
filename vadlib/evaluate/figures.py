"""Figures of the report: ROC curves of every row and per-video score timelines."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vadlib.runtime import save_figure  # noqa: E402


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, float | None]], path: str | os.PathLike,
               title: str) -> None:
    """One ROC curve per row: ``curves[label] = (fpr, tpr, auc)``."""
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for label, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, lw=1.4, label=f"{label} ({auc:.3f})" if auc is not None else label)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    if curves:
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no curve: AUC undefined for every row", ha="center", va="center")
    save_figure(fig, path, dpi=110, bbox_inches="tight")


def intervals(labels: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of ones in a 0/1 array."""
    padded = np.concatenate([[0], np.asarray(labels, dtype=np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def timeline_figure(videos: list[str], truth: dict[str, np.ndarray],
                    scores: dict[str, dict[str, np.ndarray]], path: str | os.PathLike, title: str) -> None:
    """Per-video frame scores of every row (min-max scaled per video) with ground truth shaded."""
    n = max(1, len(videos))
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.6 * n + 0.6), squeeze=False)
    for ax, video in zip(axes[:, 0], videos):
        for start, stop in intervals(truth[video]):
            ax.axvspan(start, stop, color="tab:red", alpha=0.18, lw=0)
        for label, per_video in scores.items():
            s = np.asarray(per_video[video], dtype=np.float64)
            span = s.max() - s.min()
            ax.plot((s - s.min()) / span if span > 0 else s * 0, lw=1, label=label)
        ax.set_xlim(0, len(truth[video]))
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(video, fontsize=7, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=7)
    axes[0, 0].set_title(title + "  (shaded: ground-truth anomaly; scores min-max scaled per video)", fontsize=9)
    axes[0, 0].legend(fontsize=6, ncol=4, loc="upper left")
    axes[-1, 0].set_xlabel("frame")
    save_figure(fig, path, dpi=110, bbox_inches="tight")
