"""Ten-crop preprocessing of 16-frame snippets for I3D: resize, crop, flip, normalise.

The recipe is the Kinetics test-time one of pytorchvideo's I3D model zoo, with the ten views that the
weakly supervised VAD literature extracts (RTFM, MT-VAE):

1. frames (uint8 RGB) are scaled to ``[0, 1]`` and resized so that their short side is ``short_side``
   (the long side ``floor(long * short_side / short)``, as pytorchvideo's ``short_side_scale``), bilinear;
   or, with ``size = [H, W]``, to exactly that size (e.g. ``[256, 340]``, the frame size of widely
   used I3D feature-extraction scripts for VAD). Choice: antialiasing is on, so a large downscale
   (e.g. 240 -> 64 for the demo) does not alias; at the default sizes the frames are usually stored at
   the short side already and the resize is skipped.
2. ``crop x crop`` views: the four corners (top-left, top-right, bottom-left, bottom-right), the centre
   (torchvision's rounding of the offset), and the horizontal flip of each. :data:`CROP_ORDERS` names
   their order: ``grouped`` (the default) gives the five views, then the mirror image of each in the
   same order, so crop ``i + 5`` is the mirror of crop ``i``; ``interleaved`` gives each view followed
   by its mirror image; ``mirrored_frame`` gives top-left, top-right, centre, bottom-left, bottom-right,
   then the crops at those positions of the mirrored frame (the ``oversample`` order of widely used I3D
   feature-extraction scripts for VAD: its sixth crop is the mirror of the top-right one, as in
   torchvision's ``TenCrop``, which orders the five positions as :data:`CROP_NAMES` does). Detectors
   average or bag the crops, so the order only matters for reading individual crops; the store's
   ``preprocessing.views`` records it.
   ``crops = 1`` keeps the centre view only, for quick runs.
3. normalisation ``(x - mean) / std`` per channel, on the ``[0, 1]`` scale: Kinetics' mean 0.45 and std
   0.225 by default (pytorchvideo's zoo, and pytorch-resnet3d's evaluation transforms, whose 114.75 and
   57.375 on the ``[0, 255]`` scale are the same numbers); ``channels: bgr`` reverses the channel order
   before it, for networks trained on BGR frames.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)
CROP_NAMES = ("top_left", "top_right", "bottom_left", "bottom_right", "centre")
CROP_ORDERS = ("grouped", "interleaved", "mirrored_frame")
CHANNEL_ORDERS = ("rgb", "bgr")


def view_names(crops: int = 10, order: str = "grouped") -> list[str]:
    """Names of the views in the order :func:`ten_crop` returns them (``{name}_flipped`` for mirrors)."""
    if crops == 1:
        return [CROP_NAMES[4]]
    if crops == 5:
        return list(CROP_NAMES)
    if order == "interleaved":
        return [n for name in CROP_NAMES for n in (name, f"{name}_flipped")]
    if order == "mirrored_frame":   # the five positions in the frame, then the same five in its mirror image
        return ["top_left", "top_right", "centre", "bottom_left", "bottom_right", "top_right_flipped",
                "top_left_flipped", "centre_flipped", "bottom_right_flipped", "bottom_left_flipped"]
    return list(CROP_NAMES) + [f"{name}_flipped" for name in CROP_NAMES]


def resized_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """``(H, W)`` after scaling the short side to ``short_side`` (pytorchvideo's rounding)."""
    if height <= width:
        return short_side, int(math.floor(width / height * short_side))
    return int(math.floor(height / width * short_side)), short_side


def crop_boxes(height: int, width: int, crop: int) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the five views, in :data:`CROP_NAMES` order."""
    if crop > height or crop > width:
        raise ValueError(f"crop {crop} does not fit frames of {height}x{width}; "
                         f"use a crop no larger than the short side")
    bottom, right = height - crop, width - crop
    centre = (int(round(bottom / 2.0)), int(round(right / 2.0)))
    return [(0, 0), (0, right), (bottom, 0), (bottom, right), centre]


def resize_frames(frames: torch.Tensor, short_side: int, size: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 ``[F, H, W, 3]`` -> float ``[F, 3, H', W']`` in ``[0, 1]`` with short side ``short_side``
    (or of exactly ``size = (H', W')`` when given)."""
    x = frames.permute(0, 3, 1, 2).float().div_(255.0)
    size = tuple(size) if size else resized_size(x.shape[-2], x.shape[-1], short_side)
    if size != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x


def normalize(x: torch.Tensor, mean=KINETICS_MEAN, std=KINETICS_STD, channel_dim: int = 1) -> torch.Tensor:
    """``(x - mean) / std`` per channel along ``channel_dim``."""
    shape = [1] * x.dim()
    shape[channel_dim] = -1
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x - mean_t) / std_t


def ten_crop(clips: torch.Tensor, crop: int, crops: int = 10, order: str = "grouped") -> torch.Tensor:
    """Views of clips ``[B, C, T, H, W]`` -> ``[B, crops, C, T, crop, crop]``.

    ``crops`` is 10 (five views and their mirror images), 5 (the five views) or 1 (the centre);
    ``order`` (10 crops) is one of :data:`CROP_ORDERS` (:func:`view_names`).
    """
    if order not in CROP_ORDERS:
        raise ValueError(f"crop order must be one of {list(CROP_ORDERS)}, got {order!r}")
    height, width = clips.shape[-2:]
    boxes = crop_boxes(height, width, crop)
    if crops == 1:
        boxes = boxes[4:]
    elif crops not in (5, 10):
        raise ValueError(f"crops must be 1, 5 or 10, got {crops}")
    names = CROP_NAMES[4:] if crops == 1 else CROP_NAMES
    views = {name: clips[..., y:y + crop, x:x + crop] for name, (y, x) in zip(names, boxes)}
    if crops == 10:
        views.update({f"{name}_flipped": views[name].flip(-1) for name in CROP_NAMES})
    return torch.stack([views[name] for name in view_names(crops, order)], dim=1)


def preprocess_snippets(frames: torch.Tensor, index: torch.Tensor, short_side: int, crop: int,
                        crops: int = 10, mean=KINETICS_MEAN, std=KINETICS_STD, size=None,
                        channels: str = "rgb", order: str = "grouped") -> torch.Tensor:
    """Network input of a batch of snippets.

    ``frames``: uint8 ``[F, H, W, 3]`` RGB (the frames the snippets use); ``index``: long ``[B, L]`` rows
    of frame indices into ``frames``. ``size``: exact ``(H, W)`` to resize to instead of ``short_side``;
    ``channels``: ``rgb`` or ``bgr`` (the order the network takes); ``order``: the crop order. Returns
    float ``[B * crops, 3, L, crop, crop]``, crops of a snippet consecutive.
    """
    if channels not in CHANNEL_ORDERS:
        raise ValueError(f"channels must be one of {list(CHANNEL_ORDERS)}, got {channels!r}")
    x = resize_frames(frames, short_side, size)                     # [F, 3, H', W']
    if channels == "bgr":
        x = x.flip(1)
    x = normalize(x, mean, std)
    clips = x[index].permute(0, 2, 1, 3, 4)                         # [B, 3, L, H', W']
    views = ten_crop(clips, crop, crops, order)                     # [B, crops, 3, L, c, c]
    return views.flatten(0, 1)
