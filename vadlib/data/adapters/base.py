"""What every dataset adapter shares: the adapter record, its resolved config, and the helpers that
list sources, read list files and turn label files into per-frame labels.

An adapter has two entry points. ``list_videos`` runs when the workflow builds its DAG: it reads
directory listings and list files only, never a video, so a frame count is known for frame folders
(their images are counted) and is -1 for video files. ``build`` fills every frame count and fps from
the sources and returns the frame-level ground truth of every test video.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vadlib.data.manifest import PROTOCOLS, ManifestError, VideoEntry
from vadlib.runtime import progress

# The decoder's image suffixes (vadlib.data.decode), so that a listing counts what decoding reads.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov", ".mpg", ".mpeg", ".m4v", ".webm", ".wmv"})

GroundTruth = dict[str, np.ndarray]


class AdapterError(ManifestError):
    """A dataset's files do not match the layout its adapter expects."""


@dataclass(frozen=True)
class Source:
    """A dataset config resolved for one adapter: root, protocols, and options with defaults filled."""

    adapter: str
    root: Path
    protocols: tuple[str, ...]
    options: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.options[key]

    def path(self, key: str) -> Path:
        """The path that option ``key`` names; a relative one is taken from the root."""
        return self.root / os.path.expanduser(str(self.options[key]))

    def existing(self, key: str) -> Path:
        """:meth:`path`, failing with the field's name when nothing is there."""
        path = self.path(key)
        if not path.exists():
            raise AdapterError(f"{path}: no such file or folder (dataset field '{key}': "
                               f"{self.options[key]!r} under root {self.root})")
        return path


@dataclass(frozen=True)
class Adapter:
    """One dataset layout: the protocols it supports, its options' defaults and its two entry points."""

    name: str
    protocols: tuple[str, ...]
    defaults: Mapping[str, Any]
    list_videos: Callable[[Source], list[VideoEntry]]
    build: Callable[[Source], tuple[list[VideoEntry], GroundTruth]]
    generated: bool = False  # its sources are written by a workflow rule, so absent at DAG-build time
    # the files besides the videos that the manifest is made of (lists, labels), for a workflow to
    # name as the manifest's inputs; None: the adapter names none
    inputs: Callable[[Source], list[Path]] | None = None

    def resolve(self, cfg: Mapping[str, Any], require_root: bool = True) -> Source:
        """Check the keys every dataset config has and fill the adapter's defaults.

        ``protocols`` defaults to every protocol the adapter supports.
        """
        if not cfg.get("root"):
            raise AdapterError(f"dataset config (adapter '{self.name}'): field 'root' is missing")
        root = Path(os.path.expanduser(str(cfg["root"])))
        if require_root and not root.is_dir():
            raise AdapterError(f"data not found at {root}: no such folder (dataset field 'root' of adapter "
                               f"'{self.name}')")
        protocols = tuple(cfg.get("protocols") or self.protocols)
        for protocol in protocols:
            if protocol not in PROTOCOLS:
                raise AdapterError(f"dataset config (adapter '{self.name}'): field 'protocols' holds unknown "
                                   f"protocol {protocol!r}; expected some of {list(PROTOCOLS)}")
            if protocol not in self.protocols:
                raise AdapterError(f"dataset config (adapter '{self.name}'): field 'protocols' asks for "
                                   f"{protocol!r}, but this adapter supports only {list(self.protocols)}")
        options = {key: cfg.get(key, value) for key, value in self.defaults.items()}
        return Source(self.name, root, protocols, options)


# --- listing ------------------------------------------------------------------------------------


def count_images(folder: str | os.PathLike) -> int:
    """Number of image files directly in ``folder`` (one directory listing, nothing opened)."""
    with os.scandir(folder) as it:
        return sum(1 for e in it if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)


def scan_sources(folder: Path, field: str, fps: float, pattern: re.Pattern | None = None) -> dict[str, VideoEntry]:
    """Video files and frame folders directly under ``folder`` (hidden entries skipped), by name.

    Each entry holds the name as ``video`` (a file's stem, a folder's name), ``source``,
    ``source_kind``, the nominal ``fps`` and, for a frame folder, ``n_frames``; the caller sets ids,
    labels and splits. Other files are ignored, and so is every folder and video file whose name
    (a file's stem) ``pattern`` does not match in full, before anything in it is counted (a release's
    mask folders beside its frame folders, say).
    """
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such folder (dataset field '{field}')")
    found: dict[str, VideoEntry] = {}
    with os.scandir(folder) as it:
        items = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    for item in items:
        stem, suffix = os.path.splitext(item.name)
        if pattern is not None and not pattern.fullmatch(item.name if item.is_dir() else stem):
            continue
        if item.is_dir():
            name = item.name
            entry = VideoEntry(name, item.path, "frames", 0, n_frames=count_images(item.path), fps=fps)
            if entry.n_frames == 0:
                raise AdapterError(f"{item.path}: the frame folder holds no image ({sorted(IMAGE_SUFFIXES)}) "
                                   f"(dataset field '{field}')")
        elif suffix.lower() in VIDEO_SUFFIXES:
            name, entry = stem, VideoEntry(stem, item.path, "video", 0, fps=fps)
        else:
            continue
        if name in found:
            raise AdapterError(f"{folder}: '{name}' is both a video file and a frame folder "
                               f"(dataset field '{field}')")
        found[name] = entry
    if not found:
        matching = "" if pattern is None else f" whose name matches '{pattern.pattern}'"
        raise AdapterError(f"{folder}: no video file ({sorted(VIDEO_SUFFIXES)}) and no frame folder{matching} "
                           f"(dataset field '{field}')")
    return found


def read_lines(path: Path, field: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of the non-blank lines of a list file that are not ``#`` comments."""
    if not path.is_file():
        raise AdapterError(f"{path}: no such list file (dataset field '{field}')")
    with open(path, encoding="utf-8-sig") as fh:
        lines = [(n, line.strip()) for n, line in enumerate(fh, 1)]
    return [(n, text) for n, text in lines if text and not text.startswith("#")]


def is_test(entry: VideoEntry) -> bool:
    """Whether the video is a test video of some protocol (it then needs ground truth)."""
    return "test" in (entry.split_oneclass, entry.split_weak)


def select(entries: Iterable[VideoEntry], protocols: tuple[str, ...]) -> list[VideoEntry]:
    """Clear the splits of protocols that are off and drop the videos left without any split."""
    kept = []
    for e in entries:
        e = replace(e, **{f"split_{p}": "" for p in PROTOCOLS if p not in protocols})
        if any(e.split(p) for p in protocols):
            kept.append(e)
    return kept


def check_splits(entries: list[VideoEntry], protocols: tuple[str, ...], where: str) -> None:
    """Fail when a split of an enabled protocol is empty."""
    for protocol in protocols:
        for split in ("train", "test"):
            if not any(e.split(protocol) == split for e in entries):
                raise AdapterError(f"{where}: the {split} split of the {protocol} protocol is empty")


# --- building -----------------------------------------------------------------------------------


def fill_frame_counts(entries: list[VideoEntry], desc: str) -> list[VideoEntry]:
    """Frame count and fps of every video file from its container (the decoder's ``video_info``)."""
    from vadlib.data.decode import DecodeError, video_info

    filled = []
    for e in progress(entries, desc=desc, unit="video"):
        if e.source_kind == "video":
            try:
                n_frames, fps, _ = video_info(e.source)
            except DecodeError as err:
                raise AdapterError(f"{err} (video '{e.video}')") from err
            if n_frames <= 0:
                raise AdapterError(f"{e.source}: the video has no frame (video '{e.video}')")
            e = replace(e, n_frames=n_frames, fps=fps if fps > 0 else e.fps)
        filled.append(e)
    return filled


def frame_labels(values: Any, n_frames: int | None, video: str, path: Path | str) -> np.ndarray:
    """Per-frame labels read from ``path``, checked: 0/1 values, one per frame of ``video``
    (``n_frames``; None while the count is unknown)."""
    labels = np.asarray(values).reshape(-1)
    if labels.size and not np.isin(labels, (0, 1)).all():
        bad = sorted(set(np.unique(labels).tolist()) - {0, 1})[:5]
        raise AdapterError(f"{path}: frame labels of video '{video}' must be 0 or 1, found {bad}")
    if n_frames is not None and labels.shape[0] != n_frames:
        raise AdapterError(f"{path}: {labels.shape[0]} frame labels, but video '{video}' has {n_frames} frames")
    return labels.astype(np.uint8)


def interval_labels(n_frames: int, intervals: Iterable[tuple[int, int]], video: str, where: str) -> np.ndarray:
    """Per-frame labels with ones on 0-based ``[start, stop)`` intervals, each inside the video."""
    labels = np.zeros(n_frames, np.uint8)
    for start, stop in intervals:
        if not 0 <= start < stop <= n_frames:
            raise AdapterError(f"{where}: anomaly interval [start, stop) = [{start}, {stop}) of video '{video}' "
                               f"does not lie within its {n_frames} frames")
        labels[start:stop] = 1
    return labels
