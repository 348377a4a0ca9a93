"""Run-time helpers shared by every stage: seeding, device choice, progress bars, logs and atomic figures."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Iterable, TypeVar

import numpy as np

T = TypeVar("T")


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (if imported) and return a NumPy generator for the caller."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency, but vadlib.data does not need it
        pass
    return np.random.default_rng(seed)


def torch_device(requested: str = "auto"):
    """The torch device for ``requested`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``).

    ``auto`` picks CUDA when it is available. The card itself is chosen by ``CUDA_VISIBLE_DEVICES``
    (set per job by :mod:`vadlib.devices` or by SLURM), so ``cuda`` means the first visible card.
    """
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} was requested but CUDA is not available")
    return device


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    """A tqdm progress bar on stderr; quiet when ``VADLIB_PROGRESS=0``."""
    from tqdm.auto import tqdm

    disable = os.environ.get("VADLIB_PROGRESS", "1") == "0"
    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, disable=disable,
                dynamic_ncols=True, mininterval=1.0)


def log_to(path: str | None) -> None:
    """Send this process's output to ``path`` (a rule's log file); an uncaught error is written both
    there and to the original stderr, so the console still says what failed and where."""
    if not path:
        return
    import traceback
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    console = sys.__stderr__
    stream = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = stream

    def hook(kind, value, tb):
        text = "".join(traceback.format_exception(kind, value, tb))
        stream.write(text)
        stream.flush()
        console.write(f"{kind.__name__}: {value}\n(full traceback in {path})\n")

    sys.excepthook = hook


def save_figure(fig, path: str | os.PathLike, **savefig: object) -> Path:
    """Write a matplotlib figure to ``path`` atomically (a temporary beside it, then renamed, so a killed
    job never leaves a half-written image under the final name) and close it. ``savefig``: keyword
    arguments of ``Figure.savefig`` (``dpi``, ``bbox_inches``)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    fig.savefig(tmp, **savefig)
    plt.close(fig)
    os.replace(tmp, path)
    return path
