"""Parameters of the one-class methods: each method's defaults (the papers' settings) and their check.

The workflow passes ``{**config["oneclass"], **config[method], **dataset overrides, "seed": config["seed"]}``;
every key that is not given takes the default, nested dicts (``weights``, ``loss_weights``, ``eta``) are
merged key by key, and a key that is not known or a value of the wrong type fails at once with a
:class:`~vadlib.params.ConfigError` naming it (``luss.loss_weights.vcr``), see :func:`vadlib.params.resolve`.
"""

from __future__ import annotations

from typing import Any

from vadlib import params as _params

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

#: Keys whose type is wider than their default's.
TYPES: dict[str, Any] = {"size": int | list[int]}


def resolve(params: dict[str, Any] | None, defaults: dict[str, Any], method: str) -> dict[str, Any]:
    """``defaults`` updated with ``params`` (nested dicts merged key by key), every value checked;
    unknown keys and values of the wrong type raise :class:`~vadlib.params.ConfigError`."""
    return _params.resolve(params, defaults, method, TYPES)
