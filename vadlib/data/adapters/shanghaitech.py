"""ShanghaiTech Campus ("A Revisit of Sparse Coding Based Anomaly Detection in Stacked RNN
Framework", ICCV 2017), with the weakly supervised split of "Graph Convolutional Label Noise Cleaner"
(CVPR 2019).

Public layout (each path a config key, relative to the root)::

    training/videos/01_001.avi ...           train_dir    330 training videos, all normal
    testing/frames/01_0014/000.jpg ...       test_dir     107 test videos as frame folders
    testing/test_frame_mask/01_0014.npy      test_masks   per-frame labels (0/1) of each test video
    SH_Train.txt, SH_Test.txt                weak_train_list, weak_test_list: one video id per line

One-class protocol: the training videos against the test videos. Weakly supervised protocol: the two
lists (238 / 199 videos), which mix training videos and test frame folders; a video is abnormal when
its frame mask holds an anomalous frame, a training video is normal throughout. Video ids are the file
and folder names ("01_001", "01_0014"); the scene is the camera prefix ("01"). Either folder may hold
video files or frame folders.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from vadlib.data.adapters.base import (
    VIDEO_SUFFIXES,
    Adapter,
    AdapterError,
    GroundTruth,
    Source,
    check_splits,
    fill_frame_counts,
    frame_labels,
    is_test,
    read_lines,
    scan_sources,
    select,
)
from vadlib.data.manifest import VideoEntry

DEFAULTS = {
    "fps": 24.0,  # nominal rate of frame folders (and of video files until build reads theirs)
    "train_dir": "training/videos",
    "test_dir": "testing/frames",
    "test_masks": "testing/test_frame_mask",
    "weak_train_list": "SH_Train.txt",
    "weak_test_list": "SH_Test.txt",
}

Masks = dict[str, tuple[Path, np.ndarray]]


def _list_id(text: str) -> str:
    """The video id of a split-list line: its first token, without folders or a file suffix."""
    name = os.path.basename(text.split()[0])
    stem, suffix = os.path.splitext(name)
    return stem if suffix.lower() in VIDEO_SUFFIXES | {".npy"} else name


def _masks(src: Source, test: dict[str, VideoEntry]) -> Masks:
    """The frame mask of every test video, checked against its frame count where it is known."""
    folder = src.path("test_masks")
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such folder (dataset field 'test_masks')")
    masks = {}
    for video, e in test.items():
        path = folder / f"{video}.npy"
        if not path.is_file():
            raise AdapterError(f"{path}: no frame mask for test video '{video}' ({e.source}) "
                               "(dataset field 'test_masks')")
        n_frames = e.n_frames if e.n_frames >= 0 else None
        masks[video] = (path, frame_labels(np.load(path), n_frames, video, path))
    return masks


def _weak_splits(src: Source, known: dict[str, VideoEntry]) -> dict[str, str]:
    """Video id -> "train" / "test" from the weakly supervised split lists."""
    splits: dict[str, str] = {}
    for split, key in (("train", "weak_train_list"), ("test", "weak_test_list")):
        path = src.path(key)
        for lineno, text in read_lines(path, key):
            video = _list_id(text)
            if video not in known:
                raise AdapterError(f"{path}:{lineno}: video '{video}' is neither under {src.path('train_dir')} "
                                   f"nor under {src.path('test_dir')} (dataset field '{key}')")
            if video in splits:
                raise AdapterError(f"{path}:{lineno}: video '{video}' is listed twice (already in the weak "
                                   f"{splits[video]} split) (dataset field '{key}')")
            splits[video] = split
    return splits


def _scan(src: Source) -> tuple[list[VideoEntry], Masks]:
    train = scan_sources(src.path("train_dir"), "train_dir", src["fps"])
    test = scan_sources(src.path("test_dir"), "test_dir", src["fps"])
    both = sorted(set(train) & set(test))
    if both:
        raise AdapterError(f"{src.path('test_dir')}: videos {both[:5]} are also under {src.path('train_dir')}")
    masks = _masks(src, test)
    weak = _weak_splits(src, {**train, **test}) if "weak" in src.protocols else {}
    entries = [replace(e, scene=video.split("_")[0], label=int(video in masks and masks[video][1].any()),
                       split_oneclass="train" if video in train else "test", split_weak=weak.get(video, ""))
               for video, e in [*train.items(), *test.items()]]
    entries = select(entries, src.protocols)
    check_splits(entries, src.protocols, f"{src.root} (adapter 'shanghaitech')")
    return entries, masks


def list_videos(src: Source) -> list[VideoEntry]:
    return _scan(src)[0]


def build(src: Source) -> tuple[list[VideoEntry], GroundTruth]:
    entries, masks = _scan(src)
    entries = fill_frame_counts(entries, "shanghaitech: frame counts")
    truth = {}
    for e in filter(is_test, entries):
        if e.video in masks:
            path, labels = masks[e.video]
            truth[e.video] = frame_labels(labels, e.n_frames, e.video, path)
        else:  # a training video in the weak test split: normal throughout
            truth[e.video] = np.zeros(e.n_frames, np.uint8)
    return entries, truth


ADAPTER = Adapter("shanghaitech", ("oneclass", "weak"), DEFAULTS, list_videos, build)
