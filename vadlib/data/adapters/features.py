"""Published snippet features as a dataset (adapter ``features``): the RTFM layout researchers
download instead of the videos (one ``.npy`` per video), or XD-Violence's (one ``.npy`` per crop of a
video, ``imported.crop_files``), read by :mod:`vadlib.features.importer`.

A dataset config has ``root`` and the importer's ``imported`` section (its keys and their defaults are
documented there)::

    adapter: features
    root: ../shared/data/shanghai_i3d
    protocols: [weak]
    imported:
      train_list: list/shanghai-i3d-train-10crop.list
      test_list: list/shanghai-i3d-test-10crop.list
      ground_truth: list/gt-sh.npy
      features_dir: [SH_Train_ten_crop_i3d, SH_Test_ten_crop_i3d]
      train_labels: {from: list_order, abnormal_first: 63}

Relative paths of the section (the lists, the ground truth or annotation, the feature folders, a
labels file) are taken from the root, as every adapter's are. Listing and building both delegate to
the importer: listing reads the lists, each ``.npy`` header and the ground truth (so a missing file, a
feature of the wrong width or a ground truth that does not add up fails, by video, before any job
runs); building returns the same rows with the ground truth split per test video. A video's frame count is
16 x its snippets; its ``source`` is its ``.npy`` file, that of crop 0 when a video has one file per
crop (``source_kind`` ``features``).

The videos exist in the weakly supervised protocol only: there are no frames to decode, so no
one-class method and no method that reads frames applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vadlib.data.adapters.base import Adapter, AdapterError, GroundTruth, Source, check_splits
from vadlib.data.manifest import VideoEntry
from vadlib.features import importer

DEFAULTS = {"imported": None}  # the importer's section; importer.DEFAULTS fills its keys

PATH_KEYS = ("train_list", "test_list", "ground_truth")


@contextmanager
def _reported(src: Source) -> Iterator[None]:
    """An importer error as an :class:`AdapterError` (what every adapter raises), naming the root."""
    try:
        yield
    except importer.FeatureImportError as err:
        raise AdapterError(f"{err} (adapter 'features', root {src.root})") from err


def _under_root(src: Source, path: Any) -> str:
    return str(src.root / os.path.expanduser(str(path)))


def section(src: Source) -> dict[str, Any]:
    """The dataset's ``imported`` section with its paths taken from the root (absolute ones kept)."""
    imported = src["imported"]
    if not isinstance(imported, dict):
        raise AdapterError(f"dataset config (adapter 'features'): section 'imported' is missing or not a "
                           f"mapping (got {imported!r}); see {importer.__name__} for its keys")
    resolved = dict(imported)
    for key in PATH_KEYS:
        if resolved.get(key):
            resolved[key] = _under_root(src, resolved[key])
    folders = resolved.get("features_dir")
    if folders:
        resolved["features_dir"] = ([_under_root(src, f) for f in folders] if isinstance(folders, (list, tuple))
                                    else _under_root(src, folders))
    for key in ("train_labels", "test_labels"):
        rule = resolved.get(key)
        if isinstance(rule, dict) and rule.get("path"):
            resolved[key] = {**rule, "path": _under_root(src, rule["path"])}
    return {"imported": resolved}


def list_videos(src: Source) -> list[VideoEntry]:
    with _reported(src):
        entries = importer.list_imported_videos(section(src))
    check_splits(entries, src.protocols, f"{src.root} (adapter 'features')")
    return entries


def build(src: Source) -> tuple[list[VideoEntry], GroundTruth]:
    with _reported(src):
        entries, truth = importer.build_imported(section(src))
    check_splits(entries, src.protocols, f"{src.root} (adapter 'features')")
    return entries, truth


def inputs(src: Source) -> list[Path]:
    """The list files, the ground truth and any labels file (the manifest's inputs)."""
    with _reported(src):
        return importer.source_files(section(src))


ADAPTER = Adapter("features", ("weak",), DEFAULTS, list_videos, build, inputs=inputs)
