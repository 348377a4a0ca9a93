"""Ten-crop preprocessing of 16-frame snippets for I3D: resize, crop, flip, normalise.

The recipe is the Kinetics test-time one of pytorchvideo's I3D model zoo, with the ten views that the
weakly supervised VAD literature extracts (RTFM, MT-VAE):

1. frames (uint8 RGB) are scaled to ``[0, 1]`` and resized so that their short side is ``short_side``
   (the long side ``floor(long * short_side / short)``, as pytorchvideo's ``short_side_scale``), bilinear.
   Choice: antialiasing is on, so a large downscale (e.g. 240 -> 64 for the demo) does not alias; at
   the default sizes the frames are usually stored at the short side already and the resize is skipped.
2. ``crop x crop`` views: the four corners (top-left, top-right, bottom-left, bottom-right), the centre
   (torchvision's rounding of the offset), then the horizontal flip of each of these five in the same
   order, so crop ``i + 5`` is the mirror image of crop ``i``. (torchvision's ``TenCrop`` instead crops
   the mirrored frame, which swaps the left and right corners of the flipped half; detectors average or
   bag the crops, so the order only matters for reading individual crops.) ``crops = 1`` keeps the
   centre view only, for quick runs.
3. Kinetics normalisation ``(x - mean) / std`` with mean 0.45 and std 0.225 per channel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)
CROP_NAMES = ("top_left", "top_right", "bottom_left", "bottom_right", "centre")


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


def resize_frames(frames: torch.Tensor, short_side: int) -> torch.Tensor:
    """uint8 ``[F, H, W, 3]`` -> float ``[F, 3, H', W']`` in ``[0, 1]`` with short side ``short_side``."""
    x = frames.permute(0, 3, 1, 2).float().div_(255.0)
    size = resized_size(x.shape[-2], x.shape[-1], short_side)
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


def ten_crop(clips: torch.Tensor, crop: int, crops: int = 10) -> torch.Tensor:
    """Views of clips ``[B, C, T, H, W]`` -> ``[B, crops, C, T, crop, crop]``.

    ``crops`` is 10 (five views and their mirror images), 5 (the five views) or 1 (the centre).
    """
    height, width = clips.shape[-2:]
    boxes = crop_boxes(height, width, crop)
    if crops == 1:
        boxes = boxes[4:]
    elif crops not in (5, 10):
        raise ValueError(f"crops must be 1, 5 or 10, got {crops}")
    views = [clips[..., y:y + crop, x:x + crop] for y, x in boxes]
    if crops == 10:
        views += [v.flip(-1) for v in views]
    return torch.stack(views, dim=1)


def preprocess_snippets(frames: torch.Tensor, index: torch.Tensor, short_side: int, crop: int,
                        crops: int = 10, mean=KINETICS_MEAN, std=KINETICS_STD) -> torch.Tensor:
    """Network input of a batch of snippets.

    ``frames``: uint8 ``[F, H, W, 3]`` (the frames the snippets use); ``index``: long ``[B, L]`` rows of
    frame indices into ``frames``. Returns float ``[B * crops, 3, L, crop, crop]``, crops of a snippet
    consecutive.
    """
    x = normalize(resize_frames(frames, short_side), mean, std)   # [F, 3, H', W']
    clips = x[index].permute(0, 2, 1, 3, 4)                         # [B, 3, L, H', W']
    views = ten_crop(clips, crop, crops)                            # [B, crops, 3, L, c, c]
    return views.flatten(0, 1)
