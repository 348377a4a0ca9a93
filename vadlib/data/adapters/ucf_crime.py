"""UCF-Crime ("Real-world Anomaly Detection in Surveillance Videos", CVPR 2018), weakly supervised.

Public release (each path a config key, relative to the root)::

    UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits/Anomaly_Train.txt    train_list
        Abuse/Abuse001_x264.mp4, Training_Normal_Videos_Anomaly/Normal_Videos308_x264.mp4, ...
    UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits/Anomaly_Test.txt     test_list (optional)
    Temporal_Anomaly_Annotation_for_Testing_Videos.txt                         annotations
        Arrest001_x264.mp4  Arrest  4269  4319  -1  -1
    Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4, Training-Normal-Videos-Part-1/..., ...

Training videos are the lines of ``train_list``; test videos are the lines of ``annotations``, located
through ``test_list`` when it exists. The video-level label comes from the class (a class or folder
whose name contains "Normal" is normal, 0). A list line ``Class/name.mp4`` is looked up in each folder
of ``video_dirs`` (glob patterns, in order) as ``Class/name.mp4``, then as ``name.mp4``, so both the
release's part folders and a single ``Videos/<Class>/`` tree are found.

Annotation frame numbers follow the authors' evaluation code (``Evaluate_Anomaly_Detector.m``): they
are 1-based, both ends inclusive, and each interval is clipped to the video (``GT(max(s,1) :
min(e,n)) = 1``); -1 marks an absent second interval. An interval left empty by clipping is an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from vadlib.data.adapters.base import (Adapter, AdapterError, GroundTruth, Source, check_splits,
                                       fill_frame_counts, interval_labels, read_lines)
from vadlib.data.manifest import VideoEntry

DEFAULTS = {
    "fps": 30.0,  # the release's rate, until build reads each file's own
    "train_list": "UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits/Anomaly_Train.txt",
    "test_list": "UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits/Anomaly_Test.txt",
    "annotations": "Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
    "video_dirs": ["Videos", "Anomaly-Videos-Part-*", "Training-Normal-Videos-Part-*",
                   "Testing_Normal_Videos*", "."],
}
NORMAL_TEST_FOLDER = "Testing_Normal_Videos_Anomaly"  # the test list's folder of normal test videos


class Annotation(NamedTuple):
    where: str                       # file:line
    class_name: str
    intervals: list[tuple[int, int]]  # 1-based, both ends inclusive, as written

    @property
    def label(self) -> int:
        return 0 if _is_normal(self.class_name) else 1


def _is_normal(class_name: str) -> bool:
    return "normal" in class_name.lower()


def _class_of(rel: str) -> str:
    """The class of a list line: its folder, or the letters that start a bare file name."""
    folder, name = os.path.split(rel)
    return folder.split("/")[0] if folder else re.match(r"[A-Za-z]*", name).group()


class _Finder:
    """Locates list lines in the folders of ``video_dirs`` (stat calls only)."""

    def __init__(self, src: Source):
        patterns = src["video_dirs"]
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.dirs: list[Path] = []
        for pattern in patterns:
            matches = sorted(src.root.glob(pattern)) if any(c in pattern for c in "*?[") else [src.root / pattern]
            self.dirs += [d for d in matches if d.is_dir() and d not in self.dirs]
        self.where = f"{src.root} folders {patterns} (dataset field 'video_dirs')"
        if not self.dirs:
            raise AdapterError(f"{src.root}: none of the folders {patterns} exists (dataset field 'video_dirs')")

    def find(self, rel: str, where: str) -> str:
        name = os.path.basename(rel)
        for folder in self.dirs:
            for candidate in (folder / rel, folder / name):
                if candidate.is_file():
                    return str(candidate)
        raise AdapterError(f"{where}: video '{rel}' is not found in {self.where}")


def _list_path(text: str) -> str:
    return text.split()[0].replace("\\", "/")


def _annotations(src: Source) -> dict[str, Annotation]:
    """Video file name -> its annotation, from the temporal annotation file."""
    path = src.path("annotations")
    annotations: dict[str, Annotation] = {}
    for lineno, text in read_lines(path, "annotations"):
        where = f"{path}:{lineno}"
        tokens = text.split()
        numbers = [int(t) for t in tokens[2:] if re.fullmatch(r"-?\d+", t)]
        if len(tokens) < 4 or len(numbers) != len(tokens) - 2 or len(numbers) % 2:
            raise AdapterError(f"{where}: expected 'video class start end [start end]', got {text!r}")
        name, class_name = os.path.basename(tokens[0]), tokens[1]
        intervals = []
        for start, end in zip(numbers[::2], numbers[1::2]):
            if (start < 0) != (end < 0):
                raise AdapterError(f"{where}: interval ({start}, {end}) of '{name}' has only one end set")
            if start >= 0:
                intervals.append((start, end))
        annotation = Annotation(where, class_name, intervals)
        if annotation.label != bool(intervals):
            raise AdapterError(f"{where}: class '{class_name}' of '{name}' is {'ab' * annotation.label}normal, "
                               f"but the line has {len(intervals)} anomaly interval(s)")
        if name in annotations:
            raise AdapterError(f"{where}: video '{name}' is annotated twice (also {annotations[name].where})")
        annotations[name] = annotation
    return annotations


def _test_locations(src: Source, annotations: dict[str, Annotation]) -> dict[str, tuple[str, str]]:
    """File name -> (list path, where) of the test list's lines, when the test list exists."""
    path = src.path("test_list") if src["test_list"] else None
    if path is None or not path.is_file():
        return {}
    located = {}
    for lineno, text in read_lines(path, "test_list"):
        rel = _list_path(text)
        if os.path.basename(rel) not in annotations:
            raise AdapterError(f"{path}:{lineno}: test video '{rel}' has no line in {src.path('annotations')} "
                               "(dataset field 'annotations')")
        located[os.path.basename(rel)] = (rel, f"{path}:{lineno}")
    return located


def _scan(src: Source) -> tuple[list[VideoEntry], dict[str, Annotation]]:
    finder = _Finder(src)
    entries: dict[str, VideoEntry] = {}
    train_list = src.path("train_list")
    for lineno, text in read_lines(train_list, "train_list"):
        rel, where = _list_path(text), f"{train_list}:{lineno}"
        video = os.path.splitext(os.path.basename(rel))[0]
        if video in entries:
            raise AdapterError(f"{where}: video '{video}' is listed twice")
        label = 0 if _is_normal(_class_of(rel)) else 1
        entries[video] = VideoEntry(video, finder.find(rel, where), "video", label, split_weak="train",
                                    fps=src["fps"])
    annotations = _annotations(src)
    located = _test_locations(src, annotations)
    by_video = {}
    for name, annotation in annotations.items():
        video = os.path.splitext(name)[0]
        if video in entries:
            raise AdapterError(f"{annotation.where}: test video '{video}' is also a training video ({train_list})")
        folder = NORMAL_TEST_FOLDER if annotation.label == 0 else annotation.class_name
        rel, where = located.get(name, (f"{folder}/{name}", annotation.where))
        entries[video] = VideoEntry(video, finder.find(rel, where), "video", annotation.label, split_weak="test",
                                    fps=src["fps"])
        by_video[video] = annotation
    listed = list(entries.values())
    check_splits(listed, src.protocols, f"{src.root} (adapter 'ucf_crime')")
    return listed, by_video


def list_videos(src: Source) -> list[VideoEntry]:
    return _scan(src)[0]


def build(src: Source) -> tuple[list[VideoEntry], GroundTruth]:
    entries, annotations = _scan(src)
    entries = fill_frame_counts(entries, "ucf_crime: frame counts")
    truth = {}
    for e in entries:
        if e.video in annotations:
            where, _, intervals = annotations[e.video]
            # 1-based inclusive [s, e] clipped to the video, as 0-based [max(s, 1) - 1, min(e, n))
            clipped = [(max(start, 1) - 1, min(end, e.n_frames)) for start, end in intervals]
            for (start, end), (first, stop) in zip(intervals, clipped):
                if first >= stop:
                    raise AdapterError(f"{where}: anomaly interval {start} .. {end} (1-based, inclusive) of video "
                                       f"'{e.video}' lies outside its {e.n_frames} frames ({e.source})")
            truth[e.video] = interval_labels(e.n_frames, clipped, e.video, where)
    return entries, truth


ADAPTER = Adapter("ucf_crime", ("weak",), DEFAULTS, list_videos, build)
