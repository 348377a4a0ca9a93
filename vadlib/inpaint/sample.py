"""DDIM inpainting of frames with an :class:`~vadlib.inpaint.model.InpaintingLDM`, and the inpainting stage.

The sampler is the LDM inpainting script's: start from Gaussian noise on the latent grid, run ``steps``
DDIM steps of the UNet conditioned on the masked image's latent and the mask, decode, and keep the
input outside the mask: ``(1 - mask) * image + mask * prediction``. Frames are padded (edge replicated,
mask 0) to a multiple of the model's size factor and cropped back, so any frame size works; the
composition is done on the uint8 frames, so pixels outside the mask are exactly the input's.
Noise is drawn on the CPU from one generator per video (seeded by ``seed`` and the video's name), so a
run is reproducible and the same on the CPU and on CUDA up to float tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vadlib.inpaint.model import InpaintingLDM
from vadlib.masks.stage import check_masks_for_frames, video_name, video_seed
from vadlib.params import ConfigError
from vadlib.runtime import progress, torch_device
from vadlib.stores import StoreWriter, open_store

DEFAULTS: dict[str, Any] = {"steps": 50, "eta": 0.0, "batch_size": 8, "seed": 0}
SECTION_KEYS = set(DEFAULTS) | {"weights", "train"}
BLOCK = 64  # frames read and written at once


@torch.no_grad()
def ddim_inpaint(model: InpaintingLDM, image: torch.Tensor, mask: torch.Tensor, steps: int = 50,
                 eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inpaint ``image`` [B, 3, H, W] in [-1, 1] where ``mask`` [B, 1, H, W] is 1; H, W multiples of
    ``model.multiple``. Returns ``(1 - mask) * image + mask * prediction``."""
    cond = model.condition(image, mask)
    shape = (image.shape[0], model.unet.config.out_channels) + tuple(cond.shape[-2:])
    latent = torch.randn(shape, generator=generator).to(image.device) * model.scheduler.init_noise_sigma
    scheduler = model.scheduler
    scheduler.set_timesteps(steps, device=image.device)
    for t in scheduler.timesteps:
        eps = model(latent, cond, t.expand(shape[0]))
        noise = torch.randn(shape, generator=generator).to(image.device) if eta > 0 else None
        latent = scheduler.step(eps, t, latent, eta=eta, variance_noise=noise).prev_sample
    prediction = model.decode(latent).clamp(-1.0, 1.0)
    return (1.0 - mask) * image + mask * prediction


def inpaint_frames(model: InpaintingLDM, frames: np.ndarray, masks: np.ndarray, steps: int, eta: float,
                   generator: torch.Generator, device: torch.device) -> np.ndarray:
    """Inpaint uint8 frames [N, H, W, 3] under bool masks [N, H, W]; outside the masks, the input."""
    n, h, w = masks.shape
    m = model.multiple
    pad_h, pad_w = -h % m, -w % m
    image = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    mask = torch.from_numpy(masks).to(device)[:, None].float()
    image = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")
    mask = F.pad(mask, (0, pad_w, 0, pad_h))
    result = ddim_inpaint(model, image, mask, steps, eta, generator)[:, :, :h, :w]
    pred = ((result + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return np.where(masks[..., None], pred, frames)


def inpaint_video(frames_path: str | Path, masks_path: str | Path, out_path: str | Path,
                  model_dir: str | Path, params: dict[str, Any], device: str | torch.device = "auto") -> Path:
    """Write the inpainted store of one video: each frame with mask pixels is inpainted under its mask
    (batched, ``batch_size`` frames), the others are copied.

    ``params`` is the ``inpaint`` config section (``steps``, ``eta``, ``batch_size``, ``seed``; ``weights``
    and ``train`` are read by the workflow and ``train_ldm``). attrs: ``model`` (the model directory),
    ``pretrained`` (false for a model trained by ``train_ldm``), ``parameters``, ``seed``.
    """
    unknown = sorted(set(params) - SECTION_KEYS)
    if unknown:
        raise ConfigError(f"inpaint.{unknown[0]}", f"unknown key (unknown: {unknown}); known keys are "
                                                   f"{sorted(SECTION_KEYS)}")
    p = {k: params.get(k, v) for k, v in DEFAULTS.items()}
    device = torch_device(device) if isinstance(device, str) else device
    frames = open_store(frames_path, "frames")
    masks = check_masks_for_frames(masks_path, frames_path)
    model = InpaintingLDM.from_pretrained(model_dir).to(device)
    video = video_name(frames_path)
    seed = video_seed(p["seed"], video)
    generator = torch.Generator().manual_seed(seed)
    t = len(frames)
    has_mask = np.concatenate([masks.data[s:s + BLOCK].any(axis=(1, 2)) for s in range(0, t, BLOCK)])
    attrs = {"model": str(model_dir), "pretrained": model.pretrained, "seed": seed,
             "parameters": {**p, "model_kind": "user weights" if model.pretrained else "embedded small LDM"},
             "inpainted_frames": int(has_mask.sum())}
    batch = int(p["batch_size"])
    with StoreWriter(out_path, "inpainted", frames.shape, "uint8", attrs) as writer:
        for start in progress(range(0, t, BLOCK), desc=f"inpaint {video}", total=-(-t // BLOCK), unit="block"):
            block = frames.data[start:start + BLOCK]
            todo = np.flatnonzero(has_mask[start:start + len(block)])
            if todo.size:
                block_masks = masks.data[start:start + len(block)]
                for b in range(0, todo.size, batch):
                    idx = todo[b:b + batch]
                    block[idx] = inpaint_frames(model, block[idx], block_masks[idx], int(p["steps"]),
                                                float(p["eta"]), generator, device)
            writer.write(start, block)
    return Path(out_path)
