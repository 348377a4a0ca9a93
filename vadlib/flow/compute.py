"""The flow stage: TV-L1 optical flow of every consecutive frame pair of a video, as a flow store.

``compute_flow`` reads a frames store (uint8 [T, H, W, 3], RGB), converts it to grayscale
(``cv2.COLOR_RGB2GRAY``), optionally resizes it, and writes the T-1 flows from frame t to frame t+1 as a
flow store [T-1, H, W, 2] float16 (x, y displacement in pixels of the flow's size). ``method`` picks
OpenCV's Dual TV-L1 (the reference, CPU) or the batched PyTorch one (CUDA or CPU); both take the same
TV-L1 parameters (:class:`~vadlib.flow.tvl1_params.TVL1Params`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vadlib.flow.tvl1_params import TVL1Params
from vadlib.params import ConfigError
from vadlib.runtime import progress, torch_device
from vadlib.stores import Store, StoreError, StoreWriter, open_store

METHODS = ("opencv", "torch")
STAGE_KEYS = ("method", "batch", "size", "compile")


def video_name(store: str | os.PathLike | Store) -> str:
    """The video a per-video store belongs to: its file name without ``.zarr``."""
    path = Path(store.path if isinstance(store, Store) else store)
    return path.name[:-len(".zarr")] if path.name.endswith(".zarr") else path.name


def flow_size(frame_size: tuple[int, int], size: Any) -> tuple[int, int]:
    """(H, W) of the flow for frames of ``frame_size``: ``size`` null keeps it, an int is the short side
    (aspect kept, long side rounded), ``[H, W]`` is exact."""
    height, width = frame_size
    if size is None:
        return height, width
    if isinstance(size, bool):
        raise TypeError(f"flow.size must be null, an int or [H, W], got {size!r}")
    if isinstance(size, int):
        if size < 16:
            raise ValueError(f"flow.size {size} is too small (at least 16 pixels)")
        if height <= width:
            return size, max(1, int(round(width * size / height)))
        return max(1, int(round(height * size / width))), size
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) and s >= 16 for s in size):
        return int(size[0]), int(size[1])
    raise ValueError(f"flow.size must be null, an int (short side) or [H, W] of at least 16, got {size!r}")


def check_params(params: Mapping[str, Any]) -> tuple[str, int, TVL1Params]:
    """Check the flow config section; returns (method, batch, TV-L1 parameters)."""
    unknown = sorted(set(params) - set(STAGE_KEYS) - set(TVL1Params.keys()))
    if unknown:
        raise ConfigError(f"flow.{unknown[0]}", f"unknown key (unknown: {unknown}); known keys are "
                                                f"{sorted(STAGE_KEYS + TVL1Params.keys())}")
    method = params.get("method", "torch")
    if method not in METHODS:
        raise ConfigError("flow.method", f"must be one of {list(METHODS)}, got {method!r}")
    batch = params.get("batch", 64)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError("flow.batch", f"must be a positive int, got {batch!r}")
    if params.get("compile", "auto") not in (True, False, "auto"):
        raise ConfigError("flow.compile", f"must be true, false or auto, got {params['compile']!r}")
    return method, batch, TVL1Params.from_config(params)


def to_gray(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 [T, H, W, 3] RGB -> uint8 [T, h, w] grayscale at ``size`` (area averaging when shrinking)."""
    import cv2

    out = np.empty((len(frames), *size), dtype=np.uint8)
    for i, frame in enumerate(frames):
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        if gray.shape != size:
            shrink = size[0] * size[1] < gray.shape[0] * gray.shape[1]
            gray = cv2.resize(gray, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        out[i] = gray
    return out


class _FlowComputer:
    """Flow of a batch of grayscale pairs by one method (keeps the OpenCV object / compiled module)."""

    def __init__(self, method: str, tvl1: TVL1Params, device: str, compile: bool | str):
        self.method = method
        self.compiled = False
        if method == "opencv":
            from vadlib.flow.tvl1_opencv import opencv_tvl1

            self.op = opencv_tvl1(tvl1)
            self.device = "cpu"
        else:
            from vadlib.flow.tvl1_torch import DualTVL1

            self.torch_device = torch_device(device)
            self.compiled = self.torch_device.type == "cuda" if compile == "auto" else bool(compile)
            self.module = DualTVL1(tvl1, compile=self.compiled)
            self.device = str(self.torch_device)

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        """uint8 [n+1, H, W] consecutive frames -> float32 [n, H, W, 2] flows."""
        if self.method == "opencv":
            from vadlib.flow.tvl1_opencv import tvl1_opencv

            return tvl1_opencv(gray[:-1], gray[1:], flow_op=self.op)
        import torch

        with torch.no_grad():
            frames = torch.from_numpy(gray).to(self.torch_device, non_blocking=True).float()
            return self.module(frames[:-1], frames[1:]).cpu().numpy()


def compute_flow(frames_path: str | os.PathLike, out_path: str | os.PathLike, params: Mapping[str, Any],
                 device: str = "auto") -> Path:
    """Write the TV-L1 flow store of one video (see the module docstring). Returns ``out_path``.

    ``params`` is the ``flow`` config section: ``method`` (opencv | torch), ``batch`` (pairs per step),
    ``size`` (null | short side | [H, W]), ``compile`` (torch.compile the PyTorch iterations: true, false,
    or auto = on CUDA only) and the TV-L1 parameters; no seed, as TV-L1 draws no random number. Fails,
    naming the store, when the video has fewer than 2 frames.
    """
    method, batch, tvl1 = check_params(params)
    frames = open_store(frames_path, "frames")
    count, height, width, _ = frames.shape
    if count < 2:
        raise StoreError(f"{frames.path}: video {video_name(frames)!r} has {count} frame(s); "
                         "optical flow needs at least 2")
    size = flow_size((height, width), params.get("size"))
    computer = _FlowComputer(method, tvl1, device, params.get("compile", "auto"))
    attrs = {"method": method, "parameters": tvl1.as_dict(), "size": list(size),
             "frames": str(frames.path), "device": computer.device,
             "compiled": computer.compiled, "frame_size": [height, width], "color": "RGB2GRAY"}
    pairs = count - 1
    with StoreWriter(out_path, "flow", (pairs, *size, 2), "float16", attrs) as writer, \
            progress(None, desc=f"flow {video_name(frames)}", total=pairs, unit="pair") as bar:
        for start in range(0, pairs, batch):
            stop = min(start + batch, pairs)
            gray = to_gray(frames.data[start:stop + 1], size)
            writer.write(start, computer(gray).astype(np.float16))
            bar.update(stop - start)
    return Path(out_path)


def check_flow_for_frames(flow_store: str | os.PathLike | Store, frames_store: str | os.PathLike | Store,
                          size: Any = None) -> Store:
    """Open a flow store and check that it fits its frames: [T-1, H, W, 2] for T frames, where (H, W) is
    the frames' size, or the size ``size`` (the flow config's ``size``) makes of it. Fails naming the
    video. Returns the opened flow store."""
    frames = frames_store if isinstance(frames_store, Store) else open_store(frames_store, "frames")
    flow = flow_store if isinstance(flow_store, Store) else open_store(flow_store, "flow")
    count, height, width = frames.shape[:3]
    expected = (count - 1, *flow_size((height, width), size), 2)
    if flow.shape != expected:
        raise StoreError(f"video {video_name(frames)!r}: flow store {flow.path} has shape {list(flow.shape)}, "
                         f"expected {list(expected)} for its {count} frames of {height}x{width} in {frames.path}")
    return flow
