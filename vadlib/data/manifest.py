"""The dataset manifest and its frame-level ground truth: the contract every adapter produces.

A manifest is a CSV with one row per video:

=============== ======================================================================================
column          meaning
=============== ======================================================================================
video           video id, unique in the dataset, safe as a file name
scene           scene or camera id (a string; "" when the dataset has none)
label           video-level label: 0 normal, 1 contains an anomaly
n_frames        frame count (from the source's metadata; the decoded store is authoritative)
fps             frames per second of the source
source          path of the video file or of the frame folder
source_kind     ``video`` (a file), ``frames`` (a folder of images) or ``features`` (published features)
split_oneclass  ``train`` / ``test`` in the one-class protocol (training videos normal only), or empty
split_weak      ``train`` / ``test`` in the weakly supervised protocol (video labels in training), or empty
=============== ======================================================================================

Ground truth is an ``.npz`` with one uint8 array of per-frame labels (1 = anomalous) per test video,
keyed by video id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sized
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from vadlib.runtime import atomic_output

PROTOCOLS = ("oneclass", "weak")
SPLITS = ("train", "test", "")
SOURCE_KINDS = ("video", "frames", "features")


class ManifestError(ValueError):
    """A manifest or its ground truth is malformed."""


class EmptySplitError(ManifestError):
    """A split that a stage needs holds no video."""


@dataclass
class VideoEntry:
    video: str
    source: str
    source_kind: str
    label: int
    scene: str = ""
    split_oneclass: str = ""
    split_weak: str = ""
    n_frames: int = -1
    fps: float = 25.0

    def split(self, protocol: str) -> str:
        return getattr(self, f"split_{protocol}")


COLUMNS = [f.name for f in fields(VideoEntry)]


def write_manifest(path: str | os.PathLike, entries: list[VideoEntry]) -> None:
    path = Path(path)
    frame = pd.DataFrame([asdict(e) for e in entries], columns=COLUMNS)
    check_manifest(frame, path)
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False)


def check_manifest(frame: pd.DataFrame, path: str | os.PathLike = "manifest") -> None:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(f"{path}: columns {missing} are missing")
    if frame.empty:
        raise ManifestError(f"{path}: the manifest lists no video")
    dup = frame["video"][frame["video"].duplicated()].tolist()
    if dup:
        raise ManifestError(f"{path}: video ids {dup[:5]} appear more than once")
    if not frame["source_kind"].isin(SOURCE_KINDS).all():
        bad = frame.loc[~frame["source_kind"].isin(SOURCE_KINDS), "video"].tolist()
        raise ManifestError(f"{path}: field 'source_kind' must be one of {SOURCE_KINDS} (videos {bad[:5]})")
    if not frame["label"].isin([0, 1]).all():
        raise ManifestError(f"{path}: field 'label' must be 0 or 1")
    for protocol in PROTOCOLS:
        col = f"split_{protocol}"
        if not frame[col].isin(SPLITS).all():
            raise ManifestError(f"{path}: field '{col}' must be one of {SPLITS}")
    oneclass_train = frame[(frame["split_oneclass"] == "train") & (frame["label"] == 1)]
    if len(oneclass_train):
        raise ManifestError(f"{path}: one-class training videos must be normal, but "
                            f"{oneclass_train['video'].tolist()[:5]} are labelled abnormal")


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such manifest")
    frame = pd.read_csv(path, dtype={"video": str, "scene": str, "source": str, "source_kind": str,
                                     "split_oneclass": str, "split_weak": str},
                        keep_default_na=False)
    check_manifest(frame, path)
    return frame


def videos(frame: pd.DataFrame, protocol: str, split: str, label: int | None = None) -> list[str]:
    """Video ids of one split of a protocol (optionally only one label), in manifest order."""
    if protocol not in PROTOCOLS:
        raise ManifestError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    rows = frame[frame[f"split_{protocol}"] == split]
    if label is not None:
        rows = rows[rows["label"] == label]
    return rows["video"].tolist()


def require_split(videos: Sized, split: str, where: str | os.PathLike) -> None:
    """Fail when the ``split`` split (``training``, ``test``) that a stage was given holds no video.

    ``where`` is the output the stage makes: the stage functions see lists of stores, not a dataset,
    and the output's path (``{results}/{dataset}/...``) is what names the dataset.
    """
    if len(videos) == 0:
        raise EmptySplitError(f"{where}: the {split} split is empty (no video was given)")


def check_ground_truth(frame: pd.DataFrame, truth: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Every test video of the manifest (any protocol) has one label per frame in ``truth`` (read from
    ``path``); a frame count of -1 (unknown) skips the length check."""
    test = frame[(frame["split_oneclass"] == "test") | (frame["split_weak"] == "test")]
    for video, n_frames in zip(test["video"], test["n_frames"]):
        if video not in truth:
            raise ManifestError(f"{path}: no ground truth for test video '{video}'")
        if int(n_frames) > 0 and len(truth[video]) != int(n_frames):
            raise ManifestError(f"{path}: test video '{video}' has {len(truth[video])} frame labels, but the "
                                f"manifest gives it {int(n_frames)} frames (field 'n_frames')")


def save_ground_truth(path: str | os.PathLike, labels: dict[str, np.ndarray]) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **{k: np.asarray(v, dtype=np.uint8) for k, v in labels.items()})


def load_ground_truth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such ground-truth file")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
