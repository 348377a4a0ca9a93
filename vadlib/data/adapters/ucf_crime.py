"""UCF-Crime ("Real-world Anomaly Detection in Surveillance Videos", CVPR 2018), weakly supervised.

Public release (each path a config key, relative to the root)::

    UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits/Anomaly_Train.txt    train_list
        Abuse/Abuse001_x264.mp4, Training_Normal_Videos_Anomaly/Normal_Videos308_x264.mp4, ...
    UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits/Anomaly_Test.txt     test_list (optional)
    Temporal_Anomaly_Annotation_for_Testing_Videos.txt                         annotations
        Arrest001_x264.mp4  Arrest  4269  4319  -1  -1
    Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4, Training-Normal-Videos-Part-1/..., ...

Training videos are the lines of ``train_list``; test videos are the lines of ``annotations``, located
through ``test_list`` when it exists. A video is named by its file name without the extension, in the
lists and in the annotation file alike: the release writes ``Arrest001_x264.mp4`` there, the copies
that ship with published features (RTFM's and DeepMIL's ``Temporal_Anomaly_Annotation.txt``) write
``Arrest001_x264``. The annotation file may also be in the layout that adds each test video's frame
count (``UCF_Annotation.txt``)::

    Arrest/Arrest001_x264.mp4 2374 Arrest 1185 1485 -1 -1

which :func:`read_annotations` reads too; the count is kept as the file states it (``n_frames``), and
build still takes each video's count from its file.

The video-level label comes from the class (a class or folder whose name contains "Normal" is normal,
0). A list line ``Class/name.mp4`` is looked up in each folder of ``video_dirs`` (glob patterns, in
order) as ``Class/name.mp4``, then as ``name.mp4``, so both the release's part folders and a single
``Videos/<Class>/`` tree are found.

Annotation frame numbers follow the authors' evaluation code (``Evaluate_Anomaly_Detector.m``): they
are 1-based, both ends inclusive, and each interval is clipped to the video (``GT(max(s,1) :
min(e,n)) = 1``); -1 marks an absent second interval. An interval left empty by clipping is an error.
Against the true frame counts (``UCF_Annotation.txt``) the numbers fit: no interval starts at 0, one
starts at 1 (``Burglary035_x264``), two end on their video's last frame ``n`` (``Assault006_x264``,
``Shooting046_x264``), which a 0-based reading would put past the video; five end one or two frames
past the last, hence the clipping. RTFM's ``gt-ucf.npy`` (``make_gt_ucf.py``) reads the same numbers as
0-based indices, ``gt[s:e + 1] = 1``: as many frames per interval, one frame later.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from vadlib.data.adapters.base import (
    VIDEO_SUFFIXES,
    Adapter,
    AdapterError,
    GroundTruth,
    Source,
    check_splits,
    fill_frame_counts,
    interval_labels,
    read_lines,
)
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
    path: str = ""                   # the video's file as the line names it, ".mp4" added where it has none
    n_frames: int | None = None      # the frame count the line states (UCF_Annotation.txt), else None

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


def video_id(name: str) -> str:
    """The id of a video named in a list or annotation line: its file name without a video extension
    (``Abuse/Abuse028_x264.mp4`` and ``Abuse028_x264`` are both ``Abuse028_x264``)."""
    stem, suffix = os.path.splitext(os.path.basename(name))
    return stem if suffix.lower() in VIDEO_SUFFIXES else os.path.basename(name)


def read_annotations(path: Path, field: str = "annotations") -> dict[str, Annotation]:
    """Video id -> its annotation, from a temporal annotation file in either layout (module docstring):
    ``name class start end [start end]`` or ``path n_frames class start end [start end]``."""
    annotations: dict[str, Annotation] = {}
    for lineno, text in read_lines(path, field):
        where = f"{path}:{lineno}"
        tokens = text.split()
        counted = len(tokens) > 2 and tokens[1].isdigit() and not re.fullmatch(r"-?\d+", tokens[2])
        first = 3 if counted else 2
        numbers = [int(t) for t in tokens[first:] if re.fullmatch(r"-?\d+", t)]
        if len(tokens) < first + 2 or len(numbers) != len(tokens) - first or len(numbers) % 2:
            raise AdapterError(f"{where}: expected 'video class start end [start end]' or "
                               f"'video frames class start end [start end]', got {text!r}")
        written, class_name = _list_path(text), tokens[first - 1]
        name, video = os.path.basename(written), video_id(written)
        intervals = []
        for start, end in zip(numbers[::2], numbers[1::2]):
            if (start < 0) != (end < 0):
                raise AdapterError(f"{where}: interval ({start}, {end}) of '{name}' has only one end set")
            if start >= 0:
                intervals.append((start, end))
        file_path = written if video != os.path.basename(written) else f"{written}.mp4"
        annotation = Annotation(where, class_name, intervals, file_path, int(tokens[1]) if counted else None)
        if annotation.label != bool(intervals):
            raise AdapterError(f"{where}: class '{class_name}' of '{name}' is {'ab' * annotation.label}normal, "
                               f"but the line has {len(intervals)} anomaly interval(s)")
        if video in annotations:
            raise AdapterError(f"{where}: video '{video}' is annotated twice (also {annotations[video].where})")
        annotations[video] = annotation
    return annotations


def _annotations(src: Source) -> dict[str, Annotation]:
    """Video id -> its annotation, from the dataset's temporal annotation file."""
    return read_annotations(src.path("annotations"))


def _test_locations(src: Source, annotations: dict[str, Annotation]) -> dict[str, tuple[str, str]]:
    """Video id -> (list path, where) of the test list's lines, when the test list exists."""
    path = src.path("test_list") if src["test_list"] else None
    if path is None or not path.is_file():
        return {}
    located = {}
    for lineno, text in read_lines(path, "test_list"):
        rel = _list_path(text)
        if video_id(rel) not in annotations:
            raise AdapterError(f"{path}:{lineno}: test video '{rel}' has no line in {src.path('annotations')} "
                               "(dataset field 'annotations')")
        located[video_id(rel)] = (rel, f"{path}:{lineno}")
    return located


def _scan(src: Source) -> tuple[list[VideoEntry], dict[str, Annotation]]:
    finder = _Finder(src)
    entries: dict[str, VideoEntry] = {}
    train_list = src.path("train_list")
    for lineno, text in read_lines(train_list, "train_list"):
        rel, where = _list_path(text), f"{train_list}:{lineno}"
        video = video_id(rel)
        if video in entries:
            raise AdapterError(f"{where}: video '{video}' is listed twice")
        label = 0 if _is_normal(_class_of(rel)) else 1
        entries[video] = VideoEntry(video, finder.find(rel, where), "video", label, split_weak="train",
                                    fps=src["fps"])
    annotations = _annotations(src)
    located = _test_locations(src, annotations)
    by_video = {}
    for video, annotation in annotations.items():
        if video in entries:
            raise AdapterError(f"{annotation.where}: test video '{video}' is also a training video ({train_list})")
        folder = NORMAL_TEST_FOLDER if annotation.label == 0 else annotation.class_name
        default = annotation.path if "/" in annotation.path else f"{folder}/{annotation.path}"
        rel, where = located.get(video, (default, annotation.where))
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
            where, intervals = annotations[e.video].where, annotations[e.video].intervals
            # 1-based inclusive [s, e] clipped to the video, as 0-based [max(s, 1) - 1, min(e, n))
            clipped = [(max(start, 1) - 1, min(end, e.n_frames)) for start, end in intervals]
            for (start, end), (first, stop) in zip(intervals, clipped):
                if first >= stop:
                    raise AdapterError(f"{where}: anomaly interval {start} .. {end} (1-based, inclusive) of video "
                                       f"'{e.video}' lies outside its {e.n_frames} frames ({e.source})")
            truth[e.video] = interval_labels(e.n_frames, clipped, e.video, where)
    return entries, truth


ADAPTER = Adapter("ucf_crime", ("weak",), DEFAULTS, list_videos, build)
