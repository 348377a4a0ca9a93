"""Per-video rescalings of a score series, so that components of different units can be summed.

- ``minmax``: ``(x - min) / (max - min)``, in [0, 1] (the per-video normalisation of the works the
  pseudo-anomaly autoencoders follow, MNAD and LNTRA, and LUSS-AE's "Min-Max" row of Table 5).
- ``robust``: LUSS-AE's eq. 16, ``(x - med) / iqr_{1-99}`` with ``iqr_{1-99} = P99 - P1``: centred on
  the median and scaled by the 1st-99th percentile range, so a few extreme frames do not squash the rest
  of the video as they do under min-max. The paper does not say how percentiles between two samples are
  taken; we use linear interpolation (``numpy.percentile``'s default).

A constant series (zero range) maps to zeros: it carries no evidence either way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def minmax(x: np.ndarray) -> np.ndarray:
    """``(x - min) / (max - min)``; zeros when the series is constant."""
    x = np.asarray(x, dtype=np.float64)
    span = x.max() - x.min()
    return ((x - x.min()) / span if span > 0 else np.zeros_like(x)).astype(np.float32)


def robust(x: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """``(x - median) / (P_high - P_low)``; zeros when the percentile range is zero."""
    x = np.asarray(x, dtype=np.float64)
    p_low, p_high = np.percentile(x, [low, high])
    span = p_high - p_low
    return ((x - np.median(x)) / span if span > 0 else np.zeros_like(x)).astype(np.float32)


RESCALINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"minmax": minmax, "robust": robust}


def rescaling(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The rescaling called ``name`` (``minmax`` or ``robust``)."""
    try:
        return RESCALINGS[name]
    except KeyError:
        raise KeyError(f"unknown rescaling {name!r}; known: {sorted(RESCALINGS)}") from None
