"""The latent-diffusion inpainting model, assembled from diffusers parts.

Layout of the CompVis LDM inpainting model ("High-Resolution Image Synthesis with Latent Diffusion
Models", CVPR 2022, sec. 4.5; ``models/ldm/inpainting_big/config.yaml``):

* a VQ autoencoder (``diffusers.VQModel``; the released one is VQ-f4: channels 128-256-512, two residual
  blocks per level, no attention, 3 latent channels, 8,192 codes). Latents are the encoder's output
  before quantisation (the LDM ``VQModelInterface.encode``); decoding quantises first;
* a UNet (``diffusers.UNet2DModel``) whose input is the noisy latent, the latent of the masked image and
  the mask resized (nearest) to the latent grid, concatenated: ``3 + 3 + 1 = 7`` channels; it predicts
  the noise (epsilon). The released UNet has channels 256-512-768-1024, two residual blocks per level,
  attention at downsampling factors 2, 4 and 8, and residual blocks for up/downsampling;
* the LDM noise schedule: 1,000 steps, betas ``linspace(sqrt(0.0015), sqrt(0.0205))**2`` (diffusers'
  ``scaled_linear``), sampled with DDIM (``diffusers.DDIMScheduler``, "leading" spacing with offset 1 and
  ``alphas_cumprod[0]`` as the final alpha, as the LDM DDIM sampler).

Inputs follow the LDM inpainting script: image in [-1, 1]; the masked image is ``(1 - mask) * image``
taken in [0, 1] and mapped to [-1, 1] (masked pixels are -1); the mask channel is ``2 * mask - 1``.

A model directory is diffusers format: ``vqvae/`` and ``unet/`` (``save_pretrained``), the scheduler
config in ``scheduler/`` (or ``scheduler_config.json`` at the top; the LDM schedule when neither is
there), and, for models trained here, ``vadlib_ldm.json`` (latent scale, training config and losses,
``pretrained: false``). A directory without that file is a user's pretrained model: latent scale 1 (the
LDM's ``scale_factor`` for VQ models) and ``pretrained: true``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DModel, VQModel
from torch import nn

from vadlib.runtime import atomic_output

META_FILE = "vadlib_ldm.json"

# The released CompVis LDM inpainting architecture.
ARCHITECTURE: dict[str, Any] = {
    "vq_channels": [128, 256, 512], "vq_layers": 2, "latent_channels": 3, "codes": 8192,
    "unet_channels": [256, 512, 768, 1024], "unet_layers": 2, "unet_attention": [False, True, True, True],
    "attention_head_dim": 32,
}


def ldm_scheduler() -> DDIMScheduler:
    """The LDM noise schedule with the LDM DDIM sampler's timestep choice."""
    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0205,
                         beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
                         steps_offset=1, timestep_spacing="leading", prediction_type="epsilon")


def _groups(channels: list[int]) -> int:
    return math.gcd(32, *channels)


def build_vqvae(arch: dict[str, Any]) -> VQModel:
    """A VQ autoencoder with downsampling factor ``2 ** (len(vq_channels) - 1)``."""
    levels = len(arch["vq_channels"])
    return VQModel(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * levels,
                   up_block_types=("UpDecoderBlock2D",) * levels, block_out_channels=tuple(arch["vq_channels"]),
                   layers_per_block=arch["vq_layers"], latent_channels=arch["latent_channels"],
                   num_vq_embeddings=arch["codes"], norm_num_groups=_groups(arch["vq_channels"]),
                   mid_block_add_attention=False, scaling_factor=1.0)


def build_unet(arch: dict[str, Any]) -> UNet2DModel:
    """The 7-channel inpainting UNet (``2 * latent + 1`` inputs, ``latent`` outputs)."""
    attention = list(arch["unet_attention"])
    if len(attention) != len(arch["unet_channels"]):
        raise ValueError("inpaint.train: unet_attention needs one flag per entry of unet_channels")
    latent = arch["latent_channels"]
    return UNet2DModel(
        in_channels=2 * latent + 1, out_channels=latent, block_out_channels=tuple(arch["unet_channels"]),
        layers_per_block=arch["unet_layers"],
        down_block_types=tuple("AttnDownBlock2D" if a else "ResnetDownsampleBlock2D" for a in attention),
        up_block_types=tuple("AttnUpBlock2D" if a else "ResnetUpsampleBlock2D" for a in reversed(attention)),
        downsample_type="resnet", upsample_type="resnet", attention_head_dim=arch["attention_head_dim"],
        norm_num_groups=_groups(arch["unet_channels"]))


class InpaintingLDM(nn.Module):
    """VQ autoencoder + 7-channel UNet + DDIM schedule (see the module docstring)."""

    def __init__(self, vqvae: VQModel, unet: UNet2DModel, scheduler: DDIMScheduler,
                 latent_scale: float = 1.0, meta: dict[str, Any] | None = None):
        super().__init__()
        self.vqvae, self.unet, self.scheduler = vqvae, unet, scheduler
        self.latent_scale = float(latent_scale)
        self.meta = dict(meta or {})
        latent = vqvae.config.latent_channels
        if unet.config.in_channels != 2 * latent + 1 or unet.config.out_channels != latent:
            raise ValueError(f"unet: in_channels {unet.config.in_channels} / out_channels "
                             f"{unet.config.out_channels}, expected {2 * latent + 1} (noisy latent {latent} + "
                             f"masked-image latent {latent} + mask 1) / {latent}")

    @classmethod
    def build(cls, arch: dict[str, Any]) -> InpaintingLDM:
        """A freshly initialised model of the given architecture (keys of :data:`ARCHITECTURE`)."""
        return cls(build_vqvae(arch), build_unet(arch), ldm_scheduler())

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (VQ factor times the UNet's downsampling)."""
        vq = 2 ** (len(self.vqvae.config.block_out_channels) - 1)
        return vq * 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def pretrained(self) -> bool:
        return bool(self.meta.get("pretrained", True))

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Latent (before quantisation) of an image in [-1, 1], times the latent scale."""
        return self.vqvae.encode(image).latents * self.latent_scale

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Image in about [-1, 1] of a latent (quantised before decoding)."""
        return self.vqvae.decode(latent / self.latent_scale).sample

    def condition(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[masked-image latent, mask on the latent grid]`` for image [B,3,H,W] in [-1, 1], mask [B,1,H,W] in
        {0, 1}."""
        masked = (1.0 - mask) * (image + 1.0) - 1.0
        cond = self.encode(masked)
        small = F.interpolate(mask, size=cond.shape[-2:], mode="nearest")
        return torch.cat([cond, 2.0 * small - 1.0], dim=1)

    def forward(self, noisy: torch.Tensor, cond: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Predicted noise for the noisy latent given the conditioning."""
        return self.unet(torch.cat([noisy, cond], dim=1), timesteps).sample

    def save_pretrained(self, directory: str | os.PathLike, meta: dict[str, Any]) -> Path:
        """Write the model in diffusers format (atomically: a temporary directory renamed into place)."""
        with atomic_output(directory) as tmp:
            self.vqvae.save_pretrained(tmp / "vqvae")
            self.unet.save_pretrained(tmp / "unet")
            self.scheduler.save_pretrained(tmp / "scheduler")
            (tmp / META_FILE).write_text(json.dumps({**meta, "latent_scale": self.latent_scale}, indent=1))
        return Path(directory)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> InpaintingLDM:
        """Load a diffusers-format model directory (see the module docstring)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: no such inpainting model directory (config key inpaint.weights, "
                                    f"or the directory train_ldm writes when it is null)")
        for sub in ("vqvae", "unet"):
            if not (directory / sub / "config.json").exists():
                raise FileNotFoundError(f"{directory}: {sub}/config.json is missing; an inpainting model "
                                        f"directory holds vqvae/ and unet/ saved by save_pretrained")
        vqvae = VQModel.from_pretrained(directory / "vqvae", low_cpu_mem_usage=False)
        unet = UNet2DModel.from_pretrained(directory / "unet", low_cpu_mem_usage=False)
        if (directory / "scheduler" / "scheduler_config.json").exists():
            scheduler = DDIMScheduler.from_pretrained(directory / "scheduler")
        elif (directory / "scheduler_config.json").exists():
            scheduler = DDIMScheduler.from_pretrained(directory)
        else:
            scheduler = ldm_scheduler()
        meta_path = directory / META_FILE
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"pretrained": True}
        try:
            return cls(vqvae, unet, scheduler, meta.get("latent_scale", 1.0), meta).eval()
        except ValueError as err:
            raise ValueError(f"{directory}/{err}") from err
