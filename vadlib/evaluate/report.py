"""The evaluation stage: every enabled method's frame scores -> ``auc.json``, ROC and timelines.

``auc.json`` holds ``dataset``, ``metric`` (the one the dataset is scored by in its literature: ``auc``,
or ``ap`` for XD-Violence; the dataset config's ``metric``), ``rows`` and the ``config``. A row has the
method, its score component and protocol, and the metrics of :mod:`vadlib.evaluate.metrics`: ``auc``
(micro), ``macro_auc`` and ``macro_videos``, ``ap`` (scikit-learn's) and ``pr_auc`` (XD-Violence's
AP), ``frames``, ``abnormal_frames``, ``videos`` and a ``note``: why numbers are missing, and what
the scores file says of the row (its meta's ``note`` for every row, ``notes[row]`` for one: a
discriminator that collapsed to a constant, weights selected on the test labels). A detector's row
also says how its weights were selected (``selection``), and a row whose number a paper published for
the dataset (the dataset config's ``published: {row label: percent}``) carries it as ``paper``.

Each method has one *main* row (``main: true``, :func:`main_row`), the one that stands for the method in
the ROC figure and the timelines; its other rows are score components, drawn per method in the
components figure and listed in the table.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from vadlib.data.manifest import check_ground_truth, load_ground_truth, read_manifest
from vadlib.data.manifest import videos as split_videos
from vadlib.evaluate.figures import Curve, components_figure, method_colours, roc_figure, timeline_figure
from vadlib.evaluate.metrics import EvaluationError, FrameMetrics, concatenate, frame_metrics, roc
from vadlib.evaluate.table import MAIN_METRICS
from vadlib.runtime import atomic_output, save_figure
from vadlib.scores import load_scores


def _note(meta: dict[str, Any], row: str, *notes: str) -> str:
    """The row's notes: the evaluation's own, then the scores file's for every row and for this row."""
    parts = [*notes, meta.get("note") or "", (meta.get("notes") or {}).get(row) or ""]
    return "; ".join(p for p in parts if p)


def main_row(method: str, rows: list[str]) -> str:
    """The row that stands for ``method`` among its score rows ``rows`` (in the scores file's order):
    the row named after the method (a method with a single score: ``mlp``, ``reference``), else its
    ``combined`` row (``luss/combined``, ``stpa/combined``), else its first row."""
    if not rows:
        raise EvaluationError(f"method {method!r}: its scores file holds no row")
    return method if method in rows else "combined" if "combined" in rows else rows[0]


def shown_videos(tests: list[str], truth: dict[str, np.ndarray], limit: int) -> list[str]:
    """The test videos of the timelines: the abnormal ones first, then the normal ones, each in test
    order; the first ``limit`` of them (every one when ``limit`` is 0)."""
    ordered = [v for v in tests if truth[v].any()] + [v for v in tests if not truth[v].any()]
    return ordered[:limit] if limit else ordered


def published_value(published: dict[str, Any] | None, label: str) -> float | None:
    """The published number (percent) of row ``label``: ``published[label]``, a number or ``{value: ...}``."""
    entry = (published or {}).get(label)
    if isinstance(entry, dict):
        entry = entry.get("value")
    if entry is None:
        return None
    if isinstance(entry, bool) or not isinstance(entry, (int, float)):
        raise EvaluationError(f"published number of row {label!r} must be a number (percent), got {entry!r}")
    return float(entry)


def evaluate(manifest_path: str, truth_path: str, score_paths: list[str], out_json: str, out_roc: str,
             out_timelines: str, dataset: str, config: dict[str, Any], timeline_videos: int = 12,
             metric: str = "auc", published: dict[str, Any] | None = None,
             out_components: str | None = None) -> dict:
    """Evaluate every row of every scores file on the test split of its protocol.

    A scores file names the protocol it was made for (or a list of them, for training-free scorers); a
    row whose protocol has no test split in the dataset gets a note instead of numbers, and so does one
    whose test frames are all of one class (AUC undefined). Ground truth of another length than a test
    video's frame count fails naming the video. ``metric`` (``auc`` or ``ap``) is recorded as the
    dataset's main metric. Writes ``out_json``, the ROC of the main rows (``out_roc``), the ROC of every
    method's components (``out_components``, if given) and the timelines of the main rows on
    ``timeline_videos`` test videos (every one when 0). Returns the report.
    """
    if metric not in MAIN_METRICS:
        raise EvaluationError(f"dataset {dataset!r}: field 'metric' must be one of {list(MAIN_METRICS)}, "
                              f"got {metric!r}")
    manifest = read_manifest(manifest_path)
    truth = load_ground_truth(truth_path)
    check_ground_truth(manifest, truth, truth_path)
    rows: list[dict[str, Any]] = []
    curves: list[Curve] = []
    timeline_scores: dict[str, dict[str, np.ndarray]] = {}
    timeline_methods: dict[str, str] = {}
    tests: list[str] = []
    for path in score_paths:
        per_row, meta = load_scores(path)
        method = meta["method"]
        main = main_row(method, list(per_row))
        protocols = meta["protocol"] if isinstance(meta["protocol"], list) else [meta["protocol"]]
        for protocol, (row, per_video) in ((p, r) for p in protocols for r in per_row.items()):
            test = split_videos(manifest, protocol, "test")
            label = method if row == method else f"{method}/{row}"
            entry = {"method": method, "row": row, "label": label, "main": row == main, "protocol": protocol,
                     "pretrained": meta.get("pretrained"), "scores": str(path)}
            if "selection" in meta:
                entry["selection"] = meta["selection"]
            paper = published_value(published, label)
            if paper is not None:
                entry["paper"] = paper
            if not test:
                empty = FrameMetrics(None, None, 0, 0, 0,
                                     note=f"dataset {dataset!r} has no test split for protocol {protocol!r}")
                rows.append({**entry, **empty.__dict__, "note": _note(meta, row, empty.note)})
                continue
            scores, labels = concatenate(per_video, truth, test, source=f"{path} (row {row!r})")
            metrics = frame_metrics(scores, labels, len(test), [len(truth[v]) for v in test])
            rows.append({**entry, **metrics.__dict__, "note": _note(meta, row, metrics.note)})
            if metrics.auc is not None:
                curves.append(Curve(label, method, protocol, row == main, *roc(scores, labels), metrics.auc))
            if row == main:
                timeline_scores[label], timeline_methods[label] = per_video, method
            tests += [v for v in test if v not in tests]
    report = {"dataset": dataset, "metric": metric, "rows": rows, "config": config}
    colours = method_colours([row["method"] for row in rows if row["main"]])
    protocols = [row["protocol"] for row in rows if row["videos"]]
    save_figure(roc_figure(curves, f"{dataset}: frame-level ROC of each method", protocols, colours),
                out_roc, dpi=110, bbox_inches="tight")
    if out_components is not None:
        save_figure(components_figure(curves, f"{dataset}: frame-level ROC of each score component"),
                    out_components, dpi=110, bbox_inches="tight")
    shown = shown_videos(tests, truth, timeline_videos)
    note = (f"{len(shown)} of {len(tests)} test videos, the abnormal ones first" if len(shown) < len(tests)
            else f"all {len(tests)} test videos")
    save_figure(timeline_figure(shown, truth, timeline_scores, dataset, colours, timeline_methods, note),
                out_timelines, dpi=110, bbox_inches="tight")
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=str))
    return report
