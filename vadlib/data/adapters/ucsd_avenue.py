"""UCSD Ped2 and CUHK Avenue ("Abnormal Event Detection at 150 FPS in MATLAB", ICCV 2013): one-class
datasets of a single camera, with one code path and two sets of defaults.

Sources (config keys ``train_dir`` / ``test_dir``, relative to the root) are folders of frame folders
or of video files:

- frame folders as MemAE / MNAD lay them out, ``training/frames/01/000.jpg`` and
  ``testing/frames/01/000.jpg`` (Ped2's default; .jpg or .tif);
- the UCSD release as it unpacks, ``UCSDped2/Train/Train001/001.tif`` and
  ``UCSDped2/Test/Test001/001.tif``, with the pixel masks ``Test001_gt/`` beside the test folders
  (``config/datasets/ped2_ucsd.yaml``; UCSD Ped1's release has the same layout);
- Avenue's release, ``training_videos/01.avi`` and ``testing_videos/01.avi`` (Avenue's default).

``video_regex`` (null: every one) is a regular expression that the name of a frame folder or the stem
of a video file must match in full to be a video; the others (the UCSD release's ``Test001_gt``) are
skipped before anything in them is counted. With a group, the group is the video's name in its id:
``(?:Train|Test)(\\d+)`` names ``Test001`` ``test_001``. Hidden entries (``.DS_Store``) and files that
are neither images nor videos are never taken as videos or frames.

Frame labels of the test videos (``labels``, read as ``label_format`` says):

- ``per_video``: a folder with one ``{name}.npy`` of 0/1 frame labels per test video;
- ``concatenated``: one ``.npy`` holding the labels of all test videos concatenated in sorted name
  order (``frame_labels_ped2.npy``, ``frame_labels_avenue.npy``, shape ``[1, N]``), split by each
  video's frame count after checking the total;
- ``ucsd_m``: the UCSD release's MATLAB label file (``UCSDped2.m``, ``UCSDped1.m``): one entry per test
  video in sorted name order, each the 1-based inclusive anomalous frame ranges of that video,
  ``TestVideoFile{end+1}.gt_frame = [61:180];`` (several ranges ``[5:90, 140:200]``, single frames
  ``[7]``, none ``[]``; ``{k}`` instead of ``{end+1}``, or ``.gt_frame{k}``, numbers the video). The
  frame counts come from the videos (:func:`read_ucsd_m`, :func:`ucsd_m_labels`);
- ``avenue_mat``: Avenue's ``ground_truth_demo/testing_label_mask/{n}_label.mat`` (``n`` = the video's
  number without leading zeros), a cell array ``volLabel`` of per-frame pixel masks; a frame is
  anomalous when its mask has any pixel set. A file is read whole (scipy cannot stream cells).

``limit`` (null: every video) keeps the first ``train`` training and ``test`` test videos in name
order, ``{train: 2, test: 2}``: a subset for quick end-to-end checks. Labels are still read for every
test video (concatenated and ``.m`` labels need every video's frame count to be placed), then kept for
the subset.

Training and test videos share names ("01"), so ids are ``train_01`` and ``test_01``. Listing does not
read label files, so a test video's label is -1 in ``list_videos`` (as a video file's frame count is)
and set by ``build``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from vadlib.data.adapters.base import (
    Adapter,
    AdapterError,
    GroundTruth,
    Source,
    check_splits,
    fill_frame_counts,
    frame_labels,
    interval_labels,
    scan_sources,
)
from vadlib.data.manifest import VideoEntry

PED2_DEFAULTS = {
    "fps": 10.0,
    "train_dir": "training/frames",
    "test_dir": "testing/frames",
    "labels": "frame_labels_ped2.npy",
    "label_format": "concatenated",
    "video_regex": None,
    "limit": None,
}
AVENUE_DEFAULTS = {
    "fps": 25.0,
    "train_dir": "training_videos",
    "test_dir": "testing_videos",
    "labels": "ground_truth_demo/testing_label_mask",
    "label_format": "avenue_mat",
    "video_regex": None,
    "limit": None,
}
SPLITS = ("train", "test")


def _name(entry: VideoEntry) -> str:
    """The video's name in the dataset (its id without the split prefix)."""
    return entry.video.split("_", 1)[1]


def _pattern(src: Source) -> re.Pattern | None:
    text = src["video_regex"]
    if text is None:
        return None
    try:
        pattern = re.compile(str(text))
    except re.error as err:
        raise AdapterError(f"dataset config (adapter '{src.adapter}'): field 'video_regex' '{text}' is not a "
                           f"regular expression ({err})") from None
    if pattern.groups > 1:
        raise AdapterError(f"dataset config (adapter '{src.adapter}'): field 'video_regex' '{text}' has "
                           f"{pattern.groups} groups; at most one (the video's name) is allowed")
    return pattern


def _limit(src: Source) -> dict[str, int]:
    """``limit`` checked: split -> how many videos of it to keep (absent: all)."""
    limit = src["limit"]
    if limit is None:
        return {}
    where = f"dataset config (adapter '{src.adapter}'): field 'limit'"
    if not isinstance(limit, dict):
        raise AdapterError(f"{where} must be a mapping like {{train: 2, test: 2}}, got {limit!r}")
    unknown = sorted(set(limit) - set(SPLITS))
    if unknown:
        raise AdapterError(f"{where} has unknown split(s) {unknown}; expected some of {list(SPLITS)}")
    for split, count in limit.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise AdapterError(f"{where}: '{split}' must be a positive integer, got {count!r}")
    return dict(limit)


def _list_all(src: Source) -> list[VideoEntry]:
    """Every video of both splits (``limit`` not applied)."""
    pattern = _pattern(src)
    entries = []
    for split in SPLITS:
        found = scan_sources(src.path(f"{split}_dir"), f"{split}_dir", src["fps"], pattern)
        names: dict[str, str] = {}
        for stem, e in found.items():
            name = stem
            if pattern is not None and pattern.groups:
                name = pattern.fullmatch(stem).group(1) or ""
                if not name:
                    raise AdapterError(f"{e.source}: field 'video_regex' '{pattern.pattern}' gives this video "
                                       f"an empty name (dataset field '{split}_dir')")
            if name in names:
                raise AdapterError(f"{e.source}: '{stem}' and '{names[name]}' both get the name '{name}' "
                                   f"from field 'video_regex' '{pattern.pattern}' (dataset field '{split}_dir')")
            names[name] = stem
            entries.append(replace(e, video=f"{split}_{name}", label=0 if split == "train" else -1,
                                   split_oneclass=split))
    return entries


def _keep(src: Source, entries: list[VideoEntry]) -> list[VideoEntry]:
    """The first ``limit[split]`` videos of each split (entries are in name order within a split)."""
    limit = _limit(src)
    kept, seen = [], {split: 0 for split in SPLITS}
    for e in entries:
        seen[e.split_oneclass] += 1
        if e.split_oneclass not in limit or seen[e.split_oneclass] <= limit[e.split_oneclass]:
            kept.append(e)
    return kept


def _list(src: Source) -> list[VideoEntry]:
    entries = _keep(src, _list_all(src))
    check_splits(entries, src.protocols, f"{src.root} (adapter '{src.adapter}')")
    return entries


# --- label files ----------------------------------------------------------------------------------


def _per_video_path(folder: Path, entry: VideoEntry) -> Path:
    return folder / f"{_name(entry)}.npy"


def _avenue_mat_path(folder: Path, entry: VideoEntry) -> Path:
    name = _name(entry)
    return folder / f"{int(name) if name.isdigit() else name}_label.mat"


def _per_video(src: Source, tests: list[VideoEntry]) -> GroundTruth:
    folder = src.path("labels")
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such folder (dataset field 'labels', label_format 'per_video')")
    truth = {}
    for e in tests:
        path = _per_video_path(folder, e)
        if not path.is_file():
            raise AdapterError(f"{path}: no frame labels for test video '{e.video}' ({e.source}) "
                               "(dataset field 'labels')")
        truth[e.video] = frame_labels(np.load(path), e.n_frames, e.video, path)
    return truth


def _concatenated(src: Source, tests: list[VideoEntry]) -> GroundTruth:
    path = src.existing("labels")
    values = np.load(path)
    if sum(size > 1 for size in values.shape) > 1:
        raise AdapterError(f"{path}: expected one row of frame labels, found shape {values.shape}")
    values = values.reshape(-1)
    total = sum(e.n_frames for e in tests)
    if values.size != total:
        counts = ", ".join(f"{e.video}: {e.n_frames}" for e in tests)
        raise AdapterError(f"{path}: {values.size} frame labels, but the {len(tests)} test videos under "
                           f"{src.path('test_dir')} have {total} frames together ({counts})")
    ends = np.cumsum([e.n_frames for e in tests])
    return {e.video: frame_labels(part, e.n_frames, e.video, path)
            for e, part in zip(tests, np.split(values, ends[:-1]))}


_M_INIT = re.compile(r"[A-Za-z]\w*\s*=\s*\{\s*\}\s*;?")
_INDEX = r"end\s*\+\s*1|\d+"
_M_ENTRY = re.compile(rf"(?P<var>[A-Za-z]\w*)\s*(?:\{{\s*(?P<cell>{_INDEX})\s*\}})?\s*\.\s*gt_frame\s*"
                      rf"(?:\{{\s*(?P<field>{_INDEX})\s*\}})?\s*=\s*\[(?P<body>[^\]]*)\]\s*;?")
_M_ITEM = re.compile(r"(\d+)(?::(\d+))?")
_M_SYNTAX = "expected 'TestVideoFile{end+1}.gt_frame = [61:180];' (ranges a:b or frames, comma-separated)"


def read_ucsd_m(path: str | Path) -> list[tuple[int, list[tuple[int, int]]]]:
    """The entries of a UCSD ``.m`` label file in video order: ``(line number, [(first, last), ...])``,
    the 1-based inclusive anomalous frame ranges as written (a single frame ``f`` is ``(f, f)``).

    ``%`` starts a comment; blank lines and ``Name = {};`` are skipped. Any other line, a range that
    runs backwards or starts before frame 1, a video numbered twice or a number left out fails naming
    the file and the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError) as err:
        raise AdapterError(f"{path}: cannot read the label file ({err}) (dataset field 'labels')") from None
    entries: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    variable = None
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("%", 1)[0].strip()
        where = f"{path}, line {number}"
        if not code or _M_INIT.fullmatch(code):
            continue
        match = _M_ENTRY.fullmatch(code)
        if match is None or (match["cell"] is None) == (match["field"] is None):
            raise AdapterError(f"{where}: cannot read {line.strip()!r}; {_M_SYNTAX}")
        if variable is not None and match["var"] != variable:
            raise AdapterError(f"{where}: an entry of {match['var']!r}, but the lines above fill {variable!r}")
        variable = match["var"]
        index = match["cell"] or match["field"]
        k = max(entries, default=0) + 1 if index.startswith("end") else int(index)
        if k < 1:
            raise AdapterError(f"{where}: video number {k}; MATLAB numbers from 1")
        if k in entries:
            raise AdapterError(f"{where}: a second entry for test video {k} (the first is on line {entries[k][0]})")
        body = re.sub(r"\s*:\s*", ":", match["body"].strip())
        ranges = []
        for item in filter(None, re.split(r"[\s,;]+", body)):
            parsed = _M_ITEM.fullmatch(item)
            if parsed is None:
                raise AdapterError(f"{where}: cannot read the frame range {item!r}; {_M_SYNTAX}")
            first = int(parsed[1])
            last = int(parsed[2]) if parsed[2] is not None else first
            if first < 1 or last < first:
                raise AdapterError(f"{where}: the frame range {item!r} of test video {k} is empty or starts "
                                   "before frame 1 (1-based, first:last inclusive)")
            ranges.append((first, last))
        entries[k] = (number, ranges)
    if not entries:
        raise AdapterError(f"{path}: no gt_frame entry; {_M_SYNTAX}")
    missing = sorted(set(range(1, max(entries) + 1)) - set(entries))
    if missing:
        raise AdapterError(f"{path}: no entry for test video(s) {missing[:5]} (entries numbered up to {max(entries)})")
    return [entries[k] for k in sorted(entries)]


def ucsd_m_labels(path: str | Path, n_frames: Sequence[int], videos: Sequence[str] | None = None) -> list[np.ndarray]:
    """Per-frame uint8 labels of the test videos from a UCSD ``.m`` file: entry ``i`` labels the
    ``i``-th video (``n_frames[i]`` frames; ``videos[i]`` names it in messages). The file must hold one
    entry per video, and each range must lie within its video."""
    path = Path(path)
    videos = list(videos) if videos is not None else [f"#{i + 1}" for i in range(len(n_frames))]
    entries = read_ucsd_m(path)
    if len(entries) != len(n_frames):
        raise AdapterError(f"{path}: {len(entries)} entries of frame ranges, but there are {len(n_frames)} test "
                           f"videos ({', '.join(videos[:3])}{', ...' if len(videos) > 3 else ''})")
    labels = []
    for (line, ranges), count, video in zip(entries, n_frames, videos):
        for first, last in ranges:
            if last > count:
                raise AdapterError(f"{path}, line {line}: frames {first}:{last} (1-based) of test video '{video}' "
                                   f"run past its {count} frames")
        labels.append(interval_labels(count, [(first - 1, last) for first, last in ranges], video,
                                      f"{path}, line {line}"))
    return labels


def _ucsd_m(src: Source, tests: list[VideoEntry]) -> GroundTruth:
    path = src.existing("labels")
    labels = ucsd_m_labels(path, [e.n_frames for e in tests], [e.video for e in tests])
    return {e.video: part for e, part in zip(tests, labels)}


def _avenue_mat(src: Source, tests: list[VideoEntry]) -> GroundTruth:
    from scipy.io import loadmat

    folder = src.path("labels")
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such folder (dataset field 'labels', label_format 'avenue_mat')")
    truth = {}
    for e in tests:
        path = _avenue_mat_path(folder, e)
        if not path.is_file():
            raise AdapterError(f"{path}: no label masks for test video '{e.video}' ({e.source}) "
                               "(dataset field 'labels')")
        try:
            cells = loadmat(path, variable_names=["volLabel"]).get("volLabel")
        except Exception as err:  # noqa: BLE001 - scipy raises several kinds on a damaged file
            raise AdapterError(f"{path}: cannot read the MAT file ({err})") from err
        if cells is None:
            raise AdapterError(f"{path}: no variable 'volLabel' (a cell array of per-frame masks)")
        flags = np.array([np.asarray(mask).any() for mask in cells.reshape(-1)], np.uint8)
        truth[e.video] = frame_labels(flags, e.n_frames, e.video, path)
    return truth


LABEL_FORMATS: dict[str, Callable[[Source, list[VideoEntry]], GroundTruth]] = {
    "per_video": _per_video,
    "concatenated": _concatenated,
    "ucsd_m": _ucsd_m,
    "avenue_mat": _avenue_mat,
}
# formats of one file for every test video; the others have a file per test video in a folder
_ONE_FILE = {"concatenated", "ucsd_m"}
_PER_VIDEO_PATHS: dict[str, Callable[[Path, VideoEntry], Path]] = {
    "per_video": _per_video_path,
    "avenue_mat": _avenue_mat_path,
}


def _reader(src: Source) -> Callable[[Source, list[VideoEntry]], GroundTruth]:
    read = LABEL_FORMATS.get(src["label_format"])
    if read is None:
        raise AdapterError(f"dataset config (adapter '{src.adapter}'): field 'label_format' is "
                           f"{src['label_format']!r}; expected one of {list(LABEL_FORMATS)}")
    return read


def build(src: Source) -> tuple[list[VideoEntry], GroundTruth]:
    read = _reader(src)
    every = _list_all(src)
    # one label file for all test videos is placed by every video's frame count; a file per video is
    # read for the kept videos alone
    entries = every if src["label_format"] in _ONE_FILE else _keep(src, every)
    entries = fill_frame_counts(entries, f"{src.adapter}: frame counts")
    truth = read(src, [e for e in entries if e.split_oneclass == "test"])
    entries = _keep(src, [replace(e, label=int(truth[e.video].any())) if e.video in truth else e for e in entries])
    check_splits(entries, src.protocols, f"{src.root} (adapter '{src.adapter}')")
    return entries, {e.video: truth[e.video] for e in entries if e.video in truth}


def inputs(src: Source) -> list[Path]:
    """The label files that :func:`build` reads and that exist (a missing one fails in ``build``, naming
    its field): the manifest's inputs, so that an edited label file rebuilds the ground truth."""
    _reader(src)
    if src["label_format"] in _ONE_FILE:
        path = src.path("labels")
        return [path] if path.is_file() else []
    folder = src.path("labels")
    tests = [e for e in _list(src) if e.split_oneclass == "test"]
    return [p for p in (_PER_VIDEO_PATHS[src["label_format"]](folder, e) for e in tests) if p.is_file()]


PED2 = Adapter("ped2", ("oneclass",), PED2_DEFAULTS, _list, build, inputs=inputs)
AVENUE = Adapter("avenue", ("oneclass",), AVENUE_DEFAULTS, _list, build, inputs=inputs)
