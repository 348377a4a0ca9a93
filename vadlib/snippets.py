"""Snippets: how a video is cut into 16-frame snippets and how snippet scores become frame scores.

Every method that scores snippets (the weakly supervised detectors on I3D features) maps its scores
back to frames through :func:`snippets_to_frames`, so the mapping lives in exactly one place.

Convention. A video of ``T`` frames is cut into ``ceil(T / L)`` non-overlapping snippets of ``L`` frames
(``L = 16``); snippet ``i`` covers frames ``[i L, min((i + 1) L, T))``. The last snippet may be partial:
the feature extractor pads it by repeating the video's last frame, so no frame goes unscored.

Mapping back. Each snippet's score is given to each of its ``L`` frames. When features were made with a
different convention (some re-extractions drop the tail, ``floor(T / L)`` snippets), the frames past
the last snippet take the last snippet's score, and scores past frame ``T`` are dropped. RTFM's
ShanghaiTech and UCF-Crime features round up like the project (``ceil(T / L)`` snippets; their ground
truth is padded to ``16 x snippets`` with the last frame's label, tests/test_real_labels.py).
"""

from __future__ import annotations

import math

import numpy as np

SNIPPET_LEN = 16


def n_snippets(n_frames: int, snippet_len: int = SNIPPET_LEN) -> int:
    """Number of snippets that cover ``n_frames`` frames (at least one)."""
    if n_frames <= 0:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    return max(1, math.ceil(n_frames / snippet_len))


def snippet_frame_indices(n_frames: int, snippet_len: int = SNIPPET_LEN) -> np.ndarray:
    """``[snippets, snippet_len]`` frame indices of each snippet, the tail padded with the last frame."""
    count = n_snippets(n_frames, snippet_len)
    idx = np.arange(count * snippet_len).reshape(count, snippet_len)
    return np.minimum(idx, n_frames - 1)


def snippets_to_frames(snippet_scores: np.ndarray, n_frames: int, snippet_len: int = SNIPPET_LEN) -> np.ndarray:
    """Frame scores ``[n_frames]`` from snippet scores ``[snippets]`` (see the module docstring)."""
    scores = np.asarray(snippet_scores, dtype=np.float32).reshape(-1)
    if scores.size == 0:
        raise ValueError("no snippet scores to map to frames")
    frames = np.repeat(scores, snippet_len)
    if frames.size < n_frames:
        frames = np.concatenate([frames, np.full(n_frames - frames.size, scores[-1], dtype=np.float32)])
    return frames[:n_frames]
