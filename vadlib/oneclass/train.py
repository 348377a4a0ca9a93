"""The one training loop of the one-class methods, and their checkpoints.

:func:`fit` runs ``epochs`` epochs; an epoch is whatever iterable of batches ``epoch_batches(epoch)``
returns (the methods pass shuffled windows, see :class:`vadlib.oneclass.clips.Windows`). Each batch goes
through ``loss_fn`` (which returns the total loss and named parts), backward and one optimiser step.
It shows a progress bar per epoch and returns the mean of every named part per epoch.

Checkpoints (:func:`save_checkpoint`) are ``.pt`` files holding the state dicts, the ``params`` that
made them, ``pretrained: false`` (no one-class model starts from pretrained weights) and any extra
state a scorer needs (e.g. a flow scale); a JSON sidecar beside it (same name, ``.json``) holds the
same minus the weights. Both are written to a temporary file and renamed into place.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from vadlib.runtime import atomic_output, progress

Batch = Any
LossFn = Callable[[Batch], tuple[torch.Tensor, dict[str, float]]]


def fit(modules: nn.Module | list[nn.Module], loss_fn: LossFn, optimizer: torch.optim.Optimizer,
        epoch_batches: Callable[[int], Iterable[Batch]], epochs: int, desc: str,
        n_batches: int | None = None) -> list[dict[str, float]]:
    """Train for ``epochs`` epochs; returns per-epoch means of the parts ``loss_fn`` reports."""
    modules = modules if isinstance(modules, list) else [modules]
    history = []
    for epoch in range(epochs):
        for m in modules:
            m.train()
        sums: dict[str, float] = {}
        count = 0
        bar = progress(epoch_batches(epoch), desc=f"{desc} epoch {epoch + 1}/{epochs}", total=n_batches,
                       unit="batch")
        for batch in bar:
            loss, parts = loss_fn(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: the loss became {loss.item()} in epoch {epoch + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            parts = {"loss": float(loss.detach()), **parts}
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            count += 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{parts['loss']:.4f}", refresh=False)
        history.append({k: v / max(count, 1) for k, v in sums.items()})
    for m in modules:
        m.eval()
    return history


def save_checkpoint(path: str | os.PathLike, method: str, states: dict[str, nn.Module | dict],
                    params: dict[str, Any], extra: dict[str, Any] | None = None,
                    history: dict[str, list] | None = None) -> Path:
    """Write ``path`` (.pt) and its JSON sidecar atomically."""
    path = Path(path)
    meta = {"method": method, "protocol": "oneclass", "pretrained": False, "params": params,
            "extra": extra or {}, "history": history or {}, "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
    state = {name: (m.state_dict() if isinstance(m, nn.Module) else m) for name, m in states.items()}
    with atomic_output(path) as tmp:
        torch.save({**meta, "state": state}, tmp)
    with atomic_output(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=str))
    return path


def load_checkpoint(path: str | os.PathLike, method: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` for ``method`` (checked)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model checkpoint")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "state" not in ckpt:
        raise ValueError(f"{path}: not a vadlib one-class checkpoint (field 'state' is missing)")
    if ckpt.get("method") != method:
        raise ValueError(f"{path}: field 'method' is {ckpt.get('method')!r}, expected {method!r}")
    return ckpt
