"""The training-free reference scorer: motion energy from frame differences.

For frame ``t > 0`` the energy is the mean absolute difference of the grayscale frames ``t`` and
``t - 1`` (in [0, 255]); frame 0 takes frame 1's value. A centred moving average of ``smooth`` frames
(``reference.smooth``, 9 by default) then removes flicker. Anomalies of the fast kind (running,
vehicles, bicycles, fights) raise it; it is a floor every learned method should beat, kept as a row in
every report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vadlib.params import ConfigError, resolve
from vadlib.runtime import progress
from vadlib.scores import save_scores
from vadlib.stores import open_store

#: The config section ``reference`` with its defaults.
DEFAULTS: dict[str, Any] = {"smooth": 9}   # moving-average window (frames)


def motion_energy(frames: np.ndarray, smooth: int = 1) -> np.ndarray:
    """Per-frame motion energy of uint8 frames ``[T, H, W, C]`` (or ``[T, H, W]``)."""
    gray = frames.astype(np.float32)
    if gray.ndim == 4:
        gray = gray @ np.array([0.299, 0.587, 0.114], dtype=np.float32) if gray.shape[-1] == 3 else gray.mean(-1)
    if len(gray) < 2:
        return np.zeros(len(gray), dtype=np.float32)
    diff = np.abs(np.diff(gray, axis=0)).mean(axis=(1, 2))
    energy = np.concatenate([diff[:1], diff])
    if smooth > 1:
        pad = smooth // 2
        padded = np.pad(energy, (pad, smooth - 1 - pad), mode="edge")
        energy = np.convolve(padded, np.ones(smooth) / smooth, mode="valid")
    return energy.astype(np.float32)


def score_reference(frame_paths: dict[str, str], out_scores: str, params: dict, protocols: list[str]) -> None:
    """Score every video of ``frame_paths`` (video -> frames store); the row serves every protocol.

    ``params`` is the ``reference`` config section over :data:`DEFAULTS`."""
    params = resolve(params, DEFAULTS, "reference")
    if params["smooth"] < 1:
        raise ConfigError("reference.smooth", f"must be at least 1, got {params['smooth']!r}")
    scores = {}
    for video, path in progress(frame_paths.items(), desc="motion energy", total=len(frame_paths), unit="video"):
        store = open_store(path, "frames")
        scores[video] = motion_energy(store.read(), params["smooth"])
    save_scores(out_scores, {"reference": scores},
                {"method": "reference", "protocol": list(protocols), "pretrained": None, "params": params})
