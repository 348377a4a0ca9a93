"""Run-time helpers shared by every stage: seeding, device choice, progress bars, logs and atomic writes."""

from __future__ import annotations

import os
import random
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

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


@contextmanager
def stage(job) -> Iterator[str | None]:
    """Open one job of a rule for its script, the same way in every script: its log, its threads, its card.

    ``job`` is the object Snakemake hands a script (``snakemake``); read from it: ``log[0]`` (this process's
    output goes there, :func:`log_to`), and for a rule with ``params.device``, ``threads`` (torch's
    intra-op threads: the rule's ``threads``, which Snakemake counts against ``--cores``) and the device (a
    free card is claimed for the block, :func:`vadlib.devices.claim_gpu`). Yields the torch device string,
    or None for a rule without a device.
    """
    log_to(job.log[0] if job.log else None)
    requested = getattr(job.params, "device", None)
    if requested is None:
        yield None
        return
    import torch

    from vadlib.devices import claim_gpu

    torch.set_num_threads(max(1, int(job.threads)))
    with claim_gpu(requested) as device:
        yield device


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Write ``path`` all at once: yields a temporary path beside it (``.{stem}.tmp-{pid}{suffix}``, so
    writers that go by the suffix still see it) and renames it to ``path`` when the block ends without
    error; on an error the temporary is removed and ``path`` keeps what it held.

    A file or a directory may be written there. Temporaries of ``path`` that a killed process left
    (SIGKILL runs no cleanup) are removed first, so they never pile up. A directory replaces an older one
    by removing it just before the rename (directories cannot be renamed over)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = re.compile(rf"\.{re.escape(path.stem)}\.tmp-\d+{re.escape(path.suffix)}")
    for leftover in path.parent.iterdir():
        if stale.fullmatch(leftover.name):
            _remove(leftover)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def save_figure(fig, path: str | os.PathLike, **savefig: object) -> Path:
    """Write a matplotlib figure to ``path`` atomically (:func:`atomic_output`: a killed job never leaves
    a half-written image under the final name) and close it. ``savefig``: keyword arguments of
    ``Figure.savefig`` (``dpi``, ``bbox_inches``)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, **savefig)
    finally:
        plt.close(fig)
    return path
