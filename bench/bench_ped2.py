"""UCSD Ped2: the one-class methods' frame-level AUC beside the figures their papers publish, with the
settings that made them and the wall time of every rule.

It reads a finished run, ``results/ped2/`` as ``make bench-ped2`` leaves it (Snakemake on
``results/ped2/auc.json`` with ``--configfile config/ped2_cpu.yaml``: the papers' settings with sizes
and epochs reduced, about half an hour on 2 CPU cores), and writes bench/results/ped2.json:

- ``rows``: per row of auc.json, our micro AUC (and macro AUC where auc.json has it), the paper's
  figure where the dataset file's ``published:`` gives one (config/datasets/ped2.yaml, each figure's
  table named there), and ours minus the paper's, in points of %; the ratio ours / paper is printed;
- ``settings``: the merged config values the one-class chain read (from auc.json's ``config``), and
  ``reduced``: those that differ from config/config.yaml as it is when this script runs (what the
  benchmark shrank);
- ``timings``: per rule, jobs, total / mean / largest wall seconds and largest RSS, from the
  ``benchmark:`` files under results/ped2/benchmarks/ (vadlib.evaluate.timings.collect_timings); per
  training and scoring job its seconds; and ``run_seconds``, the run's wall time, from the first
  benchmarked job's start to the last one's end (one uninterrupted run).

    make bench-ped2                                   # the run, then this script
    python bench/bench_ped2.py [--results results/ped2]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from vadlib.evaluate.timings import collect_timings, read_benchmark  # noqa: E402

from common import code_state, write_results  # noqa: E402

# The config sections the one-class chain reads (decoding, flow, I3D for STPA's semantic features,
# masks, inpainting, mixup, the three methods, the reference) and the switches and seed.
SECTIONS = ("methods", "seed", "device", "decode", "flow", "masks", "inpaint", "mixup", "oneclass", "luss",
            "memae_cvae", "stpa", "reference")

# Each rule's ``benchmark:`` path under {results}/{dataset}/benchmarks/ (rules/*.smk), its wildcards
# as regular expressions. A file that none matches (a rule renamed since) gets a row "? folder".
BENCHMARKS = {
    "decode": r"decode/[^/]+",
    "flow": r"flow/[^/]+",
    "i3d": r"i3d(?:_inpainted)?/[^/]+",
    "masks": r"masks/[^/]+",
    "train_ldm": r"train/ldm",
    "inpaint": r"inpaint/[^/]+",
    "mixup": r"mixup/[^/]+",
    "train_oneclass": r"train/(?:luss|memae_cvae|stpa)",
    "score_oneclass": r"score/(?:luss|memae_cvae|stpa)",
    "reference_scores": r"reference",
}


def differences(run: object, defaults: object, prefix: str = "") -> dict:
    """Dotted key -> ``{"run": value, "default": value}`` wherever the run's config leaves the default."""
    if isinstance(run, dict) and isinstance(defaults, dict):
        out = {}
        for key in sorted(set(run) | set(defaults)):
            out.update(differences(run.get(key), defaults.get(key), f"{prefix}{key}."))
        return out
    if run != defaults:
        return {prefix.rstrip("."): {"run": run, "default": defaults}}
    return {}


def settings(config: dict) -> dict:
    picked = {key: config.get(key) for key in SECTIONS}
    picked["features.i3d"] = (config.get("features") or {}).get("i3d")
    return picked


def percent(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(100.0 * value, 2)


def rows(report: dict, published: dict) -> list[dict]:
    out = []
    for row in report["rows"]:
        ours = percent(row.get("auc"))
        paper = published.get(row["label"])
        out.append({"row": row["label"], "protocol": row["protocol"], "auc": ours,
                    "macro_auc": percent(row.get("macro_auc")) if "macro_auc" in row else None,
                    "published": paper,
                    "difference": None if ours is None or paper is None else round(ours - paper, 2),
                    "frames": row.get("frames"), "videos": row.get("videos"),
                    "pretrained": row.get("pretrained"), "note": row.get("note")})
    return out


def timings(folder: Path) -> dict:
    patterns = {rule: {"benchmark": re.escape(folder.as_posix()) + "/" + pattern + r"\.tsv", "doc": ""}
                for rule, pattern in BENCHMARKS.items()}
    per_rule = {t.rule: {"jobs": t.jobs, "total_s": round(t.total_s, 1), "mean_s": t.mean_s and round(t.mean_s, 1),
                         "max_s": round(t.max_s, 1), "max_rss_mb": t.max_rss_mb}
                for t in collect_timings(folder, patterns) if t.jobs}
    jobs, starts, ends = {}, [], []
    for path in sorted(folder.rglob("*.tsv")):
        seconds, _ = read_benchmark(path)
        name = path.relative_to(folder).with_suffix("").as_posix()
        if name.split("/")[0] in ("train", "score") or "/" not in name:
            jobs[name] = round(seconds, 1)
        ends.append(path.stat().st_mtime)
        starts.append(ends[-1] - seconds)
    run_seconds = round(max(ends) - min(starts), 1) if ends else None
    return {"run_seconds": run_seconds, "rules": per_rule, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "ped2",
                        help="the finished run's folder (holding auc.json and benchmarks/)")
    parser.add_argument("--name", default="ped2", help="the file written: bench/results/NAME.json")
    args = parser.parse_args()
    auc_path = args.results / "auc.json"
    if not auc_path.is_file():
        raise SystemExit(f"{auc_path}: no such file; run the benchmark first (make bench-ped2)")
    report = json.loads(auc_path.read_text())
    config = report.get("config") or {}
    dataset = report.get("dataset", "ped2")
    dataset_cfg = (config.get("datasets") or {}).get(dataset)
    if dataset_cfg is None:  # an auc.json without the merged datasets: the dataset file itself
        dataset_cfg = yaml.safe_load((ROOT / "config" / "datasets" / f"{dataset}.yaml").read_text())
    published = dataset_cfg.get("published") or {}
    defaults = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    table = rows(report, published)
    picked = settings(config)
    figures = {
        "dataset": dataset, "results": str(args.results), "code": code_state(),
        "metric": "frame-level AUC (%), micro over the concatenated test frames; macro: the mean over videos",
        "rows": table,
        "settings": picked,
        "reduced": differences(picked, settings(defaults)),
        "timings": timings(args.results / "benchmarks"),
    }
    print(f"{dataset}: frame-level AUC (%) against the published figures")
    print(f"  {'row':28s} {'ours':>7s} {'macro':>7s} {'paper':>7s} {'ours/paper':>10s}")
    for row in table:
        ours, macro, paper = row["auc"], row["macro_auc"], row["published"]
        ratio = f"{ours / paper:10.3f}" if ours is not None and paper else f"{'':10s}"
        show = lambda v: f"{v:7.2f}" if v is not None else f"{'-':>7s}"  # noqa: E731
        print(f"  {row['row']:28s} {show(ours)} {show(macro)} {show(paper)} {ratio}")
    run_seconds = figures["timings"]["run_seconds"]
    if run_seconds is not None:
        print(f"  the run: {run_seconds / 60:.1f} min wall (first benchmarked job's start to the last one's end)")
    for rule, t in figures["timings"]["rules"].items():
        print(f"    {rule:18s} {t['jobs']:3d} jobs {t['total_s']:8.1f} s")
    write_results(args.name, figures)


if __name__ == "__main__":
    main()
