"""One GPU per job on a shared machine: a lock-file allocator.

``snakemake --resources gpu=2`` only limits how many ``gpu=1`` jobs run at once; it does not say which
card each job should use, so two jobs would both land on card 0. :func:`claim_gpu` gives each job its
own card: it takes a non-blocking ``fcntl.flock`` on one lock file per card, trying the candidate cards
in order, and exports the claimed card as ``CUDA_VISIBLE_DEVICES`` before torch initialises CUDA, so
the job sees exactly one device, ``cuda:0``. The lock lives as long as the claim (or the process: the
kernel drops a flock when its holder dies, so a crashed job never leaves a card blocked).

Candidates: the cards of an existing ``CUDA_VISIBLE_DEVICES`` (as set by SLURM for the job's
allocation, e.g. ``"2,3"``), otherwise every card of the machine (``nvidia-smi -L``, else torch).
Under SLURM the locks are kept per job (``$SLURM_JOB_ID``): SLURM already gives different jobs
different cards, so only the jobs of one allocation (a group job) have to share them out.

Usage in a workflow script::

    with claim_gpu(snakemake.params.device) as device:
        train(..., device=device)
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCKS_ENV = "VADLIB_GPU_LOCKS"  # folder of the lock files (default: $TMPDIR/vadlib-gpu-locks-$USER)
COUNT_ENV = "VADLIB_GPU_COUNT"  # number of cards to assume instead of asking the driver (tests)
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"


def count_gpus() -> int:
    """Number of cards on the machine: ``$VADLIB_GPU_COUNT`` if set, else ``nvidia-smi -L``, else torch
    (0 for a CPU-only build). Never starts CUDA in this process."""
    fake = os.environ.get(COUNT_ENV)
    if fake is not None and fake.strip() != "":
        try:
            return int(fake)
        except ValueError:
            raise ValueError(f"${COUNT_ENV}={fake!r}: expected a number of GPUs") from None
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
            return sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (subprocess.SubprocessError, OSError):
            pass  # a broken driver install: let torch say what it sees
    elif not Path("/proc/driver/nvidia").exists() and not any(Path("/dev").glob("nvidia[0-9]*")):
        return 0  # no NVIDIA driver at all: no need to start a child that imports torch
    import torch

    if not torch.backends.cuda.is_built():
        return 0
    # torch may count by starting CUDA, which then ignores a later CUDA_VISIBLE_DEVICES: ask a child
    code = "import torch; print(torch.cuda.device_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return int(out.stdout.strip() or 0) if out.returncode == 0 else 0


def candidate_gpus(count: int | None = None) -> list[str]:
    """Card ids this process may use: those of ``CUDA_VISIBLE_DEVICES`` when it is set (indices,
    ``GPU-<uuid>`` or MIG ids, kept as written; empty or ``-1`` means none), otherwise ``0..N-1`` with
    N from ``count`` or :func:`count_gpus`."""
    visible = os.environ.get(VISIBLE_ENV)
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        # CUDA stops at the first invalid entry ("-1" is the usual way to hide every card)
        valid = []
        for card in ids:
            if card.startswith("-"):
                break
            valid.append(card)
        return valid
    n = count_gpus() if count is None else count
    return [str(i) for i in range(n)]


def lock_dir() -> Path:
    """The folder of the lock files: ``$VADLIB_GPU_LOCKS`` or ``$TMPDIR/vadlib-gpu-locks-$USER``, with a
    ``slurm-<job id>`` subfolder inside a SLURM job."""
    base = os.environ.get(LOCKS_ENV) or os.path.join(tempfile.gettempdir(), f"vadlib-gpu-locks-{_user()}")
    job = os.environ.get("SLURM_JOB_ID")
    return Path(base) / f"slurm-{job}" if job else Path(base)


class GpuLock:
    """A claimed card: holds the open lock file until :meth:`release` (or the process's end)."""

    def __init__(self, card: str, path: Path, fd: int):
        self.card, self.path, self._fd = card, path, fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __repr__(self) -> str:
        return f"GpuLock(card={self.card!r}, path='{self.path}')"


def acquire_gpu(cards: list[str], timeout: float | None = 3600.0, poll: float = 0.2,
                folder: Path | None = None) -> GpuLock:
    """Lock the first free card of ``cards``; wait (polling) while all are taken.

    Snakemake's ``--resources gpu=N`` already keeps the number of GPU jobs at N, so a wait only happens
    when N exceeds the cards, or while another user's job holds one; ``timeout`` (seconds, ``None``:
    forever) turns a wait that will not end into an error naming the holders.
    """
    if not cards:
        raise ValueError("no GPU to claim")
    folder = lock_dir() if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for card in cards:
            path = folder / f"gpu-{_safe(card)}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    continue
                raise
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {_host()}\n".encode())
            return GpuLock(card, path, fd)
        if deadline is not None and time.monotonic() >= deadline:
            holders = {card: _holder(folder / f"gpu-{_safe(card)}.lock") for card in cards}
            raise TimeoutError(f"{folder}: every GPU of {cards} stayed locked for {timeout:g} s "
                               f"(holders, pid and host: {holders}); more GPU jobs run at once than "
                               f"there are cards (lower --resources gpu=N) or another job holds them")
        time.sleep(poll)


@contextmanager
def claim_gpu(requested: str = "auto", timeout: float | None = 3600.0,
              count: int | None = None) -> Iterator[str]:
    """Claim a card for the duration of the ``with`` block and yield the torch device string.

    ``requested``: ``auto`` (a free card if the machine has any, else ``"cpu"``), ``cuda`` (a free
    card, an error without one), ``cpu`` (no claim), or ``cuda:N`` (taken as given: the caller chose
    the card, nothing is locked). A claimed card is exported as the only visible device, so the
    device is ``"cuda:0"``; ``CUDA_VISIBLE_DEVICES`` is restored afterwards. Must run before CUDA is
    initialised in this process (a visible-device change is ignored afterwards). ``count`` overrides
    the number of cards (tests); ``timeout`` as in :func:`acquire_gpu`.
    """
    if requested == "cpu" or re.fullmatch(r"cuda:\d+", requested):
        yield requested
        return
    if requested not in ("auto", "cuda"):
        raise ValueError(f"device {requested!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
    cards = candidate_gpus(count)
    if not cards:
        if requested == "cuda":
            raise RuntimeError(f"device 'cuda' was requested but no GPU is visible "
                               f"({VISIBLE_ENV}={os.environ.get(VISIBLE_ENV)!r})")
        yield "cpu"
        return
    _check_cuda_not_initialised()
    lock = acquire_gpu(cards, timeout=timeout)
    previous = os.environ.get(VISIBLE_ENV)
    os.environ[VISIBLE_ENV] = lock.card
    try:
        yield "cuda:0"
    finally:
        if previous is None:
            os.environ.pop(VISIBLE_ENV, None)
        else:
            os.environ[VISIBLE_ENV] = previous
        lock.release()


def _check_cuda_not_initialised() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("claim_gpu() must run before CUDA is initialised in this process: "
                           f"{VISIBLE_ENV} is read once, when CUDA starts")


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


def _safe(card: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", card)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return str(os.getuid())


def _host() -> str:
    return os.uname().nodename
