"""Training curves: the loss of every trained model, read from the JSON sidecar its training writes
beside the checkpoint, drawn one panel per model.

The sidecars hold (nothing is recorded for this figure alone):

- checkpoints ``models/{name}.pt`` (:func:`vadlib.training.save_checkpoint`), sidecar ``models/{name}.json``:

  - weakly supervised detectors and the MT-VAE: ``history``, one record per epoch with the
    optimisation ``step`` it ended at, the epoch's mean ``loss`` and, where a validation split picks
    the epoch count, ``val_loss``; the selection run's own records under ``extra.selection.history``
    when the model was then refit on every training video;
  - one-class models: ``history``, per training stage (``train``; MemAE + CVAE's ``joint``,
    ``memae``, ``cvae``; STPA's ``spatial``, ``temporal``, ``discriminator``) one record per epoch
    with its mean ``loss``;
- the embedded inpainting LDM (``models/ldm/vadlib_ldm.json``, :func:`vadlib.inpaint.train_ldm`):
  ``ae_losses`` and ``unet_losses``, the mean loss of each epoch of its two stages.

Each panel plots the total loss of every stage (its named parts are left to the sidecar) against the
epoch, or against the step where the sidecar records steps; its y axis is logarithmic where the
positive losses span a decade or more.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from vadlib.evaluate.figures import distinct_colours, panel_grid  # noqa: E402
from vadlib.runtime import save_figure  # noqa: E402

LDM_SIDECAR = "vadlib_ldm.json"


@dataclass
class Series:
    """One recorded loss curve: ``y[i]`` at epoch or step ``x[i]``."""

    label: str
    x: list[float]
    y: list[float]
    dashed: bool = False


@dataclass
class ModelCurves:
    """The loss curves of one model and the sidecar they were read from."""

    name: str
    sidecar: Path
    xlabel: str
    series: list[Series] = field(default_factory=list)


def sidecar_path(model: str | os.PathLike) -> Path:
    """The JSON sidecar of a checkpoint ``{name}.pt`` (``{name}.json``, the rule of
    :func:`vadlib.training.sidecar_path`) or of a model directory (its ``vadlib_ldm.json``); fails
    naming the model when there is none."""
    model = Path(model)
    path = model / LDM_SIDECAR if model.is_dir() else model.with_suffix(".json")
    if not path.is_file():
        old = model.with_name(model.name + ".json")
        hint = f"; {old} is the sidecar of an older checkpoint layout: retrain the model" if old.is_file() else ""
        raise FileNotFoundError(f"{model}: no sidecar with its training losses (looked for {path}){hint}")
    return path


def _epochs(records: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """``(x, y)`` of ``records[i][key]``: x the record's ``step`` where recorded, else its epoch (from 1)."""
    points = [(float(r.get("step", i + 1)), float(r[key])) for i, r in enumerate(records) if r.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _record_series(records: Sequence[dict[str, Any]], label: str, dashed: bool = False) -> list[Series]:
    out = []
    for key, name in (("loss", label), ("val_loss", f"{label}, validation")):
        x, y = _epochs(records, key)
        if y:
            out.append(Series(name, x, y, dashed=dashed or key == "val_loss"))
    return out


def curves_of(sidecar: dict[str, Any], name: str, path: str | os.PathLike = "") -> ModelCurves:
    """The loss curves recorded in the sidecar ``sidecar`` of model ``name`` (layouts: module docstring)."""
    history = sidecar.get("history")
    if isinstance(history, list):  # a weakly supervised model: one record per epoch
        steps = any("step" in r for r in history)
        curves = ModelCurves(name, Path(path), "step" if steps else "epoch",
                             _record_series(history, "training"))
        selection = ((sidecar.get("extra") or {}).get("selection") or {}).get("history")
        if selection:
            curves.series += _record_series(selection, "selection run", dashed=True)
        return curves
    if isinstance(history, dict):  # a one-class model: per stage, one record per epoch
        curves = ModelCurves(name, Path(path), "epoch")
        for stage, records in history.items():
            curves.series += _record_series(records, "loss" if stage == "train" else stage)
        return curves
    losses = {key: value for key, value in sidecar.items() if key.endswith("_losses") and isinstance(value, list)}
    names = {"ae_losses": "autoencoder", "unet_losses": "UNet"}
    return ModelCurves(name, Path(path), "epoch",
                       [Series(names.get(key, key[:-len("_losses")]), list(range(1, len(values) + 1)),
                               [float(v) for v in values]) for key, values in losses.items() if values])


def read_curves(model: str | os.PathLike) -> ModelCurves:
    """The loss curves of the checkpoint or model directory ``model``, from its sidecar."""
    path = sidecar_path(model)
    model = Path(model)
    name = model.name if model.is_dir() else model.name.removesuffix(".pt")
    return curves_of(json.loads(path.read_text()), name, path)


def spans_decades(series: Sequence[Series]) -> bool:
    """Whether the losses are all positive and their largest is ten times their smallest or more."""
    values = [v for s in series for v in s.y]
    return bool(values) and min(values) > 0 and max(values) >= 10 * min(values)


def training_figure(models: Sequence[ModelCurves], title: str) -> Figure:
    """One panel per model: the loss of each of its stages against the epoch (or step)."""
    fig, axes = panel_grid(len(models), min(3, max(1, len(models))), 4.4, 3.1)
    if not models:
        axes[0, 0].text(0.5, 0.5, "no trained model", ha="center", va="center")
    for ax, model in zip(axes.flat, models):
        ax.set_title(model.name, fontsize=9)
        ax.set_xlabel(model.xlabel, fontsize=8)
        ax.set_ylabel("mean loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not model.series:
            ax.text(0.5, 0.5, f"no losses recorded in\n{model.sidecar.name}", ha="center", va="center",
                    fontsize=8, transform=ax.transAxes)
            continue
        for s, colour in zip(model.series, distinct_colours(len(model.series))):
            ax.plot(s.x, s.y, color=colour, ls="--" if s.dashed else "-", lw=1.3,
                    marker="o" if len(s.y) <= 30 else None, ms=2.5, label=s.label)
        ax.set_xlim(left=0)
        if spans_decades(model.series):
            ax.set_yscale("log")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def training_report(models: Sequence[str | os.PathLike], out_png: str | os.PathLike, dataset: str) -> list[ModelCurves]:
    """Write the training curves of the checkpoints or model directories ``models``; returns them."""
    curves = [read_curves(model) for model in models]
    save_figure(training_figure(curves, f"{dataset}: training loss of each model"), out_png, dpi=100,
                bbox_inches="tight")
    return curves
