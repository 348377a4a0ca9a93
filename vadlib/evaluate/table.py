"""Print an ``auc.json`` as a table: ``python -m vadlib.evaluate.table results/synthetic/auc.json``."""

from __future__ import annotations

import json
import sys


def format_table(report: dict) -> str:
    lines = [f"{report['dataset']}: frame-level micro AUC / AP",
             f"{'row':<28} {'protocol':<9} {'AUC':>7} {'AP':>7} {'frames':>8} {'videos':>6}  pretrained"]
    for row in report["rows"]:
        auc = "-" if row["auc"] is None else f"{100 * row['auc']:.2f}"
        ap = "-" if row["ap"] is None else f"{100 * row['ap']:.2f}"
        lines.append(f"{row['label']:<28} {row['protocol']:<9} {auc:>7} {ap:>7} {row['frames']:>8} "
                     f"{row['videos']:>6}  {row.get('pretrained')}" + (f"  ({row['note']})" if row.get("note") else ""))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    for path in argv or ["results/synthetic/auc.json"]:
        with open(path) as fh:
            print(format_table(json.load(fh)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
