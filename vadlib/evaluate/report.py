"""The evaluation stage: every enabled method's frame scores -> ``auc.json``, ROC and timelines."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from vadlib.data.manifest import check_ground_truth, load_ground_truth, read_manifest, videos as split_videos
from vadlib.evaluate.figures import roc_figure, timeline_figure
from vadlib.evaluate.metrics import concatenate, frame_metrics, roc
from vadlib.runtime import atomic_output
from vadlib.scores import load_scores


def evaluate(manifest_path: str, truth_path: str, score_paths: list[str], out_json: str, out_roc: str,
             out_timelines: str, dataset: str, config: dict[str, Any], timeline_videos: int = 12) -> dict:
    """Evaluate every row of every scores file on the test split of its protocol.

    A scores file names the protocol it was made for (or a list of them, for training-free scorers); a
    row whose protocol has no test split in the dataset gets a note instead of numbers, and so does one
    whose test frames are all of one class (AUC undefined). Ground truth of another length than a test
    video's frame count fails naming the video. Returns the report.
    """
    manifest = read_manifest(manifest_path)
    truth = load_ground_truth(truth_path)
    check_ground_truth(manifest, truth, truth_path)
    rows: list[dict[str, Any]] = []
    curves: dict[str, tuple[np.ndarray, np.ndarray, float | None]] = {}
    timeline_scores: dict[str, dict[str, np.ndarray]] = {}
    shown: list[str] = []
    for path in score_paths:
        per_row, meta = load_scores(path)
        protocols = meta["protocol"] if isinstance(meta["protocol"], list) else [meta["protocol"]]
        for protocol, (row, per_video) in ((p, r) for p in protocols for r in per_row.items()):
            test = split_videos(manifest, protocol, "test")
            label = meta["method"] if row == meta["method"] else f"{meta['method']}/{row}"
            entry = {"method": meta["method"], "row": row, "label": label, "protocol": protocol,
                     "pretrained": meta.get("pretrained"), "scores": str(path)}
            if not test:
                rows.append({**entry, "auc": None, "ap": None, "frames": 0, "videos": 0,
                             "note": f"dataset {dataset!r} has no test split for protocol {protocol!r}"})
                continue
            scores, labels = concatenate(per_video, truth, test, source=f"{path} (row {row!r})")
            metrics = frame_metrics(scores, labels, len(test))
            rows.append({**entry, **metrics.__dict__})
            if metrics.auc is not None:
                curves[f"{label} [{protocol}]"] = (*roc(scores, labels), metrics.auc)
            timeline_scores[label] = per_video
            shown = shown or test
    if timeline_videos:
        abnormal = [v for v in shown if truth[v].any()]
        normal = [v for v in shown if not truth[v].any()]
        shown = (abnormal + normal)[:timeline_videos]
    visible = {k: v for k, v in timeline_scores.items() if all(video in v for video in shown)}
    report = {"dataset": dataset, "rows": rows, "config": config}
    roc_figure(curves, out_roc, f"{dataset}: frame-level ROC")
    timeline_figure(shown, truth, visible, out_timelines, dataset)
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=str))
    return report
