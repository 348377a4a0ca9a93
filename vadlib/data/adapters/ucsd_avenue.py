"""UCSD Ped2 and CUHK Avenue ("Abnormal Event Detection at 150 FPS in MATLAB", ICCV 2013): one-class
datasets of a single camera, with one code path and two sets of defaults.

Sources (config keys ``train_dir`` / ``test_dir``, relative to the root) are folders of frame folders
or of video files:

- frame folders as MemAE / MNAD lay them out, ``training/frames/01/000.jpg`` and
  ``testing/frames/01/000.jpg`` (Ped2's default; .jpg or .tif);
- Avenue's release, ``training_videos/01.avi`` and ``testing_videos/01.avi`` (Avenue's default).

Frame labels of the test videos (``labels``, read as ``label_format`` says):

- ``per_video``: a folder with one ``{name}.npy`` of 0/1 frame labels per test video;
- ``concatenated``: one ``.npy`` holding the labels of all test videos concatenated in sorted name
  order (``frame_labels_ped2.npy``, ``frame_labels_avenue.npy``, shape ``[1, N]``), split by each
  video's frame count after checking the total;
- ``avenue_mat``: Avenue's ``ground_truth_demo/testing_label_mask/{n}_label.mat`` (``n`` = the video's
  number without leading zeros), a cell array ``volLabel`` of per-frame pixel masks; a frame is
  anomalous when its mask has any pixel set. A file is read whole (scipy cannot stream cells).

Training and test videos share names ("01"), so ids are ``train_01`` and ``test_01``. Listing does not
read label files, so a test video's label is -1 in ``list_videos`` (as a video file's frame count is)
and set by ``build``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from vadlib.data.adapters.base import (Adapter, AdapterError, GroundTruth, Source, check_splits,
                                       fill_frame_counts, frame_labels, scan_sources)
from vadlib.data.manifest import VideoEntry

PED2_DEFAULTS = {
    "fps": 10.0,
    "train_dir": "training/frames",
    "test_dir": "testing/frames",
    "labels": "frame_labels_ped2.npy",
    "label_format": "concatenated",
}
AVENUE_DEFAULTS = {
    "fps": 25.0,
    "train_dir": "training_videos",
    "test_dir": "testing_videos",
    "labels": "ground_truth_demo/testing_label_mask",
    "label_format": "avenue_mat",
}


def _name(entry: VideoEntry) -> str:
    """The video's name in the dataset (its id without the split prefix)."""
    return entry.video.split("_", 1)[1]


def _list(src: Source) -> list[VideoEntry]:
    entries = []
    for split in ("train", "test"):
        found = scan_sources(src.path(f"{split}_dir"), f"{split}_dir", src["fps"])
        entries += [replace(e, video=f"{split}_{name}", label=0 if split == "train" else -1,
                            split_oneclass=split) for name, e in found.items()]
    check_splits(entries, src.protocols, f"{src.root} (adapter '{src.adapter}')")
    return entries


def _per_video(src: Source, tests: list[VideoEntry]) -> GroundTruth:
    folder = src.path("labels")
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such folder (dataset field 'labels', label_format 'per_video')")
    truth = {}
    for e in tests:
        path = folder / f"{_name(e)}.npy"
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


def _avenue_mat(src: Source, tests: list[VideoEntry]) -> GroundTruth:
    from scipy.io import loadmat

    folder = src.path("labels")
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such folder (dataset field 'labels', label_format 'avenue_mat')")
    truth = {}
    for e in tests:
        name = _name(e)
        path = folder / f"{int(name) if name.isdigit() else name}_label.mat"
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
    "avenue_mat": _avenue_mat,
}


def build(src: Source) -> tuple[list[VideoEntry], GroundTruth]:
    read = LABEL_FORMATS.get(src["label_format"])
    if read is None:
        raise AdapterError(f"dataset config (adapter '{src.adapter}'): field 'label_format' is "
                           f"{src['label_format']!r}; expected one of {list(LABEL_FORMATS)}")
    entries = fill_frame_counts(_list(src), f"{src.adapter}: frame counts")
    truth = read(src, [e for e in entries if e.split_oneclass == "test"])
    entries = [replace(e, label=int(truth[e.video].any())) if e.video in truth else e for e in entries]
    return entries, truth


PED2 = Adapter("ped2", ("oneclass",), PED2_DEFAULTS, _list, build)
AVENUE = Adapter("avenue", ("oneclass",), AVENUE_DEFAULTS, _list, build)
