"""Temporal pseudo-anomalies by flow mixup.

"Video Anomaly Detection via Spatio-Temporal Pseudo-Anomaly Generation: A Unified Approach" (CVPR
Workshops 2024, sec. 3.1) perturbs the optical flow of a frame where its spatial pseudo-anomaly mask is:
the flow patch ``p'`` under the bounding box of the frame's mask is mixed with a patch ``p_r`` of the
same size taken at a uniformly random location of the same flow field,

    p = lambda * p' + (1 - lambda) * p_r,    lambda ~ Beta(alpha, alpha),  alpha = 0.4,

and ``p`` replaces ``p'``. Reading of the paper: ``p'`` is the patch being perturbed (it stays in place
and keeps weight ``lambda``), ``p_r`` the random donor, and the whole bounding box is replaced, as the
paper speaks of patches and boxes, not of mask pixels (``region: mask`` mixes inside the mask only, an
option). Flow ``t`` (frame ``t`` to ``t + 1``) takes the mask of frame ``t``; flows whose frame has no
mask are copied unchanged. The top-left corner of ``p_r`` is uniform over all positions where a patch
of the box's size fits, so it may overlap the box. When the flow was computed at another size than the
frames (``flow.size``), the masks are resized to the flow's size (nearest neighbour).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from vadlib.masks.stage import video_name, video_seed
from vadlib.params import ConfigError, resolve
from vadlib.runtime import progress
from vadlib.stores import StoreError, StoreWriter, open_store

DEFAULTS: dict[str, Any] = {"alpha": 0.4, "region": "box", "seed": 0}
#: Keys whose type is not their default's.
TYPES: dict[str, Any] = {"region": Literal["box", "mask"]}


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` (end exclusive) of a 2-D bool mask, or None when it is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def mix_patch(flow: np.ndarray, mask: np.ndarray, lam: float, source: tuple[int, int],
              region: str = "box") -> np.ndarray:
    """``flow`` [H, W, 2] with the box of ``mask`` replaced by ``lam * p' + (1 - lam) * p_r``, where
    ``p_r`` is the box-sized patch whose top-left corner is ``source``."""
    box = bounding_box(mask)
    out = flow.copy()
    if box is None:
        return out
    y0, y1, x0, x1 = box
    ry, rx = source
    p_own = flow[y0:y1, x0:x1]
    p_rand = flow[ry:ry + y1 - y0, rx:rx + x1 - x0]
    if p_rand.shape != p_own.shape:
        raise ValueError(f"patch at {source} of size {p_own.shape[:2]} leaves the {flow.shape[:2]} flow field")
    mixed = lam * p_own + (1.0 - lam) * p_rand
    if region == "box":
        out[y0:y1, x0:x1] = mixed
    elif region == "mask":
        inside = mask[y0:y1, x0:x1]
        out[y0:y1, x0:x1][inside] = mixed[inside]
    else:
        raise ValueError(f"mixup.region: {region!r} is not 'box' or 'mask'")
    return out


def draw_mixup(mask: np.ndarray, alpha: float, rng: np.random.Generator):
    """``(lambda, (ry, rx))`` for one frame's mask, or None when the mask is empty."""
    box = bounding_box(mask)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    h, w = mask.shape
    lam = float(rng.beta(alpha, alpha))
    return lam, (int(rng.integers(0, h - (y1 - y0) + 1)), int(rng.integers(0, w - (x1 - x0) + 1)))


def _mask_reader(masks, size: tuple[int, int]):
    """``(start, stop) -> [n, h, w]`` masks at the flow's size: flow may be computed at another size
    than the frames (``flow.size``); masks are then resized with nearest-neighbour sampling."""
    if tuple(masks.shape[1:]) == tuple(size):
        return lambda a, b: masks.data[a:b]
    h, w = size

    def read(a: int, b: int) -> np.ndarray:
        block = masks.data[a:b].astype(np.uint8)
        return np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) for m in block]).astype(bool) \
            if len(block) else np.zeros((0, h, w), bool)
    return read


def mixup_flow(flow_path: str | Path, masks_path: str | Path, out_path: str | Path,
               params: dict[str, Any]) -> Path:
    """Write the mixup flow store of one video: flow ``t`` mixed under the box of mask ``t``.

    attrs: ``method: mixup``, ``parameters``, ``seed``, and per flow frame ``lambdas``, ``boxes``
    (``[y0, y1, x0, x1]``) and ``sources`` (``[ry, rx]``, top-left of ``p_r``), null where no mask.
    """
    p = resolve(params, DEFAULTS, "mixup", TYPES)
    if not p["alpha"] > 0:
        raise ConfigError("mixup.alpha", f"must be positive, got {p['alpha']!r}")
    flow = open_store(flow_path, "flow")
    masks = open_store(masks_path, "masks")
    video = video_name(flow_path)
    t = len(flow)
    if masks.shape[0] != t + 1:
        raise StoreError(f"video {video}: masks store {masks_path} is [T, H, W] = {list(masks.shape)}, "
                         f"its flow {flow_path} is [T-1, H, W] = {list(flow.shape[:3])}")
    mask_at = _mask_reader(masks, flow.shape[1:3])
    seed = video_seed(p["seed"], video)
    rng = np.random.default_rng(seed)
    chunk = 64
    draws, boxes = [], []
    for start in range(0, t, chunk):
        for mask in mask_at(start, min(t, start + chunk)):
            draws.append(draw_mixup(mask, p["alpha"], rng))
            boxes.append(bounding_box(mask))
    attrs = {"method": "mixup", "parameters": p, "seed": seed, "flow_method": flow.attrs["method"],
             "lambdas": [None if d is None else d[0] for d in draws],
             "boxes": [None if b is None else list(b) for b in boxes],
             "sources": [None if d is None else list(d[1]) for d in draws]}
    with StoreWriter(out_path, "flow", flow.shape, np.dtype(flow.data.dtype).name, attrs) as writer:
        for start in progress(range(0, t, chunk), desc=f"mixup {video}", total=-(-t // chunk), unit="block"):
            fields = flow.data[start:start + chunk].astype(np.float32)
            frame_masks = mask_at(start, start + len(fields))
            for i, (field, mask) in enumerate(zip(fields, frame_masks)):
                draw = draws[start + i]
                if draw is not None:
                    fields[i] = mix_patch(field, mask, draw[0], draw[1], p["region"])
            writer.write(start, fields)
    return Path(out_path)
