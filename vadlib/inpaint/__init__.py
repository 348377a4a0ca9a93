"""Latent-diffusion inpainting: the model, its training, DDIM inpainting of frames and the example figure.

Each name loads its module on first use (PEP 562): importing diffusers costs seconds in every job that
does, so the figure job imports none of it, and the inpainting job none of the training code.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULE_OF = {
    "ARCHITECTURE": "model",
    "InpaintingLDM": "model",
    "TRAIN_DEFAULTS": "train",
    "ddim_inpaint": "sample",
    "example_grid": "figures",
    "inpaint_frames": "sample",
    "inpaint_video": "sample",
    "train_ldm": "train",
}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
