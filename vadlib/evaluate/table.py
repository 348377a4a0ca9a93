"""``auc.json`` as a table: plain text for the terminal, HTML for the Snakemake report. Its title names
the dataset's main metric (``auc.json``'s ``metric``); a legend says what each column measures.

    python -m vadlib.evaluate.table results/synthetic/auc.json
"""

from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path

from vadlib.runtime import atomic_output

COLUMNS = ("row", "protocol", "AUC", "macro AUC", "macro videos", "AP", "PR-AUC", "frames", "videos", "pretrained")

#: A dataset's main metric (its config's ``metric``, ``auc.json``'s ``metric``) -> how the table names it.
MAIN_METRICS = {"auc": "micro AUC", "ap": "AP"}

LEGEND = ("paper: the number the method's paper published for this dataset and row. "
          "AUC: micro, over all test frames at once. Macro AUC: the mean frame AUC of the macro videos, the "
          "test videos that hold both classes. AP: scikit-learn's average precision (a step sum). PR-AUC: the "
          "trapezoid area under the precision-recall curve, the AP that XD-Violence's code reports.")
TEXT_LEGEND = ("macro: mean frame AUC of the 'of' test videos holding both classes; AP: scikit-learn's; "
               "PR-AUC: trapezoid area under the PR curve (XD-Violence's AP)")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def table_rows(report: dict) -> list[dict[str, str]]:
    """The cells of the table, one row per method and score component (``method/component``; a
    ``_mtvae`` method is trained with the pseudo-abnormal videos): ``COLUMNS`` plus ``note``, the
    metrics in percent (``-`` where undefined, or missing from an older ``auc.json``)."""
    return [{"row": row["label"], "protocol": row["protocol"], "AUC": _percent(row["auc"]),
             "paper": "-" if row.get("paper") is None else f"{row['paper']:.2f}",
             "macro AUC": _percent(row.get("macro_auc")), "macro videos": str(row.get("macro_videos", "-")),
             "AP": _percent(row["ap"]), "PR-AUC": _percent(row.get("pr_auc")), "frames": str(row["frames"]),
             "videos": str(row["videos"]), "pretrained": str(row.get("pretrained")), "note": row.get("note") or ""}
            for row in report["rows"]]


def table_title(report: dict) -> str:
    """The table's title: the dataset and its main metric."""
    main = MAIN_METRICS.get(report.get("metric", "auc"), report.get("metric"))
    return f"{report['dataset']}: frame-level AUC and AP (%); the dataset is scored by {main}"


def has_paper(report: dict) -> bool:
    """Whether any row carries a published number (the table then shows a ``paper`` column)."""
    return any(row.get("paper") is not None for row in report["rows"])


def format_table(report: dict) -> str:
    paper = has_paper(report)
    lines = [table_title(report),
             f"{'row':<28} {'protocol':<9} {'AUC':>7} " + (f"{'paper':>7} " if paper else "")
             + f"{'macro':>7} {'of':>4} {'AP':>7} {'PR-AUC':>7} {'frames':>8} {'videos':>6}  pretrained"]
    for cells in table_rows(report):
        lines.append(f"{cells['row']:<28} {cells['protocol']:<9} {cells['AUC']:>7} "
                     + (f"{cells['paper']:>7} " if paper else "") + f"{cells['macro AUC']:>7} "
                     f"{cells['macro videos']:>4} {cells['AP']:>7} {cells['PR-AUC']:>7} "
                     f"{cells['frames']:>8} {cells['videos']:>6}  {cells['pretrained']}"
                     + (f"  ({cells['note']})" if cells["note"] else ""))
    lines.append(("paper: the published number; " if paper else "") + TEXT_LEGEND)
    return "\n".join(lines)


STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:14px}
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
th{background:#f1f5f9}.num{text-align:right;font-variant-numeric:tabular-nums}
tr.method td{border-top:2px solid #94a3b8}caption{text-align:left;font-weight:bold;margin-bottom:.6em}
.note{color:#92400e}.legend{font-size:13px;color:#475569;max-width:60em}"""


def html_page(title: str, header: list[str], rows: list[list[str]], numeric: set[str] = frozenset(),
              groups: list[str] | None = None, footer: str = "") -> str:
    """A standalone HTML page holding one table (the report shows HTML results in a frame; CSV or TSV
    results would only be offered as downloads). ``groups`` (one key per row) draws a line where the
    key changes; cells are escaped."""
    head = "".join(f'<th{" class=num" if h in numeric else ""}>{html.escape(h)}</th>' for h in header)
    body = []
    for i, cells in enumerate(rows):
        first = groups is not None and (i == 0 or groups[i] != groups[i - 1])
        tds = "".join(f'<td{" class=num" if h in numeric else ""}>{html.escape(c)}</td>'
                      for h, c in zip(header, cells))
        body.append(f'<tr{" class=method" if first and i else ""}>{tds}</tr>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><table><caption>{html.escape(title)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{footer}</body></html>\n")


def write_html(text: str, out: str | os.PathLike) -> Path:
    """Write ``text`` to ``out`` atomically (a temporary sibling, then a rename)."""
    with atomic_output(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(out)


def html_table(report: dict) -> str:
    """The AUC table of ``report`` as a standalone HTML page."""
    cells = table_rows(report)
    keys = [*COLUMNS, "note"] if any(c["note"] for c in cells) else list(COLUMNS)
    if has_paper(report):
        keys.insert(keys.index("AUC") + 1, "paper")
    header = ["method/component" if key == "row" else key for key in keys]
    methods = [row["method"] for row in report["rows"]]
    return html_page(table_title(report), header, [[c[key] for key in keys] for c in cells],
                     numeric={"AUC", "paper", "macro AUC", "macro videos", "AP", "PR-AUC", "frames", "videos"},
                     groups=methods, footer=f"<p class=legend>{html.escape(LEGEND)}</p>")


def write_html_table(report: dict, out: str | os.PathLike) -> Path:
    return write_html(html_table(report), out)


def main(argv: list[str]) -> int:
    for path in argv or ["results/synthetic/auc.json"]:
        with open(path) as fh:
            print(format_table(json.load(fh)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
