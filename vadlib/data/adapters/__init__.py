"""Dataset adapters: the layouts researchers hold, turned into one manifest and its ground truth.

Every function dispatches on the dataset config's ``adapter`` key:

- :func:`list_videos` lists the videos from directory listings and list files only, never opening a
  video, so it is fast enough for the workflow to call while building its DAG. What only the sources
  can say is -1 there: ``n_frames`` of a video file, and ``label`` of a one-class test video whose
  labels sit in label files (ped2, avenue).
- :func:`build` returns the same videos with frame counts (and fps) read from the sources, and the
  frame-level ground truth of every test video of any protocol.
- :func:`prepare` builds and writes ``manifest.csv`` and ``ground_truth.npz``.

Every dataset config has ``adapter``, ``root`` and ``protocols`` (default: all the adapter supports);
each adapter's own keys and their defaults are ``get_adapter(cfg).defaults`` (paths relative to root).
The adapter ``features`` reads published snippet features (the RTFM layout) instead of videos.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from vadlib.data.adapters.base import Adapter, AdapterError, GroundTruth, is_test
from vadlib.data.manifest import VideoEntry, save_ground_truth, write_manifest

# adapter name -> (module of this package, its attribute). A module is imported when a dataset uses its
# adapter, so a dataset's manifest runs its own adapter's code only (and is re-made when that changes:
# the rule hashes :func:`adapter_module` with its script, vadlib.codehash).
MODULES: dict[str, tuple[str, str]] = {
    "synthetic": ("synthetic", "ADAPTER"),
    "shanghaitech": ("shanghaitech", "ADAPTER"),
    "ped2": ("ucsd_avenue", "PED2"),
    "avenue": ("ucsd_avenue", "AVENUE"),
    "ucf_crime": ("ucf_crime", "ADAPTER"),
    "features": ("features", "ADAPTER"),
}
ADAPTERS: tuple[str, ...] = tuple(MODULES)

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")

__all__ = ["ADAPTERS", "MODULES", "Adapter", "AdapterError", "adapter_module", "get_adapter", "list_videos", "build",
           "prepare", "manifest_inputs"]


def adapter_module(dataset_cfg: Mapping[str, Any]) -> str:
    """The module that defines the dataset's adapter, e.g. ``vadlib.data.adapters.ucsd_avenue``."""
    name = dataset_cfg.get("adapter")
    if name not in MODULES:
        raise AdapterError(f"dataset config: field 'adapter' is {name!r}; expected one of {list(ADAPTERS)}")
    return f"{__name__}.{MODULES[name][0]}"


def get_adapter(dataset_cfg: Mapping[str, Any]) -> Adapter:
    return getattr(importlib.import_module(adapter_module(dataset_cfg)), MODULES[dataset_cfg["adapter"]][1])


def _check_ids(entries: list[VideoEntry], adapter: str) -> None:
    seen: dict[str, str] = {}
    for e in entries:
        if not _SAFE_ID.fullmatch(e.video):
            raise AdapterError(f"{e.source}: video id {e.video!r} is not safe as a file name "
                               f"(letters, digits, '_', '.', '-') (adapter '{adapter}')")
        if e.video in seen:
            raise AdapterError(f"{e.source}: video id {e.video!r} is also the id of {seen[e.video]} "
                               f"(adapter '{adapter}')")
        seen[e.video] = e.source


def _check_built(entries: list[VideoEntry], truth: GroundTruth, adapter: str) -> None:
    """What every adapter's build guarantees: counts known, and one label per frame of each test video."""
    _check_ids(entries, adapter)
    tests = {e.video for e in entries if is_test(e)}
    extra = sorted(set(truth) - tests)
    if extra:
        raise AdapterError(f"adapter '{adapter}': ground truth for videos that are no test video: {extra[:5]}")
    for e in entries:
        if e.n_frames <= 0:
            raise AdapterError(f"{e.source}: the frame count of video '{e.video}' is unknown (adapter '{adapter}')")
        if e.video not in tests:
            continue
        labels = truth.get(e.video)
        if labels is None or len(labels) != e.n_frames:
            found = "no" if labels is None else f"{len(labels)}"
            raise AdapterError(f"{e.source}: {found} frame labels for test video '{e.video}' of {e.n_frames} "
                               f"frames (adapter '{adapter}')")
        if e.label != int(np.any(labels)):
            raise AdapterError(f"{e.source}: video '{e.video}' has label {e.label} but "
                               f"{int(np.sum(labels))} anomalous frames (adapter '{adapter}')")


def list_videos(dataset_cfg: Mapping[str, Any]) -> list[VideoEntry]:
    """The dataset's videos without opening any video (see the module docstring for what is -1)."""
    adapter = get_adapter(dataset_cfg)
    entries = adapter.list_videos(adapter.resolve(dataset_cfg, require_root=not adapter.generated))
    _check_ids(entries, adapter.name)
    return entries


def build(dataset_cfg: Mapping[str, Any]) -> tuple[list[VideoEntry], GroundTruth]:
    """Manifest entries with frame counts filled, and per-frame uint8 labels of every test video."""
    adapter = get_adapter(dataset_cfg)
    entries, truth = adapter.build(adapter.resolve(dataset_cfg))
    _check_built(entries, truth, adapter.name)
    return entries, truth


def manifest_inputs(dataset_cfg: Mapping[str, Any]) -> list[str]:
    """The files besides the videos that :func:`prepare` reads (list files, labels), for a workflow
    to name as inputs so that an edit of one rebuilds the manifest; empty for adapters naming none."""
    adapter = get_adapter(dataset_cfg)
    if adapter.inputs is None:
        return []
    return [str(path) for path in adapter.inputs(adapter.resolve(dataset_cfg))]


def prepare(dataset_cfg: Mapping[str, Any], manifest_path: str | os.PathLike, gt_path: str | os.PathLike) -> None:
    """Build the dataset's manifest and ground truth and write both (each atomically)."""
    entries, truth = build(dataset_cfg)
    write_manifest(manifest_path, entries)
    save_ground_truth(gt_path, truth)
