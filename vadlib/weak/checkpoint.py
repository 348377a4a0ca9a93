"""Saving and loading the weakly supervised models: one ``.pt`` per model plus a JSON sidecar.

A checkpoint is ``{"format", "kind", "model_args", "state_dict", "config", "pretrained", ...}``:
``kind`` and ``model_args`` rebuild the module, ``config`` is the parameter set that trained it and
``pretrained`` says whether pretrained weights were involved (the input features' extractor).
Both files are written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from vadlib.runtime import atomic_output
from vadlib.weak.lanet import LANet
from vadlib.weak.mlp import SnippetMLP
from vadlib.weak.mtvae import MTVAE
from vadlib.weak.rtfm import RTFM

FORMAT = 1
BUILDERS: dict[str, Callable[..., nn.Module]] = {"mlp": SnippetMLP, "rtfm": RTFM, "lanet": LANet, "mtvae": MTVAE}


def build_model(kind: str, model_args: dict[str, Any]) -> nn.Module:
    if kind not in BUILDERS:
        raise KeyError(f"unknown model kind {kind!r}; known: {sorted(BUILDERS)}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in model_args.items()}
    return BUILDERS[kind](**args)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(path: str | os.PathLike, model: nn.Module, kind: str, model_args: dict[str, Any],
               config: dict[str, Any], pretrained: bool, **extra: Any) -> None:
    """Write ``path`` (the checkpoint) and ``path.json`` (everything but the weights), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"format": FORMAT, "kind": kind, "model_args": model_args, "config": config,
            "pretrained": bool(pretrained), **extra}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_output(path) as tmp:
        torch.save({**info, "state_dict": state}, tmp)
    with atomic_output(path.with_name(path.name + ".json")) as tmp:
        tmp.write_text(json.dumps(info, indent=2, default=str))


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu",
               kind: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a checkpoint (in eval mode, on ``device``) and the checkpoint's fields."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for field in ("format", "kind", "model_args", "state_dict", "config", "pretrained"):
        if field not in ckpt:
            raise ValueError(f"{path}: field {field!r} is missing (not a vadlib.weak checkpoint)")
    if kind is not None and ckpt["kind"] != kind:
        raise ValueError(f"{path}: field 'kind' is {ckpt['kind']!r}, expected {kind!r}")
    model = build_model(ckpt["kind"], ckpt["model_args"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt
