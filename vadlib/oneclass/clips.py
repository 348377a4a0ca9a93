"""Clips of frames, inpainted frames and optical flow at the models' resolution, and how they are drawn.

A *video source* opens one checked store (:func:`vadlib.stores.open_store`), resizes it to the model's
``size`` and returns clips ``[C, L, H, W]`` as float32:

- frames / inpainted frames: grayscale (``gray=True``, ITU-R 601 luma) or RGB, scaled to [-1, 1];
- flow: the two displacement channels in pixels *of the model's grid*: a flow store of size H x W
  (which may differ from its frames' size when flow was computed at another resolution) is resized to
  H' x W' and x is scaled by W'/W, y by H'/H, so resizing never changes what a displacement means.

Sources keep the resized video in memory (uint8 frames, float16 flow) when ``preload`` is true (the
default; set it false for datasets that do not fit, and clips are then read and resized on demand).

Windows. A clip of ``span`` frames starting at ``s`` covers ``s .. s + span - 1``; the windows of a
video start every ``stride`` frames and the last one always ends on the last frame, so every frame is
covered. A video shorter than ``span`` gives one window whose indices are clamped to the last frame
(the last frame repeated), the same convention as the snippet padding of :mod:`vadlib.snippets`.

Playback rate (LUSS-AE, eq. 5). With probability ``p`` a PRP clip of T frames is *accelerated*: its
frames are taken every ``s`` frames, ``s`` drawn uniformly from the strides that fit in the video, and
its label is 1; otherwise it is played at the normal rate (stride 1, label 0).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vadlib.stores import StoreError, open_store


def parse_size(size) -> tuple[int, int]:
    """``256`` -> ``(256, 256)``; ``[H, W]`` -> ``(H, W)``."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"size must be an int or [H, W], got {size!r}")


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] or w < image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class _Source:
    """Common part: a checked store read in time ranges, resized, optionally kept in memory."""

    kind = ""
    block = 256  # frames read at once while preloading

    def __init__(self, path: str, size, preload: bool = True, **expect: int):
        self.store = open_store(path, self.kind, **expect)
        self.path = str(path)
        self.size = parse_size(size)
        self._cache = None
        if preload:
            n = len(self.store)
            self._cache = np.concatenate([self._convert(self.store.data[a:min(a + self.block, n)])
                                          for a in range(0, n, self.block)]) if n else self._convert(
                self.store.data[0:0])

    def __len__(self) -> int:
        return len(self.store)

    def _convert(self, raw: np.ndarray) -> np.ndarray:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"{self.path}: indices {indices.min()}..{indices.max()} outside 0..{len(self) - 1}")
        if self._cache is not None:
            return self._cache[indices]
        lo, hi = int(indices.min()), int(indices.max()) + 1
        return self._convert(self.store.data[lo:hi])[indices - lo]


class FrameSource(_Source):
    """Frames (``kind="frames"``) or inpainted frames (``kind="inpainted"``) of one video."""

    def __init__(self, path: str, size, gray: bool = False, kind: str = "frames", preload: bool = True,
                 **expect: int):
        if kind not in ("frames", "inpainted"):
            raise ValueError(f"FrameSource reads frames or inpainted stores, not {kind!r}")
        self.kind = kind
        self.gray = gray
        super().__init__(path, size, preload, **expect)
        channels = self.store.shape[3]
        if channels not in (1, 3):
            raise StoreError(f"{path}: axis 'channel' has size {channels}, expected 1 or 3")

    @property
    def channels(self) -> int:
        return 1 if self.gray else 3

    def _convert(self, raw: np.ndarray) -> np.ndarray:
        out = np.empty((len(raw), *self.size, self.channels), dtype=np.uint8)
        for i, frame in enumerate(raw):
            if self.gray and frame.shape[-1] == 3:
                frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]
            elif not self.gray and frame.shape[-1] == 1:
                frame = np.repeat(frame, 3, axis=-1)
            resized = _resize(frame, self.size)
            out[i] = resized.reshape(*self.size, self.channels)
        return out

    def clip(self, indices: np.ndarray) -> np.ndarray:
        """Frames at ``indices`` as float32 ``[C, L, H, W]`` in [-1, 1]."""
        rows = self._rows(indices).astype(np.float32) / 127.5 - 1.0
        return np.ascontiguousarray(rows.transpose(3, 0, 1, 2))


class FlowSource(_Source):
    """Optical flow ``[T-1, H, W, 2]`` of one video (flow ``t`` goes from frame ``t`` to ``t + 1``)."""

    kind = "flow"

    def __init__(self, path: str, size, preload: bool = True, **expect: int):
        super().__init__(path, size, preload, **expect)

    def _convert(self, raw: np.ndarray) -> np.ndarray:
        h0, w0 = raw.shape[1:3]
        h, w = self.size
        out = np.empty((len(raw), h, w, 2), dtype=np.float16)
        for i, field in enumerate(raw):
            resized = _resize(field.astype(np.float32), self.size)
            resized[..., 0] *= w / w0
            resized[..., 1] *= h / h0
            out[i] = resized
        return out

    def clip(self, indices: np.ndarray) -> np.ndarray:
        """Flow fields at ``indices`` as float32 ``[2, L, H, W]`` (pixels of the resized frames)."""
        rows = self._rows(indices).astype(np.float32)
        return np.ascontiguousarray(rows.transpose(3, 0, 1, 2))


def mask_flags(path: str, n_frames: int) -> np.ndarray:
    """``[T]`` bool: which frames of a masks store have at least one masked pixel."""
    store = open_store(path, "masks", time=n_frames)
    flags = np.zeros(n_frames, dtype=bool)
    for a in range(0, n_frames, 256):
        block = store.data[a:min(a + 256, n_frames)]
        flags[a:a + len(block)] = block.reshape(len(block), -1).any(axis=1)
    return flags


def flow_scale(flows: Sequence[FlowSource], rng: np.random.Generator, samples: int = 256,
               percentile: float = 99.9) -> float:
    """A robust magnitude of the training flow (the ``percentile`` of |u|, |v| over the pixels of
    ``samples`` random fields), used to bring flow to a range comparable with frames; 1 when the flow is
    all zero. The 99.9th percentile (not the 99th): in surveillance video most pixels are static
    background, and the scale must reflect the moving ones."""
    values = []
    for _ in range(samples):
        video = flows[int(rng.integers(len(flows)))]
        if len(video):
            values.append(np.abs(video.clip(np.array([rng.integers(len(video))]))).ravel())
    if not values:
        return 1.0
    scale = float(np.percentile(np.concatenate(values), percentile))
    return scale if scale > 0 else 1.0


def window_starts(n_frames: int, span: int, stride: int = 1) -> np.ndarray:
    """Starts of the windows of ``span`` frames every ``stride`` frames, the last one ending on the
    last frame; ``[0]`` when the video is shorter than ``span``."""
    if n_frames <= 0:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    if stride < 1:
        raise ValueError(f"window stride must be >= 1, got {stride}")
    last = n_frames - span
    if last <= 0:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, last + 1, stride, dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def clip_indices(start: int, length: int, n_frames: int, step: int = 1) -> np.ndarray:
    """``start, start + step, ...`` (``length`` indices), clamped to the last frame."""
    return np.minimum(start + step * np.arange(length, dtype=np.int64), n_frames - 1)


def playback_clip(rng: np.random.Generator, n_frames: int, start: int, length: int,
                  strides: Sequence[int] = (2, 3, 4, 5), p_accelerated: float = 0.5) -> tuple[np.ndarray, int]:
    """Indices of a clip of ``length`` frames and its playback-rate label (1: accelerated).

    With probability ``p_accelerated`` a stride ``s`` is drawn uniformly from the ``strides`` that fit
    (``s * (length - 1) < n_frames``); the clip starts at ``min(start, n_frames - 1 - s (length - 1))``
    and takes every ``s``-th frame. Otherwise (or when no stride fits) it is the normal-rate clip at
    ``start`` (indices clamped, see :func:`clip_indices`).
    """
    if rng.random() < p_accelerated:
        fitting = [s for s in strides if s * (length - 1) < n_frames]
        if fitting:
            s = int(fitting[int(rng.integers(len(fitting)))])
            first = min(int(start), n_frames - 1 - s * (length - 1))
            return first + s * np.arange(length, dtype=np.int64), 1
    return clip_indices(int(start), length, n_frames), 0


@dataclass
class Windows:
    """Every training window ``(video, start)`` of a set of videos, drawn in shuffled epochs."""

    lengths: Sequence[int]
    span: int
    stride: int = 1

    def __post_init__(self):
        pairs = [np.stack([np.full(len(s), v), s], axis=1)
                 for v, n in enumerate(self.lengths) for s in [window_starts(int(n), self.span, self.stride)]]
        if not pairs:
            raise ValueError("no training videos")
        self.pairs = np.concatenate(pairs).astype(np.int64)

    def __len__(self) -> int:
        return len(self.pairs)

    def n_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def epoch(self, rng: np.random.Generator, batch_size: int) -> Iterator[np.ndarray]:
        """One epoch: every window once, shuffled, in batches ``[b, 2]`` of (video, start)."""
        order = rng.permutation(len(self.pairs))
        for a in range(0, len(order), batch_size):
            yield self.pairs[order[a:a + batch_size]]
