"""I3D ten-crop features of a video: the feature-extraction stage.

A video of ``T`` frames is cut into 16-frame snippets by the tail rule ``tail`` (:mod:`vadlib.snippets`:
``pad`` the last partial snippet with the last frame, the default; ``slide`` it back to the video's last
16 frames; or ``drop`` it); each snippet is preprocessed into ``crops`` views
(:mod:`vadlib.features.tencrop`) and passed through the I3D R50 of ``backbone`` (:mod:`vadlib.features.i3d`,
:mod:`vadlib.features.resnet3d`). The output is a features store ``[snippets, crops, 2048]``.

Two inputs give the same features: a frames store (:func:`extract_features`), or the video file or frame
folder itself (:func:`extract_features_from_source`), decoded in chunks and resized as the decode stage
would (``decode.size``), so a dataset whose methods read features only never writes its frames.

Memory is bounded in both: frames are read ``batch`` snippets at a time (at most ``16 x batch`` frames
plus one decode chunk are held), and features are written to the store as they come, so neither grows
with the video's length.

Speed. ``batch`` snippets go through the network at once, all crops of a snippet together; frames of
the next batch are read (or decoded) in a background thread while the current one is computed; the
resize and crops run on the compute device; ``torch.inference_mode`` throughout; on CUDA, autocast
(bfloat16 where the card supports it, else float16) and channels-last-3d memory layout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vadlib.features.i3d import BACKBONES, FEATURE_DIM, build_i3d
from vadlib.features.tencrop import (
    CHANNEL_ORDERS,
    CROP_ORDERS,
    KINETICS_MEAN,
    KINETICS_STD,
    preprocess_snippets,
    view_names,
)
from vadlib.runtime import progress, torch_device
from vadlib.snippets import SNIPPET_LEN, TAILS, snippet_frame_indices
from vadlib.stores import StoreError, StoreWriter, open_store

#: The config section ``features.i3d`` with its defaults (the papers' settings).
DEFAULTS: dict[str, Any] = {
    "backbone": "pytorchvideo",  # pytorchvideo (i3d_r50) or resnet3d (pytorch-resnet3d's I3Res50)
    "weights": None,          # path of the backbone's checkpoint, or null: untrained
    "weights_sha256": None,   # expected checksum of the weights file (checked when given)
    "short_side": 256,        # frames resized so that their short side is this
    "size": None,             # [H, W]: frames resized to exactly this instead (short_side unused)
    "crop": 224,              # square crop size
    "crops": 10,              # 10 (corners, centre, mirrored), 5 or 1 (centre only)
    "crop_order": "grouped",  # grouped (five views, then their mirrors), interleaved, mirrored_frame (tencrop)
    "mean": list(KINETICS_MEAN),  # normalisation on the [0, 1] scale
    "std": list(KINETICS_STD),
    "channels": "rgb",        # channel order the network takes: rgb or bgr
    "tail": "pad",            # the last partial snippet: pad, slide or drop (vadlib.snippets)
    "source": "auto",         # the workflow's input: frames (store), video (source) or auto
    "batch": 8,               # snippets per forward pass (each with all its crops)
    "dtype": "float16",       # storage dtype of the features
    "amp": True,              # autocast on CUDA (never on the CPU)
    "seed": 0,                # seed of the random initialisation when no weights are given (else unused)
}
SOURCES = ("frames", "video", "auto")
SNIPPET_RULES = {"pad": "non-overlapping, tail padded with the last frame",
                 "slide": "non-overlapping, the last snippet the video's last 16 frames",
                 "drop": "non-overlapping, frames after the last whole snippet dropped"}
#: Snippets per write of the features store (the store's chunk along time).
WRITE_SNIPPETS = 256

FLOAT16_MAX = float(np.finfo(np.float16).max)


def _key(key: str) -> str:
    return f"features.i3d.{key}"


def resolve_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` over :data:`DEFAULTS`; unknown keys and impossible sizes fail by name."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"features.i3d: unknown keys {unknown}; known keys are {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    for key in ("short_side", "crop", "batch"):
        if not isinstance(p[key], int) or p[key] < 1:
            raise ValueError(f"{_key(key)} must be a positive integer, got {p[key]!r}")
    if p["size"] is not None:
        size = p["size"]
        if (not isinstance(size, (list, tuple)) or len(size) != 2
                or not all(isinstance(v, int) and v >= 1 for v in size)):
            raise ValueError(f"{_key('size')} must be null or [H, W] of positive integers, got {size!r}")
        if p["crop"] > min(size):
            raise ValueError(f"{_key('crop')} ({p['crop']}) is larger than features.i3d.size {list(size)}")
        p["size"] = [int(v) for v in size]
    elif p["crop"] > p["short_side"]:
        raise ValueError(f"{_key('crop')} ({p['crop']}) is larger than short_side ({p['short_side']})")
    if p["crops"] not in (1, 5, 10):
        raise ValueError(f"{_key('crops')} must be 1, 5 or 10, got {p['crops']!r}")
    for key in ("mean", "std"):
        values = p[key]
        if (not isinstance(values, (list, tuple)) or len(values) != 3
                or not all(isinstance(v, (int, float)) for v in values)):
            raise ValueError(f"{_key(key)} must be three numbers (one per channel), got {values!r}")
        p[key] = [float(v) for v in values]
    if min(p["std"]) <= 0:
        raise ValueError(f"{_key('std')} must be positive, got {p['std']}")
    choices = {"backbone": BACKBONES, "crop_order": CROP_ORDERS, "channels": CHANNEL_ORDERS,
               "tail": TAILS, "source": SOURCES, "dtype": ("float16", "float32")}
    for key, allowed in choices.items():
        if p[key] not in allowed:
            raise ValueError(f"{_key(key)} must be one of {list(allowed)}, got {p[key]!r}")
    return p


class FrameWindow:
    """Frames ``[lo, hi)`` of a video read as a stream of blocks, ``lo`` never moving back.

    Holds only the frames from the lowest one still wanted to the last one decoded, so reading a long
    video costs the memory of one batch of snippets and one block."""

    def __init__(self, blocks: Iterable[np.ndarray], n_frames: int, where: str):
        self.blocks = iter(blocks)
        self.n_frames = int(n_frames)
        self.where = where
        self.start = 0                      # frame index of buffer[0]
        self.buffer: np.ndarray | None = None

    def _read(self) -> None:
        try:
            block = next(self.blocks)
        except StopIteration:
            have = self.start + (0 if self.buffer is None else len(self.buffer))
            raise StoreError(f"{self.where}: the video ended after {have} of the {self.n_frames} "
                             f"frames it announced") from None
        self.buffer = block if self.buffer is None else np.concatenate([self.buffer, block])

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi = rows.start, rows.stop
        if lo < self.start:
            raise ValueError(f"frames {lo}-{hi} were already released (the window is at {self.start})")
        if self.buffer is not None and lo > self.start:    # release what no later snippet reads
            self.buffer = self.buffer[lo - self.start:]
            self.start = lo
        while self.buffer is None or self.start + len(self.buffer) < hi:
            self._read()
        return self.buffer[lo - self.start:hi - self.start]


class SnippetExtractor:
    """I3D features of every snippet of a video, batched. Build once, call on many videos."""

    def __init__(self, params: dict[str, Any], device: str = "auto"):
        self.params = resolve_params(params)
        self.device = torch_device(device)
        model, self.info = build_i3d(self.params["weights"], self.params["weights_sha256"],
                                     self.params["seed"], self.params["backbone"])
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
        return {"short_side": p["short_side"], "size": p["size"], "crop": p["crop"], "crops": p["crops"],
                "crop_order": p["crop_order"], "views": view_names(p["crops"], p["crop_order"]),
                "mean": list(p["mean"]), "std": list(p["std"]), "scale": "[0, 1]", "channels": p["channels"],
                "resize": "bilinear, antialias", "tail": p["tail"], "snippets": SNIPPET_RULES[p["tail"]]}

    def attrs(self) -> dict[str, Any]:
        """Provenance for a features store made by this extractor."""
        return {**self.info, "snippet_len": SNIPPET_LEN, "tail": self.params["tail"],
                "preprocessing": self.preprocessing,
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
            clips = preprocess_snippets(frames, index, p["short_side"], p["crop"], p["crops"], p["mean"],
                                        p["std"], p["size"], p["channels"], p["crop_order"])
            if self.cuda:
                clips = clips.contiguous(memory_format=torch.channels_last_3d)
            with autocast:
                feats = self.model(clips)
        return feats.view(len(index), p["crops"], FEATURE_DIM).cpu()

    def n_snippets(self, n_frames: int) -> int:
        return len(snippet_frame_indices(n_frames, SNIPPET_LEN, self.params["tail"]))

    def _batches(self, frames, n_frames: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Frames and index rows of each batch of snippets, read one batch ahead in a thread.

        ``frames`` is sliced with increasing starts only: an array, a lazy Zarr array or a
        :class:`FrameWindow` over a decoded stream."""
        index = snippet_frame_indices(n_frames, SNIPPET_LEN, self.params["tail"])
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

    def iter_features(self, frames, n_frames: int, desc: str = "i3d") -> Iterator[np.ndarray]:
        """Features ``[b, crops, 2048]`` float32 of each batch of snippets, in order, with a progress bar."""
        bar = progress(None, desc, total=self.n_snippets(n_frames), unit="snippet")
        for block, index in self._batches(frames, n_frames):
            feats = self.forward(block, index).numpy()
            bar.update(len(feats))
            yield feats
        bar.close()

    def __call__(self, frames, desc: str = "i3d") -> np.ndarray:
        """Features ``[snippets, crops, 2048]`` float32 of frames (uint8 ``[T, H, W, 3]``: an array or
        a lazy Zarr array), with a progress bar over snippets."""
        n_frames = int(frames.shape[0])
        parts = list(self.iter_features(frames, n_frames, desc))
        return np.concatenate(parts)

    def write(self, frames, n_frames: int, out_path: str | os.PathLike, attrs: dict[str, Any],
              desc: str = "i3d") -> None:
        """Features of ``frames`` written to a features store at ``out_path`` batch by batch (atomic:
        a failure leaves no store). Non-finite features, and float16 overflow, fail naming the snippets."""
        dtype = self.params["dtype"]
        shape = (self.n_snippets(n_frames), self.params["crops"], FEATURE_DIM)
        chunks = (min(WRITE_SNIPPETS, shape[0]), *shape[1:])
        full = {**self.attrs(), **attrs, "n_frames": int(n_frames)}
        with StoreWriter(out_path, "features", shape, dtype, full, chunks=chunks) as writer:
            start, pending = 0, []
            for feats in self.iter_features(frames, n_frames, desc):
                bad = ~np.isfinite(feats).all(axis=(1, 2))
                if bad.any():
                    raise StoreError(f"{out_path}: features of snippets {(start + np.flatnonzero(bad))[:5].tolist()} "
                                     f"are not finite")
                peak = float(np.abs(feats).max())
                if dtype == "float16" and peak > FLOAT16_MAX:
                    raise StoreError(f"{out_path}: features exceed the float16 range (max |x| = {peak:.3g}); "
                                     f"set features.i3d.dtype to float32")
                pending.append(feats.astype(dtype))
                if sum(len(f) for f in pending) >= WRITE_SNIPPETS:
                    block = np.concatenate(pending)
                    writer.write(start, block)
                    start, pending = start + len(block), []
            if pending:
                writer.write(start, np.concatenate(pending))


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
    ``backbone``, ``weights``, ``weights_sha256``, ``pretrained``, ``seed``, ``snippet_len``, ``tail``,
    ``preprocessing``, ``compute``, ``frames`` (the input store) and ``n_frames``.
    """
    if kind not in ("frames", "inpainted"):
        raise ValueError(f"extract_features: kind must be 'frames' or 'inpainted', got {kind!r}")
    frames = open_store(frames_path, kind, channel=3)
    if len(frames) == 0:
        raise StoreError(f"{frames_path}: the frames store holds no frame")
    extractor = get_extractor(params, device)
    extractor.write(frames.data, len(frames), out_path, {"frames": str(frames_path), "frames_kind": kind},
                    desc=f"i3d {Path(frames_path).stem}")


def extract_features_from_source(source: str | os.PathLike, source_kind: str, out_path: str | os.PathLike,
                                 params: dict[str, Any], device: str = "auto", size=None,
                                 chunk: int = 16) -> None:
    """Stage function: I3D features straight from a video file or frame folder -> features store
    ``out_path``, with no frames store.

    The source is decoded in blocks (:func:`vadlib.data.decode.iter_video`, ``iter_frame_folder``) and
    each block resized as the decode stage does (``size``: ``decode.size``), so the features equal those
    of the frames store that :func:`vadlib.data.decode.decode_to_store` would write; ``chunk`` is the
    decode block (raised to a batch of snippets). A source that cannot be decoded fails with
    :class:`~vadlib.data.decode.DecodeError` naming the file, and leaves no store. Attrs as
    :func:`extract_features`, with ``source``, ``source_kind`` and ``decode_size`` for ``frames``.
    """
    from vadlib.data.decode import DecodeError, iter_frame_folder, iter_video, resize, source_info, target_size

    count, _, (height, width) = source_info(source, source_kind)
    if count == 0:
        raise DecodeError(f"{source}: the source has no frame")
    stored = target_size(height, width, size)
    extractor = get_extractor(params, device)
    block = max(int(chunk), SNIPPET_LEN * extractor.params["batch"])
    raw = iter_video(source, block) if source_kind == "video" else iter_frame_folder(source, block)
    window = FrameWindow((resize(b, stored) for b in raw), count, str(source))
    attrs = {"frames": None, "frames_kind": None, "source": str(source), "source_kind": source_kind,
             "decode_size": size, "stored_size": list(stored)}
    extractor.write(window, count, out_path, attrs, desc=f"i3d {Path(source).stem}")
