"""Figures of the evaluation: ROC curves and per-video score timelines.

- :func:`roc_figure`: the main row of every method (see :func:`vadlib.evaluate.report.main_row`), one
  panel per protocol, the AUC in the legend.
- :func:`components_figure`: every row of each method that has score components, one panel per method.
- :func:`timeline_figure`: per test video, the main rows' frame scores over time with the ground truth
  shaded.

A method keeps one colour in every figure (:func:`method_colours`); within a panel no two lines share
one. Legends sit outside the axes, so they never hide a curve. The functions return the figure; write
it with :func:`vadlib.runtime.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: protocol -> how the figures name it
PROTOCOLS = {"weak": "weakly supervised", "oneclass": "one-class"}

Colour = tuple[float, float, float, float]


@dataclass
class Curve:
    """The ROC curve of one row of ``auc.json`` on the test split of its protocol."""

    label: str
    method: str
    protocol: str
    main: bool
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


def distinct_colours(n: int) -> list[Colour]:
    """``n`` colours, none repeated: tab10 by index up to 10, tab20 up to 20, evenly spaced turbo beyond."""
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return [plt.get_cmap("turbo")(x) for x in np.linspace(0.05, 0.95, n)]


def method_colours(methods: Sequence[str]) -> dict[str, Colour]:
    """One colour per distinct method, by order of first appearance: the same in every figure."""
    unique = list(dict.fromkeys(methods))
    return dict(zip(unique, distinct_colours(len(unique))))


def line_style(method: str) -> str:
    """The training-free reference is dashed in every figure, the methods solid."""
    return "--" if method == "reference" else "-"


def protocol_name(protocol: str) -> str:
    return PROTOCOLS.get(protocol, protocol)


def panel_grid(count: int, ncols: int, width: float, height: float,
               extra_height: float = 0.0) -> tuple[Figure, np.ndarray]:
    """A figure of ``count`` panels of ``width`` x ``height`` inches in rows of ``ncols`` (at least one
    row), the cells past ``count`` hidden; ``extra_height`` inches more for titles and legends."""
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows + extra_height), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[count:]:
        ax.set_axis_off()
    return fig, axes


def _roc_axes(ax: plt.Axes, title: str) -> None:
    ax.plot([0, 1], [0, 1], ls=":", c="0.6", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.set_title(title, fontsize=10)


def _legend_below(ax: plt.Axes, **kwargs) -> None:
    """The legend of ``ax`` under its x label, outside the axes."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, frameon=False, **kwargs)


def _by_auc(curves: list[Curve]) -> list[Curve]:
    return sorted(curves, key=lambda c: -c.auc)


def roc_figure(curves: Sequence[Curve], title: str, protocols: Sequence[str] | None = None,
               colours: Mapping[str, Colour] | None = None) -> Figure:
    """The ROC curve of each method's main row, one panel per protocol (``protocols``: those to draw,
    by default those of ``curves``); the legend, below each panel, lists the rows by AUC. ``colours``:
    method -> colour (:func:`method_colours` of the curves' methods by default)."""
    main = [c for c in curves if c.main]
    protocols = list(dict.fromkeys(protocols if protocols is not None else [c.protocol for c in main]))
    colours = colours or method_colours([c.method for c in main])
    n = max(1, len(protocols))
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 6.2), squeeze=False, layout="constrained")
    for ax, protocol in zip(axes[0], protocols or [None]):
        _roc_axes(ax, protocol_name(protocol) if protocol else "no protocol")
        shown = _by_auc([c for c in main if c.protocol == protocol])
        for c in shown:
            ax.plot(c.fpr, c.tpr, lw=1.6, color=colours[c.method], label=f"{c.label}  {c.auc:.3f}",
                    ls=line_style(c.method))
        if shown:
            _legend_below(ax, title="row  AUC", title_fontsize=8)
        else:
            ax.text(0.5, 0.5, "no curve: AUC undefined for every row", ha="center", va="center", fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def components_figure(curves: Sequence[Curve], title: str) -> Figure:
    """The ROC curves of every row of each method with score components (more than one row), one
    panel per method and protocol; the main row is drawn thicker. Legends sit right of the panels."""
    groups: dict[tuple[str, str], list[Curve]] = {}
    for c in curves:
        groups.setdefault((c.method, c.protocol), []).append(c)
    groups = {key: rows for key, rows in groups.items() if len(rows) > 1}
    fig, axes = panel_grid(len(groups), min(2, max(1, len(groups))), 5.6, 3.6)
    if not groups:
        axes[0, 0].text(0.5, 0.5, "no method has score components", ha="center", va="center")
    for ax, ((method, protocol), rows) in zip(axes.flat, groups.items()):
        _roc_axes(ax, f"{method} ({protocol_name(protocol)})")
        rows = _by_auc(rows)
        for c, colour in zip(rows, distinct_colours(len(rows))):
            ax.plot(c.fpr, c.tpr, color=colour, lw=2.2 if c.main else 1.1,
                    label=f"{c.label.split('/', 1)[-1]}  {c.auc:.3f}" + ("  (main)" if c.main else ""))
        ax.legend(loc="upper left", bbox_to_anchor=(1.03, 1.0), fontsize=7, frameon=False,
                  title="row  AUC", title_fontsize=7)
    fig.suptitle(title, fontsize=11)
    return fig


def intervals(labels: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of ones in a 0/1 array."""
    padded = np.concatenate([[0], np.asarray(labels, dtype=np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _minmax(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    span = s.max() - s.min() if len(s) else 0.0
    return (s - s.min()) / span if span > 0 else s * 0


def timeline_figure(videos: Sequence[str], truth: Mapping[str, np.ndarray],
                    scores: Mapping[str, Mapping[str, np.ndarray]], title: str,
                    colours: Mapping[str, Colour] | None = None, methods: Mapping[str, str] | None = None,
                    note: str = "") -> Figure:
    """Per video, one line per row of ``scores`` (label -> video -> frame scores; rows that lack a video
    are left out of its panel), min-max scaled per video, with the ground-truth anomaly shaded. Panels
    fill a grid of up to three columns; one legend below them. ``methods`` maps a label to its method,
    whose colour ``colours`` gives (by default each label its own). ``note`` is added to the title."""
    methods = dict(methods or {label: label for label in scores})
    colours = colours or method_colours([methods[label] for label in scores])
    n = max(1, len(videos))
    fig, axes = panel_grid(len(videos), 1 if n <= 3 else 2 if n <= 12 else 3, 6.4, 1.5, extra_height=1.2)
    for ax, video in zip(axes.flat, videos):
        for start, stop in intervals(truth[video]):
            ax.axvspan(start, stop, color="0.55", alpha=0.25, lw=0)
        for label, per_video in scores.items():
            if video in per_video:
                ax.plot(_minmax(per_video[video]), lw=1.1, color=colours[methods[label]], ls=line_style(methods[label]),
                        label=label)
        ax.set_xlim(0, len(truth[video]))
        ax.set_ylim(-0.05, 1.05)
        ax.set_yticks([0, 1])
        ax.set_title(video, fontsize=8, loc="left", pad=2)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("frame", fontsize=8)
    handles = [plt.Line2D([], [], color=colours[methods[label]], ls=line_style(methods[label]), lw=1.6)
               for label in scores]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="0.55", alpha=0.25, lw=0))
    fig.legend(handles, [*scores, "ground-truth anomaly"], loc="outside lower center",
               ncol=min(len(handles), 5), fontsize=8, frameon=False)
    fig.suptitle(f"{title}: frame scores (min-max scaled per video)" + (f"; {note}" if note else ""), fontsize=10)
    return fig
