"""The masks stage: one ``[T, H, W]`` bool store of per-frame masks for one video.

``masks.kind`` chooses what is masked:

* ``lama``: LaMa's mixed random masks (:mod:`vadlib.masks.lama`);
* ``objects``: the video's objects (ground-truth object masks, a user's mask store, or a background
  subtraction estimate, :mod:`vadlib.masks.objects`), dilated by ``object_dilate`` pixels so that an
  inpainting covers the object's border; frames without objects stay unmasked;
* ``mixed``: object-shaped where the frame holds an object of at least ``min_object_area`` pixels, a
  LaMa mask otherwise, so every selected frame is masked and objects, where there are any, are what is
  replaced.

Frames are taken in blocks of ``hold`` frames; each block is masked with probability ``frame_prob``
(1 and 1 by default: every frame, a new LaMa mask per frame). A LaMa mask is drawn once per block and
held over its frames; object masks follow the objects frame by frame. Lengths in pixels are given at
256x256 and scaled like LaMa's (:mod:`vadlib.masks.lama`).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vadlib.masks.lama import LamaMaskGenerator, lama_config
from vadlib.masks.objects import BACKGROUND_DEFAULTS, dilate, foreground, load_object_masks, median_background
from vadlib.params import ConfigError, resolve
from vadlib.runtime import progress
from vadlib.stores import Store, StoreError, StoreWriter, open_store

KINDS = ("lama", "objects", "mixed")
DEFAULTS: dict[str, Any] = {"kind": "objects", "preset": "thick", "overrides": {}, "scale": None,
                            "frame_prob": 1.0, "hold": 1, "object_dilate": 9, "min_object_area": 64,
                            "background": BACKGROUND_DEFAULTS, "seed": 0}
#: Keys whose type is not their default's (``overrides`` is checked by :func:`lama_config`).
TYPES: dict[str, Any] = {"kind": Literal[KINDS], "overrides": dict[str, Any], "scale": float | None,
                         "background.threshold": float}


def video_name(path: str | Path) -> str:
    """The video id of a per-video store path (``.../{video}.zarr``)."""
    return Path(path).name.removesuffix(".zarr")


def video_seed(seed: int, video: str) -> int:
    """A per-video seed: different videos draw different masks, the same config the same ones."""
    return (int(seed) * 1_000_003 + zlib.crc32(video.encode())) % 2**32


def check_masks_for_frames(masks_path: str | Path, frames_path: str | Path) -> Store:
    """Open a masks store and check that it has one ``[H, W]`` mask per frame of its video."""
    masks, frames = open_store(masks_path, "masks"), open_store(frames_path, "frames")
    if masks.shape != frames.shape[:3]:
        raise StoreError(f"video {video_name(frames_path)}: masks store {masks_path} is [T, H, W] = "
                         f"{list(masks.shape)}, its frames {frames_path} are {list(frames.shape[:3])}")
    return masks


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` over :data:`DEFAULTS`, checked (:func:`vadlib.params.resolve`)."""
    p = resolve(params, DEFAULTS, "masks", TYPES)
    if not 0.0 <= p["frame_prob"] <= 1.0:
        raise ConfigError("masks.frame_prob", f"must be in [0, 1], got {p['frame_prob']!r}")
    if p["hold"] < 1:
        raise ConfigError("masks.hold", f"must be at least 1, got {p['hold']!r}")
    return p


def _object_source(frames: Store, object_masks_path: str | Path | None, p: dict[str, Any],
                   factor: float):
    """A function ``(start, stop) -> [n, H, W]`` object masks, and a description of their source."""
    if object_masks_path is not None:
        objects = load_object_masks(object_masks_path, frames.shape[:3])
        kind = "ground_truth" if Path(object_masks_path).suffix == ".npz" else "user_store"
        return (lambda a, b: objects[a:b]), f"{kind}:{object_masks_path}"
    bg = p["background"]
    background = median_background(frames, int(bg["frames"]))
    sizes = dict(threshold=float(bg["threshold"]), open_size=round(bg["open"] * factor),
                 close_size=round(bg["close"] * factor), min_area=round(bg["min_area"] * factor ** 2))
    return (lambda a, b: foreground(frames.data[a:b], background, **sizes)), "background_subtraction"


def make_masks(frames_path: str | Path, out_path: str | Path, params: dict[str, Any],
               object_masks_path: str | Path | None = None) -> Path:
    """Write the masks store of one video (see the module docstring for ``params``).

    ``object_masks_path`` is the video's ground-truth object masks (``.npz`` with key ``objects``) or a
    user's masks store; without it, ``objects`` and ``mixed`` estimate objects by background subtraction.
    """
    p = _params(params)
    frames = open_store(frames_path, "frames")
    t, h, w = frames.shape[:3]
    video = video_name(frames_path)
    seed = video_seed(p["seed"], video)
    rng = np.random.default_rng(seed)
    generator = LamaMaskGenerator(h, w, lama_config(p["preset"], p["overrides"]), p["scale"])
    factor = generator.factor
    hold = int(p["hold"])
    objects, source = (None, None) if p["kind"] == "lama" else _object_source(frames, object_masks_path, p, factor)
    dilation = round(p["object_dilate"] * factor)
    min_area = p["min_object_area"] * factor ** 2
    attrs = {"generator": p["kind"], "seed": seed,
             "parameters": {**p, "lama": generator.config, "scale": factor, "object_source": source}}
    chunk = hold * max(1, 64 // hold)
    with StoreWriter(out_path, "masks", (t, h, w), "bool", attrs) as writer:
        for start in progress(range(0, t, chunk), desc=f"masks {video}", total=-(-t // chunk), unit="block"):
            stop = min(t, start + chunk)
            block = np.zeros((stop - start, h, w), bool)
            found = None if objects is None else dilate(objects(start, stop), dilation)
            for b in range(0, stop - start, hold):
                if rng.random() >= p["frame_prob"]:
                    continue
                lama = None
                for i in range(b, min(b + hold, stop - start)):
                    if found is not None and (p["kind"] == "objects" or found[i].sum() >= min_area):
                        block[i] = found[i]
                    else:
                        lama = generator.draw(rng) if lama is None else lama
                        block[i] = lama
            writer.write(start, block)
    return Path(out_path)
