"""Benchmark timings of a run: the ``benchmark:`` files of one dataset summed per rule, as an HTML
table (with what each rule does) and a bar figure for the report.

Snakemake writes one TSV per benchmarked job (a header, then one line per repeat: ``s`` wall seconds,
``max_rss`` MB, ...). Which rule wrote a file is told by the rules' benchmark path patterns, passed in
as regular expressions over the file paths (the workflow knows them; this module knows no Snakemake).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vadlib.evaluate.table import html_page, write_html
from vadlib.runtime import save_figure


@dataclass
class RuleTiming:
    """The benchmarks of one rule: ``jobs`` files; seconds are each job's mean over its repeats."""

    rule: str
    doc: str
    benchmarked: bool
    jobs: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    max_rss_mb: float | None = None

    @property
    def mean_s(self) -> float | None:
        return self.total_s / self.jobs if self.jobs else None


def _number(text: str | None) -> float | None:
    """A benchmark field: Snakemake writes ``NA`` (or ``-``) where it could not measure."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_benchmark(path: str | os.PathLike) -> tuple[float, float | None]:
    """``(seconds, max RSS MB)`` of one benchmark file: mean wall time and largest RSS of its repeats.
    A file without the ``s`` column or without a measured line fails naming the file."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    seconds = [_number(row.get("s")) for row in rows]
    seconds = [s for s in seconds if s is not None]
    if not seconds:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no line with a number in column 's')")
    rss = [r for r in (_number(row.get("max_rss")) for row in rows) if r is not None]
    return sum(seconds) / len(seconds), max(rss) if rss else None


def _clean(doc: str) -> str:
    return " ".join((doc or "").replace("``", "").split())


def collect_timings(folder: str | os.PathLike, rules: Mapping[str, Mapping[str, str | None]]) -> list[RuleTiming]:
    """Sum the benchmark files under ``folder`` per rule.

    ``rules``: rule name -> ``{"benchmark": regex or None, "doc": docstring}``; a file belongs to the
    rule whose regex matches its whole path (``folder``/relative path, as the rules write it). Files no
    rule matches (left by a renamed or removed rule) get one row per folder, named ``? <folder>``.
    Rows: benchmarked rules by total time, largest first, then those without a benchmark directive.
    """
    folder = Path(folder)
    timings = {name: RuleTiming(name, _clean(spec.get("doc") or ""), spec.get("benchmark") is not None)
               for name, spec in rules.items()}
    patterns = [(name, re.compile(spec["benchmark"])) for name, spec in rules.items() if spec.get("benchmark")]
    for path in sorted(folder.rglob("*.tsv")) if folder.is_dir() else []:
        text = path.as_posix()
        name = next((name for name, regex in patterns if regex.fullmatch(text)), None)
        if name is None:
            name = f"? {path.parent.relative_to(folder).as_posix()}"
            timings.setdefault(name, RuleTiming(name, "benchmark files that no rule of the workflow writes", True))
        seconds, rss = read_benchmark(path)
        timing = timings[name]
        timing.jobs += 1
        timing.total_s += seconds
        timing.max_s = max(timing.max_s, seconds)
        if rss is not None:
            timing.max_rss_mb = max(rss, timing.max_rss_mb or 0.0)
    return sorted(timings.values(), key=lambda t: (not t.benchmarked, -t.total_s, t.rule))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def timings_html(timings: list[RuleTiming], title: str, folder: str | os.PathLike) -> str:
    header = ["rule", "jobs", "total s", "mean s", "max s", "max RSS MB", "what it does"]
    rows = []
    for t in timings:
        if t.benchmarked:
            rss = "-" if t.max_rss_mb is None else f"{t.max_rss_mb:.0f}"
            rows.append([t.rule, str(t.jobs), _seconds(t.total_s if t.jobs else None), _seconds(t.mean_s),
                         _seconds(t.max_s if t.jobs else None), rss, t.doc])
        else:
            rows.append([t.rule, "", "", "", "", "", t.doc + " (no benchmark)"])
    footer = (f"<p>Sums over the jobs' benchmark files under <code>{folder}</code> (wall seconds of each job, "
              f"mean over repeats; largest resident memory). Jobs ran in parallel, so the totals add up to "
              f"more than the run's wall time. Rules without a benchmark directive are listed last.</p>")
    return html_page(title, header, rows, numeric={"jobs", "total s", "mean s", "max s", "max RSS MB"},
                     groups=[str(t.benchmarked) for t in timings], footer=footer)


def timings_figure(timings: list[RuleTiming], out_png: str | os.PathLike, title: str) -> Path:
    """Horizontal bars per benchmarked rule with jobs: total seconds (with the job count) and max RSS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [t for t in timings if t.benchmarked and t.jobs][::-1]  # largest at the top
    height = 1.2 + 0.32 * max(1, len(shown))
    fig, (ax_time, ax_rss) = plt.subplots(1, 2, figsize=(11, height), sharey=True,
                                          gridspec_kw={"width_ratios": [3, 2]})
    names = [t.rule for t in shown]
    ax_time.barh(names, [t.total_s for t in shown], color="#3b82f6")
    for i, t in enumerate(shown):
        ax_time.text(t.total_s, i, f" {t.total_s:.1f} s, {t.jobs} job{'s' if t.jobs > 1 else ''}",
                     va="center", fontsize=8)
    ax_time.set_xlabel("total wall time of the jobs [s]")
    ax_time.set_xlim(0, 1.35 * max([t.total_s for t in shown] or [1.0]))
    ax_rss.barh(names, [t.max_rss_mb or 0.0 for t in shown], color="#f59e0b")
    ax_rss.set_xlabel("max RSS of a job [MB]")
    if not shown:
        ax_time.text(0.5, 0.5, "no benchmark files", transform=ax_time.transAxes, ha="center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png, dpi=100)


def timings_report(folder: str | os.PathLike, rules: Mapping[str, Mapping[str, str | None]],
                   out_html: str | os.PathLike, out_png: str | os.PathLike, dataset: str) -> list[RuleTiming]:
    """Write the timings table and figure of the benchmark files under ``folder``; returns the rows."""
    timings = collect_timings(folder, rules)
    title = f"{dataset}: benchmark timings per rule"
    write_html(timings_html(timings, title, folder), out_html)
    timings_figure(timings, out_png, title)
    return timings
