"""Training of the embedded inpainting LDM on a dataset's normal training frames (``train_ldm``).

No pretrained LDM can be fetched on the build machines, so when ``inpaint.weights`` is null the pipeline
trains its own, in the two stages of "High-Resolution Image Synthesis with Latent Diffusion Models":

1. the VQ autoencoder: L1 reconstruction (the pixel term of the taming-transformers VQ loss; its LPIPS
   and adversarial terms need pretrained or extra networks and are left out) plus ``codebook_weight``
   times the vector-quantiser loss (codebook and commitment terms, as diffusers' ``VectorQuantizer``);
2. the UNet, autoencoder frozen: the epsilon-prediction DDPM loss ``|eps - eps_theta(z_t, c, t)|`` with
   ``t ~ U{0..999}`` on the 7-channel input (``loss: l1``, the ``loss_type`` of the LDM inpainting config;
   ``l2`` is the squared error of DDPM), masks drawn by LaMa's generator (``mask_preset``; ``train`` is
   LaMa's training mix, the mask protocol the LDM paper follows for inpainting), and an exponential
   moving average of the UNet weights (``ema_decay``, with the LDM ``LitEma`` warm-up
   ``min(decay, (1 + n) / (10 + n))``) that is what gets saved.

Training samples are random ``crop`` x ``crop`` crops (with horizontal flips) of ``frames_per_video``
frames spread evenly over each video; the model is fully convolutional, so inpainting then runs at the
frames' own size. The latent scale is ``1 / std`` of the trained encoder's latents (the LDM's
``scale_factor`` rule for autoencoders whose latents are not unit-variance). The defaults are the
released architecture (:data:`~vadlib.inpaint.model.ARCHITECTURE`); the demo and the tests shrink it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.training_utils import EMAModel

from vadlib.data.manifest import require_split
from vadlib.inpaint.model import ARCHITECTURE, InpaintingLDM
from vadlib.masks.lama import LamaMaskGenerator, lama_config
from vadlib.params import resolve
from vadlib.runtime import progress, seed_everything, torch_device
from vadlib.stores import open_store

TRAIN_DEFAULTS: dict[str, Any] = {
    **ARCHITECTURE,
    "crop": 256, "frames_per_video": 64, "batch_size": 16,
    "ae_epochs": 20, "ae_lr": 2.0e-4, "codebook_weight": 1.0,
    "unet_epochs": 100, "unet_lr": 1.0e-4, "loss": "l1", "mask_preset": "train", "ema_decay": 0.9999,
    "seed": 0,
}


#: Keys whose type is not their default's.
TRAIN_TYPES: dict[str, Any] = {"loss": Literal["l1", "l2"]}


def train_params(params: dict[str, Any]) -> dict[str, Any]:
    """``inpaint.train`` merged over the defaults, checked (:func:`vadlib.params.resolve`)."""
    return resolve(params, TRAIN_DEFAULTS, "inpaint.train", TRAIN_TYPES)


def load_training_frames(frame_paths: list[str], per_video: int) -> np.ndarray:
    """``per_video`` frames spread evenly over each video, uint8 [N, H, W, 3] (all videos one size);
    :func:`train_ldm` has checked that there is at least one."""
    out = []
    for path in progress(frame_paths, desc="ldm frames", unit="video"):
        store = open_store(path, "frames")
        index = np.unique(np.linspace(0, len(store) - 1, min(per_video, len(store))).round().astype(int))
        frames = store.data.oindex[index]
        if out and frames.shape[1:] != out[0].shape[1:]:
            raise ValueError(f"{path}: frames are {list(frames.shape[1:])}, the first video's are "
                             f"{list(out[0].shape[1:])}; train_ldm needs one frame size")
        out.append(frames)
    return np.concatenate(out)


class CropSampler:
    """Random square crops with horizontal flips, as [-1, 1] tensors."""

    def __init__(self, frames: np.ndarray, crop: int, rng: np.random.Generator):
        self.frames, self.crop, self.rng = frames, crop, rng

    def __call__(self, index: np.ndarray) -> torch.Tensor:
        _, h, w, _ = self.frames.shape
        batch = np.empty((len(index), self.crop, self.crop, 3), np.uint8)
        for i, j in enumerate(index):
            y, x = self.rng.integers(0, h - self.crop + 1), self.rng.integers(0, w - self.crop + 1)
            patch = self.frames[j, y:y + self.crop, x:x + self.crop]
            batch[i] = patch[:, ::-1] if self.rng.random() < 0.5 else patch
        return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _batches(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i:i + size] for i in range(0, n, size)]


def train_autoencoder(model: InpaintingLDM, sample: CropSampler, n: int, p: dict[str, Any],
                      rng: np.random.Generator, device: torch.device) -> list[float]:
    """Stage 1: the VQ autoencoder. Returns the mean loss of each epoch."""
    vq = model.vqvae.train()
    optimizer = torch.optim.Adam(vq.parameters(), lr=p["ae_lr"], betas=(0.5, 0.9))
    history = []
    for _ in progress(range(p["ae_epochs"]), desc="ldm autoencoder", unit="epoch"):
        losses = []
        for index in _batches(n, p["batch_size"], rng):
            x = sample(index).to(device)
            decoded = vq.decode(vq.encode(x).latents)
            loss = (x - decoded.sample).abs().mean() + p["codebook_weight"] * decoded.commit_loss.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    vq.eval().requires_grad_(False)
    return history


@torch.no_grad()
def latent_scale(model: InpaintingLDM, sample: CropSampler, n: int, batch_size: int,
                 rng: np.random.Generator, device: torch.device) -> float:
    """``1 / std`` of the encoder's latents over (up to 16 batches of) the training crops."""
    model.latent_scale = 1.0
    latents = [model.encode(sample(i).to(device)) for i in _batches(n, batch_size, rng)[:16]]
    return float(1.0 / torch.cat(latents).std().clamp_min(1e-6))


def unet_loss(model: InpaintingLDM, x: torch.Tensor, mask: torch.Tensor, loss: str,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The DDPM epsilon loss of the inpainting UNet on images ``x`` under masks ``mask`` [B,1,H,W]."""
    with torch.no_grad():
        z0 = model.encode(x)
        cond = model.condition(x, mask)
    t = torch.randint(0, model.scheduler.config.num_train_timesteps, (x.shape[0],), generator=generator)
    noise = torch.randn(z0.shape, generator=generator).to(x.device)
    t = t.to(x.device)
    eps = model(model.scheduler.add_noise(z0, noise, t), cond, t)
    return F.l1_loss(eps, noise) if loss == "l1" else F.mse_loss(eps, noise)


def train_unet(model: InpaintingLDM, sample: CropSampler, n: int, p: dict[str, Any],
               rng: np.random.Generator, device: torch.device) -> list[float]:
    """Stage 2: the UNet on LaMa-masked crops (EMA weights copied in at the end). Mean loss per epoch."""
    unet = model.unet.train()
    masks = LamaMaskGenerator(p["crop"], p["crop"], lama_config(p["mask_preset"]))
    optimizer = torch.optim.AdamW(unet.parameters(), lr=p["unet_lr"], weight_decay=0.0)
    ema = EMAModel(unet.parameters(), decay=p["ema_decay"]) if p["ema_decay"] > 0 else None
    if ema is not None:
        ema.to(device)
    history = []
    for _ in progress(range(p["unet_epochs"]), desc="ldm unet", unit="epoch"):
        losses = []
        for index in _batches(n, p["batch_size"], rng):
            x = sample(index).to(device)
            mask = torch.from_numpy(np.stack([masks.draw(rng) for _ in index])[:, None]).float().to(device)
            loss = unet_loss(model, x, mask, p["loss"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if ema is not None:
                ema.step(unet.parameters())
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    if ema is not None:
        ema.copy_to(unet.parameters())
    unet.eval().requires_grad_(False)
    return history


def train_ldm(frame_paths: list[str], out_dir: str | Path, params: dict[str, Any],
              device: str | torch.device = "auto") -> dict[str, Any]:
    """Train the embedded inpainting LDM (autoencoder, then UNet) and save it in diffusers format.

    ``params`` is the ``inpaint.train`` section. Writes ``out_dir`` (``vqvae/``, ``unet/``,
    ``scheduler/``, ``vadlib_ldm.json`` with the config, losses, timings and ``pretrained: false``)
    and returns that metadata.
    """
    p = train_params(params)
    require_split(frame_paths, "training", out_dir)
    device = torch_device(device) if isinstance(device, str) else device
    rng = seed_everything(int(p["seed"]))
    frames = load_training_frames(list(frame_paths), int(p["frames_per_video"]))
    model = InpaintingLDM.build(p).to(device)
    crop = min(int(p["crop"]), frames.shape[1], frames.shape[2]) // model.multiple * model.multiple
    if crop < model.multiple:
        raise ValueError(f"train_ldm: frames of {list(frames.shape[1:3])} are smaller than the model's "
                         f"size factor {model.multiple}")
    p["crop"] = crop
    sample = CropSampler(frames, crop, rng)
    started = time.perf_counter()
    ae_losses = train_autoencoder(model, sample, len(frames), p, rng, device)
    ae_seconds = time.perf_counter() - started
    model.latent_scale = latent_scale(model, sample, len(frames), p["batch_size"], rng, device)
    unet_losses = train_unet(model, sample, len(frames), p, rng, device)
    meta = {"pretrained": False, "trained_by": "vadlib.inpaint.train.train_ldm", "config": p,
            "videos": len(frame_paths), "frames": int(len(frames)), "frame_size": list(frames.shape[1:3]),
            "ae_losses": ae_losses, "unet_losses": unet_losses, "ae_seconds": round(ae_seconds, 1),
            "unet_seconds": round(time.perf_counter() - started - ae_seconds, 1), "device": str(device)}
    model.save_pretrained(out_dir, meta)
    return {**meta, "latent_scale": model.latent_scale}
