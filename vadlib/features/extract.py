"""I3D ten-crop features of a frames store: the feature-extraction stage.

A video of ``T`` frames is cut into ``ceil(T / 16)`` non-overlapping snippets (:mod:`vadlib.snippets`, the
tail padded by repeating the last frame); each snippet is preprocessed into ``crops`` views
(:mod:`vadlib.features.tencrop`) and passed through I3D R50 (:mod:`vadlib.features.i3d`). The output is a
features store ``[snippets, crops, 2048]``.

Speed. ``batch`` snippets go through the network at once, all crops of a snippet together; frames of
the next batch are read from the store in a background thread while the current one is computed; the
resize and crops run on the compute device; ``torch.inference_mode`` throughout; on CUDA, autocast
(bfloat16 where the card supports it, else float16) and channels-last-3d memory layout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from vadlib.features.i3d import FEATURE_DIM, build_i3d
from vadlib.features.tencrop import CROP_NAMES, KINETICS_MEAN, KINETICS_STD, preprocess_snippets
from vadlib.runtime import progress, torch_device
from vadlib.snippets import SNIPPET_LEN, snippet_frame_indices
from vadlib.stores import StoreError, open_store, write_store

#: The config section ``features.i3d`` with its defaults (the papers' settings).
DEFAULTS: dict[str, Any] = {
    "weights": None,          # path of I3D_8x8_R50.pyth (pytorchvideo model zoo), or null: untrained
    "weights_sha256": None,   # expected checksum of the weights file (checked when given)
    "short_side": 256,        # frames resized so that their short side is this
    "crop": 224,              # square crop size
    "crops": 10,              # 10 (corners, centre, mirrored), 5 or 1 (centre only)
    "batch": 8,               # snippets per forward pass (each with all its crops)
    "dtype": "float16",       # storage dtype of the features
    "amp": True,              # autocast on CUDA (never on the CPU)
    "seed": 0,                # seed of the random initialisation when no weights are given (else unused)
}

FLOAT16_MAX = float(np.finfo(np.float16).max)


def resolve_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` over :data:`DEFAULTS`; unknown keys and impossible sizes fail by name."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"features.i3d: unknown keys {unknown}; known keys are {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    for key in ("short_side", "crop", "batch"):
        if not isinstance(p[key], int) or p[key] < 1:
            raise ValueError(f"features.i3d.{key} must be a positive integer, got {p[key]!r}")
    if p["crop"] > p["short_side"]:
        raise ValueError(f"features.i3d.crop ({p['crop']}) is larger than short_side ({p['short_side']})")
    if p["crops"] not in (1, 5, 10):
        raise ValueError(f"features.i3d.crops must be 1, 5 or 10, got {p['crops']!r}")
    if p["dtype"] not in ("float16", "float32"):
        raise ValueError(f"features.i3d.dtype must be float16 or float32, got {p['dtype']!r}")
    return p


class SnippetExtractor:
    """I3D features of every snippet of a video, batched. Build once, call on many videos."""

    def __init__(self, params: dict[str, Any], device: str = "auto"):
        self.params = resolve_params(params)
        self.device = torch_device(device)
        model, self.info = build_i3d(self.params["weights"], self.params["weights_sha256"],
                                     self.params["seed"])
        self.cuda = self.device.type == "cuda"
        self.model = model.to(self.device)
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.autocast_dtype = None
        if self.cuda and self.params["amp"]:
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    @property
    def preprocessing(self) -> dict[str, Any]:
        p = self.params
        views = list(CROP_NAMES[4:]) if p["crops"] == 1 else list(CROP_NAMES)
        if p["crops"] == 10:
            views += [f"{name}_flipped" for name in CROP_NAMES]
        return {"short_side": p["short_side"], "crop": p["crop"], "crops": p["crops"], "views": views,
                "mean": list(KINETICS_MEAN), "std": list(KINETICS_STD), "resize": "bilinear, antialias",
                "snippets": "non-overlapping, tail padded with the last frame"}

    def attrs(self) -> dict[str, Any]:
        """Provenance for a features store made by this extractor."""
        return {**self.info, "snippet_len": SNIPPET_LEN, "preprocessing": self.preprocessing,
                "compute": {"device": self.device.type,
                            "autocast": None if self.autocast_dtype is None else str(self.autocast_dtype)}}

    def forward(self, frames: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Features ``[B, crops, 2048]`` (float32, on the CPU) of snippets ``index [B, L]`` into uint8
        ``frames [F, H, W, 3]``."""
        p = self.params
        autocast = (torch.autocast("cuda", dtype=self.autocast_dtype) if self.autocast_dtype is not None
                    else contextlib.nullcontext())
        with torch.inference_mode():
            frames = frames.to(self.device, non_blocking=True)
            index = index.to(self.device, non_blocking=True)
            clips = preprocess_snippets(frames, index, p["short_side"], p["crop"], p["crops"])
            if self.cuda:
                clips = clips.contiguous(memory_format=torch.channels_last_3d)
            with autocast:
                feats = self.model(clips)
        return feats.view(len(index), p["crops"], FEATURE_DIM).cpu()

    def _batches(self, frames, n_frames: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Frames and index rows of each batch of snippets, read one batch ahead in a thread."""
        index = snippet_frame_indices(n_frames, SNIPPET_LEN)
        starts = range(0, len(index), self.params["batch"])

        def load(start: int) -> tuple[torch.Tensor, torch.Tensor]:
            rows = index[start:start + self.params["batch"]]
            lo, hi = int(rows.min()), int(rows.max()) + 1
            block = torch.from_numpy(np.ascontiguousarray(frames[lo:hi]))
            if self.cuda:
                block = block.pin_memory()
            return block, torch.from_numpy(rows - lo)

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(load, starts[0])
            for k in range(len(starts)):
                block = pending.result()
                if k + 1 < len(starts):
                    pending = pool.submit(load, starts[k + 1])
                yield block

    def __call__(self, frames, desc: str = "i3d") -> np.ndarray:
        """Features ``[snippets, crops, 2048]`` float32 of frames (uint8 ``[T, H, W, 3]``: an array or
        a lazy Zarr array), with a progress bar over snippets."""
        n_frames = int(frames.shape[0])
        total = len(snippet_frame_indices(n_frames, SNIPPET_LEN))
        out = np.empty((total, self.params["crops"], FEATURE_DIM), dtype=np.float32)

        def snippets() -> Iterator[np.ndarray]:
            for block, index in self._batches(frames, n_frames):
                yield from self.forward(block, index).numpy()

        for i, feats in enumerate(progress(snippets(), desc, total=total, unit="snippet")):
            out[i] = feats
        return out


@functools.lru_cache(maxsize=2)
def _cached_extractor(params_json: str, device: str) -> SnippetExtractor:
    return SnippetExtractor(json.loads(params_json), device)


def get_extractor(params: dict[str, Any], device: str = "auto") -> SnippetExtractor:
    """A :class:`SnippetExtractor` for ``params``, built once per process and reused across videos."""
    return _cached_extractor(json.dumps(params, sort_keys=True, default=str), str(device))


def extract_features(frames_path: str | os.PathLike, out_path: str | os.PathLike, params: dict[str, Any],
                     device: str = "auto", kind: str = "frames") -> None:
    """Stage function: I3D features of the frames store at ``frames_path`` -> features store ``out_path``.

    ``kind`` is the input store's schema: ``frames`` (decoded) or ``inpainted`` (pseudo-anomalous frames).

    Writes ``[snippets, crops, 2048]`` (``params['dtype']``, float16 by default) with attrs ``extractor``,
    ``weights``, ``weights_sha256``, ``pretrained``, ``seed``, ``snippet_len``, ``preprocessing``,
    ``compute``, ``frames`` (the input store) and ``n_frames``.
    """
    if kind not in ("frames", "inpainted"):
        raise ValueError(f"extract_features: kind must be 'frames' or 'inpainted', got {kind!r}")
    frames = open_store(frames_path, kind, channel=3)
    if len(frames) == 0:
        raise StoreError(f"{frames_path}: the frames store holds no frame")
    extractor = get_extractor(params, device)
    feats = extractor(frames.data, desc=f"i3d {Path(frames_path).stem}")
    bad = ~np.isfinite(feats).all(axis=(1, 2))
    if bad.any():
        raise StoreError(f"{out_path}: features of snippets {np.flatnonzero(bad)[:5].tolist()} "
                         f"are not finite")
    dtype = extractor.params["dtype"]
    if dtype == "float16" and np.abs(feats).max() > FLOAT16_MAX:
        raise StoreError(f"{out_path}: features exceed the float16 range "
                         f"(max |x| = {np.abs(feats).max():.3g}); set features.i3d.dtype to float32")
    attrs = {**extractor.attrs(), "frames": str(frames_path), "frames_kind": kind, "n_frames": len(frames)}
    write_store(out_path, "features", feats.astype(dtype), attrs)
