"""The built-in synthetic surveillance dataset (:mod:`vadlib.data.synthetic`), rendered by a rule::

    {root}/videos/{video}.mp4
    {root}/annotations/{video}.json   {"video", "scene", "label", "split_oneclass", "split_weak",
                                       "n_frames", "fps", "size": [H, W],
                                       "anomalies": [{"type", "start", "stop"}]}   (stop exclusive)
    {root}/masks/{video}.npz          pixel masks (not read here)

Nothing is rendered when the workflow builds its DAG, so ``list_videos`` plans the videos from the
config's ``synthetic:`` section. ``build`` reads the annotations of those planned videos (or, with no
``synthetic:`` section, of every annotation file under the root), checks each against its video's
frame count and the plan, and turns the anomaly intervals into frame labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vadlib.data.adapters.base import (
    Adapter,
    AdapterError,
    GroundTruth,
    Source,
    check_splits,
    fill_frame_counts,
    interval_labels,
    is_test,
    select,
)
from vadlib.data.manifest import SPLITS, VideoEntry

DEFAULTS = {"synthetic": None}  # the generator's config section (vadlib.data.synthetic)

FIELDS = ("video", "scene", "label", "split_oneclass", "split_weak", "n_frames", "fps", "anomalies")


def _video_path(src: Source, video: str) -> str:
    return str(src.root / "videos" / f"{video}.mp4")


def _planned(src: Source) -> list[VideoEntry]:
    from vadlib.data.synthetic import plan_videos

    fps = float(src["synthetic"].get("fps", 25))
    return [VideoEntry(p.video, _video_path(src, p.video), "video", p.label, scene=p.scene,
                       split_oneclass=p.split_oneclass, split_weak=p.split_weak, n_frames=p.n_frames, fps=fps)
            for p in plan_videos(src["synthetic"])]


def list_videos(src: Source) -> list[VideoEntry]:
    if not src["synthetic"]:
        raise AdapterError("dataset config (adapter 'synthetic'): field 'synthetic' (the generator's "
                           "section) is missing")
    entries = select(_planned(src), src.protocols)
    check_splits(entries, src.protocols, f"{src.root} (adapter 'synthetic')")
    return entries


def _read_annotation(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AdapterError(f"{path}: no such annotation file (is the video rendered?)")
    try:
        annotation = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AdapterError(f"{path}: not valid JSON ({err})") from err
    missing = [f for f in FIELDS if f not in annotation]
    if missing:
        raise AdapterError(f"{path}: field(s) {missing} are missing")
    if annotation["video"] != path.stem:
        raise AdapterError(f"{path}: field 'video' is {annotation['video']!r}, expected {path.stem!r}")
    for field in ("split_oneclass", "split_weak"):
        if annotation[field] not in SPLITS:
            raise AdapterError(f"{path}: field '{field}' is {annotation[field]!r}; expected one of {SPLITS}")
    anomalies = annotation["anomalies"]
    if not isinstance(anomalies, list) or not all(
            isinstance(x, dict) and all(isinstance(x.get(k), int) for k in ("start", "stop")) for x in anomalies):
        raise AdapterError(f"{path}: field 'anomalies' must be a list of {{'type', 'start', 'stop'}} with integer "
                           f"frame indices, got {anomalies!r}")
    if annotation["label"] not in (0, 1) or annotation["label"] != bool(annotation["anomalies"]):
        raise AdapterError(f"{path}: field 'label' is {annotation['label']!r} but field 'anomalies' lists "
                           f"{len(annotation['anomalies'])} anomalies")
    return annotation


def build(src: Source) -> tuple[list[VideoEntry], GroundTruth]:
    folder = src.root / "annotations"
    if src["synthetic"]:
        planned = {e.video: e for e in _planned(src)}
        paths = [folder / f"{e.video}.json" for e in select(planned.values(), src.protocols)]
    else:
        planned = {}
        paths = sorted(folder.glob("*.json"))
        if not paths:
            raise AdapterError(f"{folder}: no annotation file (*.json)")
    annotations = {path.stem: (path, _read_annotation(path)) for path in paths}
    entries = []
    for video, (path, a) in annotations.items():
        entry = VideoEntry(video, _video_path(src, video), "video", int(a["label"]), scene=str(a["scene"]),
                           split_oneclass=a["split_oneclass"], split_weak=a["split_weak"],
                           n_frames=int(a["n_frames"]), fps=float(a["fps"]))
        plan = planned.get(video)
        for field in ("label", "split_oneclass", "split_weak", "n_frames"):
            if plan is not None and getattr(plan, field) != getattr(entry, field):
                raise AdapterError(f"{path}: field '{field}' is {getattr(entry, field)!r} but the dataset's "
                                   f"'synthetic' config plans {getattr(plan, field)!r} (a stale rendering?)")
        entries.append(entry)
    entries = select(entries, src.protocols)
    check_splits(entries, src.protocols, f"{folder} (adapter 'synthetic')")
    truth = {}
    for e in fill_frame_counts(entries, "synthetic: frame counts"):  # the counts of the files themselves
        path, a = annotations[e.video]
        if e.n_frames != a["n_frames"]:
            raise AdapterError(f"{path}: field 'n_frames' is {a['n_frames']}, but {e.source} has {e.n_frames} frames")
        if is_test(e):
            intervals = [(x["start"], x["stop"]) for x in a["anomalies"]]
            truth[e.video] = interval_labels(e.n_frames, intervals, e.video, f"{path}: field 'anomalies'")
    return entries, truth


ADAPTER = Adapter("synthetic", ("oneclass", "weak"), DEFAULTS, list_videos, build, generated=True)
