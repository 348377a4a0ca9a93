"""The training loop and the checkpoint format shared by every trained model.

:func:`fit` runs epochs of optimisation steps: an epoch is whatever iterable of batches
``epoch_batches(epoch)`` returns; each batch goes through ``loss_fn`` (the total loss and its named
parts), backward and one optimiser step. It shows a progress bar per epoch, stops on a loss that is not
finite (naming the epoch) and returns one record per epoch: the mean of the loss and of every named
part. ``scheduler`` (stepped after each epoch), ``after_step`` and ``after_epoch`` are where a caller
adds what its method needs (validation, selection of the best weights, more fields per record).
:class:`BestState` keeps the weights of the lowest value of a criterion.

A checkpoint is a ``{name}.pt`` file holding ``{"format", "method", "protocol", "params",
"pretrained", "model_args", "history", "extra", "state_dicts"}``:

- ``method``: what was trained (``mlp``, ``rtfm``, ``mtvae``, ``luss``, ...), ``protocol``: ``weak`` or
  ``oneclass``;
- ``params``: the parameter set that trained it; ``pretrained``: whether pretrained weights were
  involved; ``model_args``: the arguments that rebuild its module (``{}`` where ``params`` do);
- ``history``: the per-epoch records of :func:`fit` (a list, or a dict of lists per training stage);
- ``extra``: anything else a scorer or a reader needs (selection, videos used, scales, statistics);
- ``state_dicts``: the state dict of each trained module, by name.

Everything but the weights is also written to the JSON sidecar ``{name}.json`` (:func:`sidecar_path`).
The metadata holds plain values only (dicts, lists, str, numbers, bool, None; numpy scalars and arrays
and tuples are converted when saved), so :func:`load_checkpoint` reads the file with
``torch.load(..., weights_only=True)``. Both files are written to a temporary sibling and renamed into
place.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vadlib.runtime import atomic_output, progress

FORMAT = 2
PROTOCOLS = ("weak", "oneclass")
FIELDS = ("format", "method", "protocol", "params", "pretrained", "model_args", "history", "extra", "state_dicts")
# the weights' key of each earlier layout, and that layout's sidecar
OLD_LAYOUTS = {"state_dict": "vadlib.weak, sidecar {name}.pt.json", "state": "vadlib.oneclass, sidecar {name}.json"}

Batch = Any
LossFn = Callable[[Batch], tuple[torch.Tensor, dict[str, float]]]


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------

def fit(modules: nn.Module | list[nn.Module], loss_fn: LossFn, optimizer: torch.optim.Optimizer,
        epoch_batches: Callable[[int], Iterable[Batch]], epochs: int, desc: str,
        n_batches: int | Callable[[int], int] | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        after_step: Callable[[int], None] | None = None,
        after_epoch: Callable[[int, int, dict[str, float]], dict[str, Any] | None] | None = None,
        ) -> list[dict[str, Any]]:
    """Train ``modules`` for ``epochs`` epochs; returns one record per epoch.

    Args:
        modules: the module(s) trained; put in train mode before every step and in eval mode at the end.
        loss_fn: ``loss_fn(batch)`` gives the total loss of a batch and its named parts (floats).
        optimizer: stepped once per batch.
        epoch_batches: ``epoch_batches(epoch)`` (``epoch`` from 0) gives the batches of that epoch.
        epochs: the number of epochs.
        desc: names the run in the progress bars and errors.
        n_batches: the length of each epoch's progress bar (or ``n_batches(epoch)``), where known.
        scheduler: stepped at the end of every epoch, after ``after_epoch``.
        after_step: ``after_step(step)`` is called after each optimiser step, ``step`` counted from 1
            over the whole run.
        after_epoch: ``after_epoch(epoch, step, means)`` is called at the end of every epoch with the
            epoch's means; what it returns (if not None) is recorded for the epoch instead of them.
    """
    modules = modules if isinstance(modules, list) else [modules]
    history: list[dict[str, Any]] = []
    step = 0
    for epoch in range(epochs):
        sums: dict[str, float] = {}
        count = 0
        total = n_batches(epoch) if callable(n_batches) else n_batches
        bar = progress(epoch_batches(epoch), desc=f"{desc} epoch {epoch + 1}/{epochs}", total=total, unit="batch")
        for batch in bar:
            for m in modules:
                m.train()
            loss, parts = loss_fn(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: the loss became {loss.item()} in epoch {epoch + 1} "
                                         f"(step {step + 1}; {parts})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            parts = {"loss": loss.item(), **parts}
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            count += 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{parts['loss']:.4f}", refresh=False)
            if after_step is not None:
                after_step(step)
        record = {k: v / max(count, 1) for k, v in sums.items()}
        if after_epoch is not None:
            record = after_epoch(epoch, step, record) or record
        if scheduler is not None:
            scheduler.step()
        history.append(record)
    for m in modules:
        m.eval()
    return history


class BestState:
    """The state dict of ``module`` when a criterion last reached its lowest value.

    :meth:`update` records each value (``checks``: ``{"step", "value"}``) and copies the weights when
    the value is the lowest so far; :meth:`restore` loads those weights back into ``module``.
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self.value = math.inf
        self.state: dict[str, torch.Tensor] | None = None
        self.checks: list[dict[str, float]] = []

    def update(self, value: float, step: int) -> float:
        value = float(value)
        self.checks.append({"step": step, "value": value})
        if value < self.value:
            self.value, self.state = value, copy.deepcopy(self.module.state_dict())
        return value

    def restore(self) -> None:
        if self.state is not None:
            self.module.load_state_dict(self.state)


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------

def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar of the checkpoint ``path``: ``{name}.pt`` -> ``{name}.json``."""
    return Path(path).with_suffix(".json")


def plain(value: Any, where: str = "metadata") -> Any:
    """``value`` as dicts, lists, str, numbers, bool and None (what ``weights_only=True`` loads):
    tuples become lists, numpy scalars and arrays Python numbers and lists, paths strings."""
    if isinstance(value, (np.generic, np.ndarray)):                # before float: np.float64 is a float
        return value.tolist()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {k if isinstance(k, (str, int)) else str(k): plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{where}: a {type(value).__name__} cannot be stored in a checkpoint's metadata "
                    "(plain values only: dicts, lists, str, numbers, bool, None)")


def save_checkpoint(path: str | os.PathLike, modules: Mapping[str, nn.Module | Mapping[str, torch.Tensor]], *,
                    method: str, protocol: str, params: Mapping[str, Any], pretrained: bool,
                    history: list | dict | None = None, model_args: Mapping[str, Any] | None = None,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write the checkpoint ``path`` and its sidecar (:func:`sidecar_path`) atomically; returns ``path``.

    ``modules`` names the trained modules (or their state dicts); the other fields are described in the
    module docstring.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"{path}: protocol must be one of {PROTOCOLS}, got {protocol!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = plain({"format": FORMAT, "method": method, "protocol": protocol, "params": dict(params),
                  "pretrained": bool(pretrained), "model_args": dict(model_args or {}),
                  "history": history if history is not None else [], "extra": dict(extra or {})}, str(path))
    states = {name: {k: v.detach().cpu() for k, v in (m.state_dict() if isinstance(m, nn.Module) else m).items()}
              for name, m in modules.items()}
    with atomic_output(path) as tmp:
        torch.save({**meta, "state_dicts": states}, tmp)
    with atomic_output(sidecar_path(path)) as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    return path


def load_checkpoint(path: str | os.PathLike, method: str | None = None,
                    protocol: str | None = None) -> dict[str, Any]:
    """The fields of the checkpoint ``path`` (weights on the CPU), read with ``weights_only=True``.

    ``method`` and ``protocol``, when given, must match the checkpoint's. A checkpoint of an older
    layout is refused with a message naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path}: cannot be read with torch.load(weights_only=True): it holds objects other "
                         f"than tensors and plain values, as checkpoints written by an older layout did; "
                         f"retrain it ({str(error).splitlines()[0]})") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: not a vadlib checkpoint (a {type(ckpt).__name__}, not a dict)")
    if ckpt.get("format") != FORMAT:
        old = next((key for key in OLD_LAYOUTS if key in ckpt), None)
        if old is not None:
            raise ValueError(f"{path}: written by an older checkpoint layout ({OLD_LAYOUTS[old]}, weights under "
                             f"{old!r}); format {FORMAT} is read, with the weights under 'state_dicts' and the "
                             f"sidecar {{name}}.json: retrain the model")
        raise ValueError(f"{path}: not a vadlib checkpoint (field 'format' is {ckpt.get('format')!r}, "
                         f"expected {FORMAT})")
    missing = [field for field in FIELDS if field not in ckpt]
    if missing:
        raise ValueError(f"{path}: field {missing[0]!r} is missing (not a vadlib checkpoint)")
    for field, expected in (("protocol", protocol), ("method", method)):
        if expected is not None and ckpt[field] != expected:
            raise ValueError(f"{path}: field {field!r} is {ckpt[field]!r}, expected {expected!r}")
    return ckpt
