"""Pseudo videos from a trained MT-VAE (MT-VAE paper, sec. 3.2), written as feature stores.

- pseudo-abnormal video (label 1): a normal training video in which ``T // 2`` snippets (at least one),
  chosen at random, are replaced by the abnormal decoder's output for their own latents; the other
  snippets and the temporal order are kept;
- pseudo-normal video (label 0): every snippet of an abnormal training video through the normal decoder.

Crops: every crop of a replaced snippet goes through the MT-VAE separately (it models single snippet
vectors), so a pseudo video keeps the ``[snippets, crops, dim]`` layout of its source.

``sample_ratio`` pseudo videos are made per original video: ``floor(r)`` from each, plus one more from a
random ``r - floor(r)`` fraction of them (``r = 0.5``: one from half of the videos). Each pseudo video
draws its snippets and latents from its own generator seeded by ``(seed, video number, copy)``, so the
output does not depend on the order of the work.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vadlib.data.manifest import require_split
from vadlib.runtime import progress, torch_device
from vadlib.stores import open_store, write_store
from vadlib.weak.checkpoint import file_sha256, load_model
from vadlib.weak.config import MTVAEConfig
from vadlib.weak.data import PseudoEntry, check_labels, write_pseudo_index
from vadlib.weak.mtvae import ABNORMAL, MTVAE, NORMAL

KINDS = {0: ("pseudo_abnormal", 1, "pa"), 1: ("pseudo_normal", 0, "pn")}  # by the source's label


def copies_per_video(n_videos: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """How many pseudo videos each of ``n_videos`` originals gives for a sample ratio ``ratio``."""
    if ratio < 0:
        raise ValueError(f"sample_ratio must be >= 0, got {ratio}")
    whole = math.floor(ratio)
    counts = np.full(n_videos, whole, dtype=int)
    extra = int(round((ratio - whole) * n_videos))
    if extra:
        counts[rng.choice(n_videos, size=extra, replace=False)] += 1
    return counts


@torch.inference_mode()
def transform(model: MTVAE, x: np.ndarray, which: int, sample: bool, generator: torch.Generator,
              device: torch.device) -> np.ndarray:
    """Decode ``x`` ``[n, C, D]`` crop by crop through decoder ``which`` from the vectors' own latents."""
    n, c, d = x.shape
    flat = torch.from_numpy(np.ascontiguousarray(x.reshape(n * c, d), dtype=np.float32)).to(device)
    mu, logvar = model.encode(flat)
    z = model.reparameterize(mu, logvar, generator) if sample else mu
    return model.decode(z, which).float().cpu().numpy().reshape(n, c, d)


def pseudo_video(model: MTVAE, x: np.ndarray, source_label: int, sample: bool, rng: np.random.Generator,
                 generator: torch.Generator, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """One pseudo video from ``x`` ``[T, C, D]``; returns it and the indices of the replaced snippets."""
    out = np.array(x, dtype=np.float32, copy=True)
    if source_label == 0:
        replaced = np.sort(rng.choice(len(x), size=max(1, len(x) // 2), replace=False))
        out[replaced] = transform(model, out[replaced], ABNORMAL, sample, generator, device)
    else:
        replaced = np.arange(len(x))
        out[:] = transform(model, out, NORMAL, sample, generator, device)
    return out, replaced


def generate_pseudo(train_features: Mapping[str, str], labels: Mapping[str, int], mtvae_model: str,
                    out_dir: str | os.PathLike, out_index: str | os.PathLike,
                    params: Mapping[str, Any] | None = None, device: str = "auto") -> list[PseudoEntry]:
    """Write ``sample_ratio`` pseudo videos per training video to ``out_dir/{name}.zarr`` and their index.

    Names are ``{video}__pa{j}`` (pseudo-abnormal) and ``{video}__pn{j}`` (pseudo-normal). Each store's
    attrs give the extractor ``"mtvae"``, the MT-VAE file's checksum as ``weights``, ``pretrained`` and
    the preprocessing of the source features (the values derive from them), and the provenance:
    ``source_video``, ``source_store``, ``pseudo_kind``, ``label``, ``seed``, ``replaced`` snippets.
    """
    cfg = MTVAEConfig.from_params(params)
    if cfg.latent not in ("sample", "mean"):
        raise ValueError(f"latent must be 'sample' or 'mean', got {cfg.latent!r}")
    require_split(train_features, "training", out_index)
    check_labels(train_features, labels)
    dev = torch_device(device)
    model, ckpt = load_model(mtvae_model, dev, kind="mtvae")
    dim = int(ckpt["model_args"]["dim"])
    checksum = file_sha256(mtvae_model)
    out_dir = Path(out_dir)
    videos = list(train_features)
    counts = copies_per_video(len(videos), cfg.sample_ratio, np.random.default_rng([cfg.seed, 0]))
    jobs = [(i, j) for i in range(len(videos)) for j in range(counts[i])]
    entries = []
    for i, j in progress(jobs, desc="pseudo videos", unit="video"):
        video = videos[i]
        store = open_store(train_features[video], "features", feature=dim)
        x = np.asarray(store.read(finite=True), dtype=np.float32)
        kind, label, tag = KINDS[int(labels[video])]
        rng = np.random.default_rng([cfg.seed, 1, i, j])
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        y, replaced = pseudo_video(model, x, int(labels[video]), cfg.latent == "sample", rng, generator, dev)
        name = f"{video}__{tag}{j}"
        path = out_dir / f"{name}.zarr"
        attrs = {"extractor": "mtvae", "weights": checksum, "pretrained": bool(store.attrs["pretrained"]),
                 "snippet_len": store.attrs["snippet_len"], "preprocessing": store.attrs["preprocessing"],
                 "source_video": video, "source_store": str(train_features[video]), "pseudo_kind": kind,
                 "label": label, "seed": cfg.seed, "copy": j, "replaced": replaced.tolist(),
                 "mtvae_model": str(mtvae_model)}
        write_store(path, "features", y.astype(store.data.dtype), attrs)
        entries.append(PseudoEntry(name, label, video, kind, str(path.resolve())))
    write_pseudo_index(out_index, entries)
    return entries
