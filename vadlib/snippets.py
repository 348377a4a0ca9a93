"""Snippets: how a video is cut into 16-frame snippets and how snippet scores become frame scores.

Every method that scores snippets (the weakly supervised detectors on I3D features) maps its scores
back to frames through :func:`snippets_to_frames`, so the mapping lives in exactly one place.

Convention. A video of ``T`` frames is cut into non-overlapping snippets of ``L`` frames (``L = 16``);
snippet ``i`` starts at frame ``i L``. What happens to the last ``T mod L`` frames is the *tail rule*
(``features.i3d.tail`` for extraction, ``imported.tail`` for published features):

``pad`` (the project's default)
    ``ceil(T / L)`` snippets; the last one covers frames ``[(n - 1) L, T)`` and is filled up by
    repeating the video's last frame. RTFM's ShanghaiTech features are made so (their ground truth is
    padded to ``L x snippets`` with the last frame's label, tests/test_real_labels.py).
``slide``
    ``ceil(T / L)`` snippets; the last one is the video's last ``L`` frames, ``[T - L, T)``, so it
    overlaps the one before it by ``n L - T`` frames and no frame is repeated (UCF-Crime's official
    test features). A video shorter than ``L`` has one snippet, padded as with ``pad``.
``drop``
    ``floor(T / L)`` snippets; the last ``T mod L`` frames belong to no snippet (some re-extractions).
    A video shorter than ``L`` still has one snippet, padded.

Mapping back (:func:`snippets_to_frames`). Each frame takes the score of the *last* snippet that covers
it: with ``pad`` and ``drop`` every covered frame lies in exactly one snippet; with ``slide`` the
frames of the overlap ``[T - L, (n - 1) L)`` take the last snippet's score, so the last snippet's score
covers exactly the frames it saw. Frames covered by no snippet (the tail under ``drop``, or features
shorter than the video) take the last snippet's score; scores past frame ``T`` are dropped. The frame
labels a score is compared with are the video's own ``T`` frames in every rule (see
:func:`frame_owner`, the snippet each frame's score comes from).
"""

from __future__ import annotations

import math

import numpy as np

SNIPPET_LEN = 16
TAILS = ("pad", "slide", "drop")


def check_tail(tail: str, key: str = "features.i3d.tail") -> str:
    """``tail`` if it is a tail rule, else a ValueError naming the config ``key``."""
    if tail not in TAILS:
        raise ValueError(f"{key} must be one of {list(TAILS)}, got {tail!r}")
    return tail


def n_snippets(n_frames: int, snippet_len: int = SNIPPET_LEN, tail: str = "pad") -> int:
    """Number of snippets of a video of ``n_frames`` frames under the tail rule (at least one)."""
    if n_frames <= 0:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    check_tail(tail)
    count = n_frames // snippet_len if tail == "drop" else math.ceil(n_frames / snippet_len)
    return max(1, count)


def snippet_starts(n_frames: int, snippet_len: int = SNIPPET_LEN, tail: str = "pad") -> np.ndarray:
    """First frame of each snippet (``slide`` moves the last one back to ``T - L``)."""
    count = n_snippets(n_frames, snippet_len, tail)
    starts = np.arange(count) * snippet_len
    if tail == "slide" and n_frames >= snippet_len:
        starts[-1] = n_frames - snippet_len
    return starts


def snippet_frame_indices(n_frames: int, snippet_len: int = SNIPPET_LEN, tail: str = "pad") -> np.ndarray:
    """``[snippets, snippet_len]`` frame indices of each snippet under the tail rule (indices past the
    last frame repeat it)."""
    idx = snippet_starts(n_frames, snippet_len, tail)[:, None] + np.arange(snippet_len)[None, :]
    return np.minimum(idx, n_frames - 1)


def frame_owner(n_snippets_: int, n_frames: int, snippet_len: int = SNIPPET_LEN, tail: str = "pad") -> np.ndarray:
    """``[n_frames]``: the snippet whose score each frame takes (see the module docstring)."""
    if n_snippets_ <= 0:
        raise ValueError("no snippet to map to frames")
    check_tail(tail)
    owner = np.minimum(np.arange(n_frames) // snippet_len, n_snippets_ - 1)
    if tail == "slide" and n_frames >= snippet_len and n_snippets_ == math.ceil(n_frames / snippet_len):
        owner[n_frames - snippet_len:] = n_snippets_ - 1      # the last snippet is the last L frames
    return owner


def snippets_to_frames(snippet_scores: np.ndarray, n_frames: int, snippet_len: int = SNIPPET_LEN,
                       tail: str = "pad") -> np.ndarray:
    """Frame scores ``[n_frames]`` from snippet scores ``[snippets]`` (see the module docstring)."""
    scores = np.asarray(snippet_scores, dtype=np.float32).reshape(-1)
    if scores.size == 0:
        raise ValueError("no snippet scores to map to frames")
    return scores[frame_owner(scores.size, int(n_frames), snippet_len, tail)]


def frames_of_snippets(count: int, snippet_len: int = SNIPPET_LEN, tail: str = "pad") -> tuple[int, int]:
    """The frame counts ``(lowest, highest)`` a video may have when it has ``count`` snippets under the
    tail rule: ``pad`` and ``slide`` ``(L (count - 1) + 1, L count)``, ``drop`` ``(L count, L count +
    L - 1)`` (a video of fewer than ``L`` frames has one snippet under every rule)."""
    check_tail(tail)
    if count <= 0:
        raise ValueError(f"a video has at least one snippet, got {count}")
    if tail == "drop":
        return (1 if count == 1 else snippet_len * count), snippet_len * count + snippet_len - 1
    return snippet_len * (count - 1) + 1, snippet_len * count
