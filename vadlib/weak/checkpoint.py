"""The weakly supervised models of a checkpoint (:mod:`vadlib.training`'s format, protocol ``weak``).

Their checkpoints hold one module, ``state_dicts["model"]``; ``method`` names its kind (a key of
:data:`BUILDERS`) and ``model_args`` are its constructor's arguments, so :func:`load_model` rebuilds
it. ``params`` is the configuration that trained it and ``extra`` what the training recorded beside
(selection, the videos it used, ...).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from vadlib.training import load_checkpoint
from vadlib.weak.lanet import LANet
from vadlib.weak.mlp import SnippetMLP
from vadlib.weak.mtvae import MTVAE
from vadlib.weak.rtfm import RTFM

PROTOCOL = "weak"
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


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu",
               kind: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The model of the checkpoint ``path`` (in eval mode, on ``device``) and the checkpoint's fields;
    ``kind``, when given, must be the checkpoint's ``method``."""
    ckpt = load_checkpoint(path, method=kind, protocol=PROTOCOL)
    model = build_model(ckpt["method"], ckpt["model_args"])
    model.load_state_dict(ckpt["state_dicts"]["model"])
    return model.to(device).eval(), ckpt
