"""LUSS-AE: a unified self-supervised autoencoder for one-class video anomaly detection.

Model. MemAE's 3D convolutional autoencoder (:class:`vadlib.oneclass.ae3d.Conv3dAE`) on ``L``-frame
grayscale clips in [-1, 1] (L = 16), with three self-supervised tasks:

- video clip reconstruction (VCR): the decoder's output through tanh;
- future frame prediction (FFP): one 2D convolution (3x3) over the decoder's raw output, its L frames
  stacked as channels, then tanh, predicts frame L + 1;
- playback rate prediction (PRP): on the encoder's bottleneck, 3D average pooling over time, a 2D
  convolution (3x3) with ReLU, global average pooling and a fully connected layer to 2 classes
  (normal rate / accelerated).

Loss. ``L = 0.6 VCR + 0.4 FFP + 1.0 PRP`` with VCR the MSE over the clip, FFP the MSE of frame L + 1 and
PRP the cross-entropy of the playback-rate label. A clip is accelerated with probability 0.5, with a
stride drawn from {2, 3, 4, 5} (:func:`vadlib.oneclass.clips.playback_clip`). Choice where the paper is
silent: VCR and FFP are computed on the normal-rate clips only (``recon_accelerated: false``):
teaching the autoencoder to reconstruct and extrapolate accelerated motion would teach it the fast
motion it must flag at test time. Adam, lr 1e-4, batch 16.

Scoring. Every test window of L + 1 frames (a clip and its next frame) gives the VCR error (mean over
the clip's frames) and the FFP error, each as MSE, PSE and BPE (:mod:`vadlib.oneclass.errors`), and the
PRP score, the probability of the accelerated class. VCR and PRP go to the clip's centre frame, FFP to
the predicted frame (:func:`vadlib.oneclass.score.to_frames`). The combined score of a video is
``w_vcr r(VCR) + w_ffp r(FFP) + w_prp r(PRP)`` with ``r`` the robust per-video rescaling
``(x - median) / (P99 - P1)`` (row ``combined``) or min-max (row ``combined_minmax``), using the error
measure ``error`` (BPE by default). Weights per dataset (VCR / FFP / PRP): Ped2 0.1 / 0.8 / 1 (the
default), Avenue 0.1 / 1 / 0.1, ShanghaiTech 0.2 / 0.2 / 0.9. Reading of the paper: the three weights
are those of the three tasks.

Rows written: ``vcr_{mse,pse,bpe}``, ``ffp_{mse,pse,bpe}``, ``prp``, ``combined_{mse,pse,bpe}`` (robust),
``combined`` (robust, measure ``error``) and ``combined_minmax``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vadlib.data.manifest import require_split
from vadlib.oneclass.ae3d import Conv3dAE, check_geometry
from vadlib.oneclass.clips import FrameSource, Windows, clip_indices, parse_size, playback_clip, window_starts
from vadlib.oneclass.errors import frame_errors
from vadlib.oneclass.params import SHARED, resolve
from vadlib.oneclass.rescalings import minmax, rescaling
from vadlib.oneclass.score import batches, combine, save_rows, to_frames
from vadlib.oneclass.train import fit, load_checkpoint, save_checkpoint
from vadlib.runtime import progress, seed_everything, torch_device

METHOD = "luss"
MEASURES = ("mse", "pse", "bpe")

DEFAULTS: dict[str, Any] = {
    **SHARED,
    "epochs": 60,
    "lr": 1e-4,
    "gray": True,
    "loss_weights": {"vcr": 0.6, "ffp": 0.4, "prp": 1.0},
    "strides": [2, 3, 4, 5],
    "p_accelerated": 0.5,
    "recon_accelerated": False,
    "error": "bpe",
    "blur_size": 5,
    "blur_sigma": 1.0,
    "pool_stride": 2,
    "weights": {"vcr": 0.1, "ffp": 0.8, "prp": 1.0},
    "rescaling": "robust",
}


class LUSSAE(nn.Module):
    """The 3D autoencoder with its future-frame and playback-rate heads (see the module docstring)."""

    def __init__(self, clip_len: int = 16, widths=(96, 128, 256, 256), channels: int = 1):
        super().__init__()
        self.clip_len, self.channels = clip_len, channels
        self.ae = Conv3dAE(channels, widths=widths, out_act="tanh")
        self.ffp = nn.Conv2d(clip_len * channels, channels, 3, padding=1)
        c = self.ae.widths[3]
        self.prp = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [B, C, L, H, W]`` -> reconstruction ``[B, C, L, H, W]``, next frame ``[B, C, H, W]``,
        playback-rate logits ``[B, 2]``."""
        feats = self.ae.encode(x)
        raw = self.ae.decode(feats, activate=False)
        recon = torch.tanh(raw)
        nxt = torch.tanh(self.ffp(raw.transpose(1, 2).flatten(1, 2)))
        logits = self.prp(feats[3].mean(dim=2))
        return recon, nxt, logits


def luss_loss(model: LUSSAE, clips: torch.Tensor, labels: torch.Tensor, weights: dict[str, float],
              recon_accelerated: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
    """``clips [B, C, L+1, H, W]`` (clip and next frame), ``labels [B]`` (1: accelerated)."""
    x, target = clips[:, :, :-1], clips[:, :, -1]
    recon, nxt, logits = model(x)
    use = torch.ones_like(labels, dtype=torch.bool) if recon_accelerated else labels == 0
    if use.any():
        vcr = F.mse_loss(recon[use], x[use])
        ffp = F.mse_loss(nxt[use], target[use])
    else:
        vcr = ffp = recon.sum() * 0.0
    prp = F.cross_entropy(logits, labels)
    loss = weights["vcr"] * vcr + weights["ffp"] * ffp + weights["prp"] * prp
    return loss, {"vcr": float(vcr.detach()), "ffp": float(ffp.detach()), "prp": float(prp.detach())}


def _build(p: dict[str, Any]) -> LUSSAE:
    return LUSSAE(p["clip_len"], p["widths"], 1 if p["gray"] else 3)


def train_luss(frame_paths: list[str], out_model: str, params: dict[str, Any], device: str = "auto") -> list[dict]:
    """Train LUSS-AE on the frames stores of the normal training videos; write ``out_model`` (.pt + .json)."""
    p = resolve(params, DEFAULTS, METHOD)
    size = parse_size(p["size"])
    check_geometry(size, p["clip_len"])
    require_split(frame_paths, "training", out_model)
    rng = seed_everything(int(p["seed"]))
    dev = torch_device(device)
    videos = [FrameSource(path, size, gray=p["gray"], preload=p["preload"])
              for path in progress(frame_paths, desc=f"{METHOD}: load", unit="video")]
    L = p["clip_len"]
    windows = Windows([len(v) for v in videos], L + 1, p["train_stride"])
    model = _build(p).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=p["lr"])

    def epoch(_: int):
        for pairs in windows.epoch(rng, p["batch"]):
            clips, labels = [], []
            for v, s in pairs:
                idx, label = playback_clip(rng, len(videos[v]), int(s), L + 1, p["strides"], p["p_accelerated"])
                clips.append(videos[v].clip(idx))
                labels.append(label)
            yield torch.from_numpy(np.stack(clips)).to(dev), torch.tensor(labels, device=dev)

    start = time.perf_counter()
    history = fit(model, lambda b: luss_loss(model, b[0], b[1], p["loss_weights"], p["recon_accelerated"]),
                  optimizer, epoch, p["epochs"], METHOD, windows.n_batches(p["batch"]))
    save_checkpoint(out_model, METHOD, {"model": model}, p,
                    extra={"train_seconds": time.perf_counter() - start, "train_windows": len(windows),
                           "videos": len(videos)}, history={"train": history})
    return history


@torch.no_grad()
def window_scores(model: LUSSAE, video: FrameSource, p: dict[str, Any], dev: torch.device) -> dict[str, np.ndarray]:
    """Frame scores of every component for one video (see the module docstring)."""
    L, n = model.clip_len, len(video)
    starts = window_starts(n, L + 1, p["test_stride"])
    parts: dict[str, list[np.ndarray]] = {f"{t}_{m}": [] for t in ("vcr", "ffp") for m in MEASURES}
    parts["prp"] = []
    blur = dict(size=p["blur_size"], sigma=p["blur_sigma"], stride=p["pool_stride"])
    for chunk in batches(starts, p["batch"]):
        clips = torch.from_numpy(np.stack([video.clip(clip_indices(int(s), L + 1, n)) for s in chunk])).to(dev)
        x, target = clips[:, :, :-1], clips[:, :, -1]
        recon, nxt, logits = model(x)
        vcr = frame_errors(x.transpose(1, 2), recon.transpose(1, 2), MEASURES, **blur)
        ffp = frame_errors(target, nxt, MEASURES, **blur)
        for m in MEASURES:
            parts[f"vcr_{m}"].append(vcr[m].mean(dim=1).cpu().numpy())
            parts[f"ffp_{m}"].append(ffp[m].cpu().numpy())
        parts["prp"].append(torch.softmax(logits, dim=1)[:, 1].cpu().numpy())
    centre, predicted = starts + L // 2, starts + L
    return {name: to_frames(np.concatenate(vals), predicted if name.startswith("ffp") else centre, n)
            for name, vals in parts.items()}


def score_luss(model: str, test_frame_paths: dict[str, str], out_scores: str, params: dict[str, Any],
               device: str = "auto") -> dict[str, dict[str, np.ndarray]]:
    """Score every test video with a trained LUSS-AE; write ``out_scores`` (rows in the module docstring)."""
    require_split(test_frame_paths, "test", out_scores)
    ckpt = load_checkpoint(model, METHOD)
    p = resolve(params, DEFAULTS, METHOD)
    trained = resolve(ckpt["params"], DEFAULTS, METHOD)
    if p["error"] not in MEASURES:
        raise ValueError(f"{METHOD}: error must be one of {list(MEASURES)}, got {p['error']!r}")
    rescale = rescaling(p["rescaling"])
    dev = torch_device(device)
    net = _build(trained)
    net.load_state_dict(ckpt["state"]["model"])
    net.to(dev).eval()
    size = parse_size(trained["size"])
    rows: dict[str, dict[str, np.ndarray]] = {}
    for video, path in progress(list(test_frame_paths.items()), desc=f"{METHOD}: score", unit="video"):
        comps = window_scores(net, FrameSource(path, size, gray=trained["gray"], preload=p["preload"]), p, dev)
        for name, values in comps.items():
            rows.setdefault(name, {})[video] = values
        for m in MEASURES:
            parts = {"vcr": comps[f"vcr_{m}"], "ffp": comps[f"ffp_{m}"], "prp": comps["prp"]}
            rows.setdefault(f"combined_{m}", {})[video] = combine(parts, p["weights"], rescale)
            if m == p["error"]:
                rows.setdefault("combined", {})[video] = rows[f"combined_{m}"][video]
                rows.setdefault("combined_minmax", {})[video] = combine(parts, p["weights"], minmax)
    save_rows(out_scores, rows, METHOD, p, model_params=trained)
    return rows
