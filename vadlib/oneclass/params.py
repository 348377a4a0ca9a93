"""Parameters of the one-class methods: each method's defaults (the papers' settings) and the check
that a params dict names only known keys.

The workflow passes ``{**config["oneclass"], **config[method], "seed": config["seed"]}``; every key that
is not given takes the default below, and a key that is not known fails at once with its name.
"""

from __future__ import annotations

import copy
from typing import Any

# Shared by the three methods (config section ``oneclass``).
SHARED: dict[str, Any] = {
    "seed": 0,
    "size": 256,            # int or [H, W]; multiples of 16
    "clip_len": 16,         # frames per clip; a multiple of 8
    "batch": 16,            # LUSS-AE's; a method section may set its own (the pseudo-anomaly AEs: 24)
    "train_stride": 1,      # training windows start every train_stride frames
    "test_stride": 1,       # test windows start every test_stride frames (1: every frame scored directly)
    "preload": True,        # keep the resized videos in memory
    "widths": [96, 128, 256, 256],   # channels of the 3D autoencoder's four levels (MemAE)
}


def resolve(params: dict[str, Any] | None, defaults: dict[str, Any], method: str) -> dict[str, Any]:
    """``defaults`` updated with ``params`` (nested dicts merged one level); unknown keys fail."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise KeyError(f"{method}: unknown parameter(s) {unknown}; known: {sorted(defaults)}")
    out = copy.deepcopy(defaults)
    for key, value in params.items():
        if isinstance(out[key], dict) and isinstance(value, dict):
            extra = sorted(set(value) - set(out[key]))
            if extra:
                raise KeyError(f"{method}: parameter {key!r} has unknown entries {extra}; known: {sorted(out[key])}")
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out
