"""Training and test data of the weakly supervised detectors: feature stores in, tensors out.

A *bag* is what one multiple-instance-learning example sees: a sequence of snippet features of one
video, either with all its crops (``crops="all"``: the model scores every crop and averages the
scores), with a single crop (``crops="each"``: every crop of a video is a bag of its own, as the
crop-wise lists of the published weakly supervised code bases do), or with the crops averaged into
one vector per snippet (``crops="mean"``: ten times cheaper, for small machines; test videos are then
scored on crop-averaged features too).

Three shared pieces live here and nowhere else:

- :func:`resample` turns a ``[T, ...]`` sequence into ``S`` segments, by linear interpolation
  (MT-VAE paper, sec. 3.1) or by averaging the snippets that fall into each segment (the published
  RTFM code's ``process_feat``);
- :func:`uniform_indices` picks at most ``n`` snippets spread evenly over a video (LA-Net's 200
  uniformly sampled snippets);
- :class:`BagSet` and :class:`BatchSampler` hold the bags in memory and draw (optionally class-balanced)
  batches of them, epoch after epoch, from a seeded generator.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vadlib.runtime import atomic_output, progress
from vadlib.stores import StoreError, open_store

PSEUDO_COLUMNS = ("name", "label", "source_video", "kind", "path")


# ----------------------------------------------------------------------------------------------
# Reading feature stores
# ----------------------------------------------------------------------------------------------

def read_features(path: str | os.PathLike, dim: int) -> np.ndarray:
    """The ``[snippets, crops, dim]`` float32 features of one checked store; NaN or Inf fails naming it
    (training and scoring read every store through here)."""
    store = open_store(path, "features", feature=dim)
    if len(store) == 0:
        raise StoreError(f"{path}: axis 'snippet' is empty")
    return np.asarray(store.read(finite=True), dtype=np.float32)


CROP_MODES = ("all", "each", "mean")


def reduce_crops(x: np.ndarray, crops: str) -> np.ndarray:
    """``[T, C, D]`` features as a model trained with ``crops`` sees them (``mean``: ``[T, 1, D]``)."""
    if crops not in CROP_MODES:
        raise ValueError(f"crops must be one of {CROP_MODES}, got {crops!r}")
    return x.mean(axis=1, keepdims=True) if crops == "mean" else x


def features_pretrained(paths: Mapping[str, str | os.PathLike]) -> bool:
    """Whether any of the feature stores came from an extractor with pretrained weights."""
    return any(bool(open_store(p, "features").attrs["pretrained"]) for p in paths.values())


def check_labels(features: Mapping[str, str], labels: Mapping[str, int], where: str = "training set") -> None:
    """Every video has both a store and a 0/1 label."""
    missing = sorted(set(features) - set(labels))
    extra = sorted(set(labels) - set(features))
    if missing or extra:
        raise ValueError(f"{where}: videos without a label {missing[:5]}, labels without features {extra[:5]}")
    bad = [v for v, y in labels.items() if int(y) not in (0, 1)]
    if bad:
        raise ValueError(f"{where}: field 'label' must be 0 or 1 (videos {bad[:5]})")
    counts = np.bincount([int(y) for y in labels.values()], minlength=2)
    if counts.min() == 0:
        raise ValueError(f"{where}: needs normal and abnormal videos, got {counts[0]} normal and {counts[1]} abnormal")


# ----------------------------------------------------------------------------------------------
# Temporal resampling
# ----------------------------------------------------------------------------------------------

def resample(x: np.ndarray, segments: int, mode: str = "linear") -> np.ndarray:
    """``[T, ...]`` -> ``[segments, ...]``.

    ``linear``: segment ``i`` is the linear interpolation of the sequence at position
    ``i (T - 1) / (segments - 1)`` (both ends kept; shorter videos are upsampled the same way).
    ``mean``: the snippets are cut into ``segments`` contiguous groups (boundaries
    ``linspace(0, T, segments + 1)`` rounded down) and each group is averaged; an empty group takes
    the snippet at its start, as the published RTFM code does.
    """
    x = np.asarray(x, dtype=np.float32)
    t = len(x)
    if t == 0:
        raise ValueError("cannot resample an empty sequence")
    if segments < 1:
        raise ValueError(f"segments must be at least 1, got {segments}")
    if mode == "linear":
        if segments == 1:
            return x.mean(axis=0, keepdims=True) if t > 1 else x.copy()
        pos = np.linspace(0.0, t - 1, segments)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, t - 1)
        w = (pos - lo).reshape((-1,) + (1,) * (x.ndim - 1)).astype(np.float32)
        return (1.0 - w) * x[lo] + w * x[hi]
    if mode == "mean":
        bounds = np.linspace(0, t, segments + 1).astype(int)
        out = np.empty((segments,) + x.shape[1:], dtype=np.float32)
        for i in range(segments):
            a, b = bounds[i], bounds[i + 1]
            out[i] = x[a:b].mean(axis=0) if b > a else x[min(a, t - 1)]
        return out
    raise ValueError(f"resample mode must be 'linear' or 'mean', got {mode!r}")


def uniform_indices(t: int, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """At most ``n`` sorted snippet indices spread evenly over ``t`` snippets.

    Videos of ``t <= n`` snippets keep every snippet. Longer ones are cut into ``n`` equal spans and
    one snippet is taken from each: the span's first snippet without ``rng`` (deterministic), a
    random one with it.
    """
    if t <= n:
        return np.arange(t)
    bounds = np.linspace(0, t, n + 1)
    lo = np.floor(bounds[:-1]).astype(int)
    hi = np.maximum(np.floor(bounds[1:]).astype(int), lo + 1)
    if rng is None:
        return lo
    return lo + np.floor(rng.random(n) * (hi - lo)).astype(int)


# ----------------------------------------------------------------------------------------------
# Bags and batches
# ----------------------------------------------------------------------------------------------

@dataclass
class Batch:
    """One training batch: ``x`` ``[B, T, C, D]`` float32, ``lengths`` ``[B]`` valid snippets, ``labels`` ``[B]``."""

    x: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray


class BagSet:
    """Videos held in memory (float16), each ``[T_v, C, D]``, with labels; bags are (video, crops).

    ``crops="all"``: one bag per video with all its crops; ``crops="each"``: one bag per (video, crop).
    (``crops="mean"`` is applied when loading, see :func:`load_bags`: its arrays have one crop.)
    """

    def __init__(self, videos: list[str], arrays: list[np.ndarray], labels: list[int], crops: str = "all"):
        if crops not in ("all", "each"):
            raise ValueError(f"a BagSet's crops must be 'all' or 'each', got {crops!r}")
        n_crops = {a.shape[1] for a in arrays}
        if len(n_crops) > 1:
            raise ValueError(f"every video must have the same number of crops, got {sorted(n_crops)}")
        self.videos = list(videos)
        self.arrays = [np.asarray(a, dtype=np.float16) for a in arrays]
        self.video_labels = np.asarray(labels, dtype=np.int64)
        self.crops = crops
        c = next(iter(n_crops))
        if crops == "all":
            self.bags = [(v, None) for v in range(len(self.arrays))]
        else:
            self.bags = [(v, k) for v in range(len(self.arrays)) for k in range(c)]
        self.labels = np.asarray([self.video_labels[v] for v, _ in self.bags], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.bags)

    def batch(self, index: np.ndarray) -> Batch:
        """Stack the bags ``index``; shorter sequences are zero-padded at the end."""
        parts = []
        for i in index:
            v, k = self.bags[int(i)]
            a = self.arrays[v]
            parts.append(a if k is None else a[:, k:k + 1])
        lengths = np.asarray([len(p) for p in parts], dtype=np.int64)
        t, c, d = int(lengths.max()), parts[0].shape[1], parts[0].shape[2]
        x = np.zeros((len(parts), t, c, d), dtype=np.float32)
        for j, p in enumerate(parts):
            x[j, :len(p)] = p
        return Batch(x, lengths, self.labels[np.asarray(index, dtype=np.int64)])


def load_bags(features: Mapping[str, str], labels: Mapping[str, int], dim: int, crops: str,
              segments: int | None = None, resample_mode: str = "linear", max_snippets: int | None = None,
              desc: str = "loading features") -> BagSet:
    """Read every store once, reduce it and keep it in memory as a :class:`BagSet`.

    With ``segments`` each video is resampled to exactly that many segments (:func:`resample`); with
    ``max_snippets`` videos longer than that keep :func:`uniform_indices` of their snippets, chosen once
    (the first snippet of each of ``max_snippets`` equal spans) so that the bags can live in memory.
    """
    videos, arrays = list(features), []
    for video in progress(videos, desc=desc, unit="video"):
        x = reduce_crops(read_features(features[video], dim), crops)
        if segments is not None:
            x = resample(x, segments, resample_mode)
        elif max_snippets is not None:
            x = x[uniform_indices(len(x), max_snippets)]
        arrays.append(x)
    return BagSet(videos, arrays, [int(labels[v]) for v in videos], "all" if crops == "mean" else crops)


class BatchSampler:
    """An endless stream of index batches over bags with ``labels``, epoch after epoch.

    ``balanced=False``: each epoch is one shuffled pass over all bags in batches of ``batch_size``
    (the last batch may be smaller). ``balanced=True``: each batch holds ``batch_size // 2`` normal
    and as many abnormal bags (normal ones first), each class drawn from its own reshuffled stream;
    an epoch is one pass over the larger class. When a class has fewer bags than half a batch, the
    half-batch shrinks to the size of the smaller class so that no bag appears twice in a batch.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, balanced: bool, rng: np.random.Generator):
        self.labels = np.asarray(labels, dtype=np.int64)
        self.rng = rng
        self.balanced = balanced
        if batch_size < (2 if balanced else 1):
            raise ValueError(f"batch_size must be at least {2 if balanced else 1}, got {batch_size}")
        if balanced:
            self.classes = [np.flatnonzero(self.labels == c) for c in (0, 1)]
            if min(len(c) for c in self.classes) == 0:
                raise ValueError("balanced batches need bags of both labels")
            self.half = min(batch_size // 2, *(len(c) for c in self.classes))
            self.steps_per_epoch = math.ceil(max(len(c) for c in self.classes) / self.half)
        else:
            self.batch_size = min(batch_size, len(self.labels))
            self.steps_per_epoch = math.ceil(len(self.labels) / self.batch_size)

    def _stream(self, pool: np.ndarray) -> Iterator[int]:
        while True:
            yield from pool[self.rng.permutation(len(pool))]

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.balanced:
            streams = [self._stream(c) for c in self.classes]
            while True:
                yield np.asarray([next(s) for s in streams for _ in range(self.half)])
        while True:
            order = self.rng.permutation(len(self.labels))
            for start in range(0, len(order), self.batch_size):
                yield order[start:start + self.batch_size]


def holdout(videos: list[str], labels: Mapping[str, int], fraction: float,
            rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Split ``videos`` into (train, validation), holding out ``fraction`` of each label separately."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    val: list[str] = []
    for label in (0, 1):
        pool = [v for v in videos if int(labels[v]) == label]
        n = int(round(fraction * len(pool)))
        n = min(n, len(pool) - 1) if pool else 0
        val += [pool[i] for i in sorted(rng.choice(len(pool), size=n, replace=False))] if n > 0 else []
    held = set(val)
    return [v for v in videos if v not in held], [v for v in videos if v in held]


# ----------------------------------------------------------------------------------------------
# Pseudo-video index
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PseudoEntry:
    name: str
    label: int
    source_video: str
    kind: str
    path: str


def write_pseudo_index(path: str | os.PathLike, entries: list[PseudoEntry]) -> None:
    """Write the pseudo-video index CSV atomically (paths relative to the index's folder)."""
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(PSEUDO_COLUMNS)
        for e in entries:
            rel = os.path.relpath(e.path, path.parent.resolve()) if os.path.isabs(e.path) else e.path
            writer.writerow([e.name, e.label, e.source_video, e.kind, rel])


def read_pseudo_index(path: str | os.PathLike) -> list[PseudoEntry]:
    """Read a pseudo-video index; store paths come back resolved against the index's folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such pseudo-video index")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in PSEUDO_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: columns {missing} are missing")
        rows = list(reader)
    entries = []
    for i, row in enumerate(rows, start=2):
        if row["label"] not in ("0", "1"):
            raise ValueError(f"{path}: line {i}: field 'label' must be 0 or 1, got {row['label']!r}")
        entries.append(PseudoEntry(row["name"], int(row["label"]), row["source_video"], row["kind"],
                                   str(path.parent / row["path"])))
    return entries


def with_pseudo(features: Mapping[str, str], labels: Mapping[str, int], pseudo_index: str | None,
                exclude_sources: set[str] = frozenset()) -> tuple[dict[str, str], dict[str, int]]:
    """The training set plus the pseudo videos of ``pseudo_index`` (none made from ``exclude_sources``)."""
    features, labels = dict(features), {v: int(y) for v, y in labels.items()}
    if pseudo_index is None:
        return features, labels
    for e in read_pseudo_index(pseudo_index):
        if e.source_video in exclude_sources:
            continue
        if e.name in features:
            raise ValueError(f"{pseudo_index}: pseudo video {e.name!r} has the name of a training video")
        features[e.name], labels[e.name] = e.path, e.label
    return features, labels
