"""Stage functions of the multi-level MemAE + flow-conditioned CVAE detector.

Training (two stages through the one training loop, :func:`vadlib.oneclass.train.fit`):

1. the multi-level MemAE (:mod:`vadlib.oneclass.memae`) learns to reconstruct ``L``-frame clips of the
   normal training videos (``memae_epochs``);
2. with the MemAE frozen, the CVAE (:mod:`vadlib.oneclass.cvae`) learns to predict frame ``s + L`` from
   the last ``history`` *reconstructed* frames of the clip ``s .. s + L - 1`` and the ``history`` flows
   ``s + L - history .. s + L - 1`` (``cvae_epochs``), as the staged training of the hybrid framework.

Flow is divided by the training flow scale (99.9th percentile of |u|, |v| over sampled training
flows), stored in the checkpoint. Adam, lr 1e-4.

Scoring. For each test window (a clip and its next frame) the components are: the reconstruction
error (MSE of the clip), the prediction error (MSE of the predicted frame) and the feature compactness
index (eq. 12). Reconstruction and compactness go to the clip's centre frame, prediction to the
predicted frame (:func:`vadlib.oneclass.score.to_frames`). As in the hybrid framework, each component
is standardised with the mean and standard deviation it has on training windows (computed once after
training, ``norm_windows`` of them, stored in the checkpoint), so no test statistics are used, and
``combined = w_r R + w_p P + w_c C``; defaults w_r = 1, w_p = 0.1 (the hybrid framework's weights) and
w_c = 1 (our choice: the index is the memory's own evidence, given the reconstruction's weight).

Rows: ``reconstruction``, ``prediction``, ``compactness``, ``combined``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from vadlib.data.manifest import require_split
from vadlib.oneclass.ae3d import check_geometry
from vadlib.oneclass.clips import (FlowSource, FrameSource, Windows, clip_indices, flow_scale, parse_size,
                                   window_starts)
from vadlib.oneclass.cvae import FlowCVAE, cvae_loss
from vadlib.oneclass.errors import mse
from vadlib.oneclass.memae import MultiLevelMemAE, memae_loss
from vadlib.oneclass.params import SHARED, resolve
from vadlib.oneclass.score import batches, save_rows, to_frames
from vadlib.oneclass.train import fit, load_checkpoint, save_checkpoint
from vadlib.runtime import progress, seed_everything, torch_device

METHOD = "memae_cvae"
COMPONENTS = ("reconstruction", "prediction", "compactness")

DEFAULTS: dict[str, Any] = {
    **SHARED,
    "gray": False,
    "lr": 1e-4,
    "memae_epochs": 80,
    "cvae_epochs": 80,
    "memory_levels": [2, 3],
    "slots": 10,
    "shrink_threshold": 0.1,
    "margin": 1.0,
    "lambda_compact": 0.1,
    "lambda_separate": 0.1,
    "history": 4,
    "cvae_widths": [64, 128, 128, 128],
    "latent": 64,
    "lambda_pred": 1.0,
    "lambda_kl": 1.0,
    "lambda_grad": 1.0,
    "norm_windows": 512,
    "weights": {"reconstruction": 1.0, "prediction": 0.1, "compactness": 1.0},
}


def _build(p: dict[str, Any]) -> tuple[MultiLevelMemAE, FlowCVAE]:
    channels = 1 if p["gray"] else 3
    memae = MultiLevelMemAE(channels, p["widths"], p["memory_levels"], p["slots"], p["shrink_threshold"], p["margin"])
    cvae = FlowCVAE(channels, p["history"], p["cvae_widths"], p["latent"])
    return memae, cvae


class _Data:
    """Frames and flows of a set of videos, cut into windows of a clip and its next frame."""

    def __init__(self, frame_paths, flow_paths, p, desc):
        if len(frame_paths) != len(flow_paths):
            raise ValueError(f"{METHOD}: {len(frame_paths)} frames stores but {len(flow_paths)} flow stores")
        size = parse_size(p["size"])
        self.frames, self.flows = [], []
        pairs = list(zip(frame_paths, flow_paths))
        for fp, op in (progress(pairs, desc=desc, unit="video") if desc else pairs):
            frames = FrameSource(fp, size, gray=p["gray"], preload=p["preload"])
            self.frames.append(frames)
            self.flows.append(FlowSource(op, size, preload=p["preload"], time=max(len(frames) - 1, 0)))
        self.L, self.h = p["clip_len"], p["history"]

    def batch(self, video: int, starts, scale: float, dev) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Clips ``[B, C, L, H, W]``, flows ``[B, h, 2, H, W]`` and next frames ``[B, C, H, W]``."""
        frames, flows = self.frames[video], self.flows[video]
        n, L, h = len(frames), self.L, self.h
        clips, fl = [], []
        for s in starts:
            clips.append(frames.clip(clip_indices(int(s), L + 1, n)))
            fl.append(flows.clip(np.clip(int(s) + L - h + np.arange(h), 0, max(len(flows) - 1, 0))))
        clips_t = torch.from_numpy(np.stack(clips)).to(dev)
        flows_t = torch.from_numpy(np.stack(fl)).to(dev).transpose(1, 2) / scale
        return clips_t[:, :, :L], flows_t, clips_t[:, :, L]

    def pairs_batch(self, pairs, scale, dev):
        parts = [self.batch(int(v), [s], scale, dev) for v, s in pairs]
        return tuple(torch.cat(t) for t in zip(*parts))


@torch.no_grad()
def _window_components(memae: MultiLevelMemAE, cvae: FlowCVAE, clips, flows, nxt) -> dict[str, np.ndarray]:
    out = memae(clips)
    recon = out.recon
    h = cvae.history
    pred, _ = cvae(recon[:, :, -h:].transpose(1, 2), flows, sample=False)
    return {"reconstruction": mse(clips.transpose(1, 2), recon.transpose(1, 2)).mean(dim=1).cpu().numpy(),
            "prediction": mse(nxt, pred).cpu().numpy(),
            "compactness": out.index.cpu().numpy()}


def train_memae_cvae(frame_paths: list[str], flow_paths: list[str], out_model: str, params: dict[str, Any],
                     device: str = "auto") -> dict[str, list]:
    """Train the MemAE then the CVAE on the normal training videos; write ``out_model`` (.pt + .json)."""
    p = resolve(params, DEFAULTS, METHOD)
    size = parse_size(p["size"])
    check_geometry(size, p["clip_len"])
    if len(p["cvae_widths"]) < 1 or any(s % 2 ** (len(p["cvae_widths"]) - 1) for s in size):
        raise ValueError(f"{METHOD}: size {list(size)} must be a multiple of 2**(len(cvae_widths) - 1)")
    if not 1 <= p["history"] <= p["clip_len"]:
        raise ValueError(f"{METHOD}: history must be in 1..clip_len, got {p['history']}")
    require_split(frame_paths, "training", out_model)
    rng = seed_everything(int(p["seed"]))
    dev = torch_device(device)
    data = _Data(frame_paths, flow_paths, p, f"{METHOD}: load")
    scale = flow_scale(data.flows, rng)
    windows = Windows([len(v) for v in data.frames], p["clip_len"] + 1, p["train_stride"])
    memae, cvae = _build(p)
    memae.to(dev)
    cvae.to(dev)
    start = time.perf_counter()

    def epoch(_: int):
        for pairs in windows.epoch(rng, p["batch"]):
            yield data.pairs_batch(pairs, scale, dev)

    opt = torch.optim.Adam(memae.parameters(), lr=p["lr"])
    hist_memae = fit(memae, lambda b: memae_loss(memae, b[0], p["lambda_compact"], p["lambda_separate"]),
                     opt, epoch, p["memae_epochs"], f"{METHOD} (MemAE)", windows.n_batches(p["batch"]))
    memae.eval()
    for param in memae.parameters():
        param.requires_grad_(False)

    def cvae_step(b):
        clips, flows, nxt = b
        with torch.no_grad():
            recon = memae(clips).recon
        return cvae_loss(cvae, recon[:, :, -p["history"]:].transpose(1, 2), flows, nxt,
                         p["lambda_pred"], p["lambda_kl"], p["lambda_grad"])

    opt = torch.optim.Adam(cvae.parameters(), lr=p["lr"])
    hist_cvae = fit(cvae, cvae_step, opt, epoch, p["cvae_epochs"], f"{METHOD} (CVAE)", windows.n_batches(p["batch"]))
    train_seconds = time.perf_counter() - start

    # training statistics of the score components (for their standardisation at test time)
    chosen = windows.pairs[rng.permutation(len(windows))[:p["norm_windows"]]]
    comps: dict[str, list] = {c: [] for c in COMPONENTS}
    for chunk in batches(chosen, p["batch"]):
        for name, values in _window_components(memae, cvae, *data.pairs_batch(chunk, scale, dev)).items():
            comps[name].append(values)
    stats = {c: {"mean": float(np.concatenate(v).mean()), "std": float(np.concatenate(v).std())}
             for c, v in comps.items()}
    history = {"memae": hist_memae, "cvae": hist_cvae}
    save_checkpoint(out_model, METHOD, {"memae": memae, "cvae": cvae}, p,
                    extra={"flow_scale": scale, "component_stats": stats, "train_seconds": train_seconds,
                           "train_windows": len(windows), "videos": len(data.frames)}, history=history)
    return history


def score_memae_cvae(model: str, test_frame_paths: dict[str, str], test_flow_paths: dict[str, str],
                     out_scores: str, params: dict[str, Any], device: str = "auto") -> dict[str, dict[str, np.ndarray]]:
    """Score every test video; write ``out_scores`` with rows reconstruction, prediction, compactness, combined."""
    require_split(test_frame_paths, "test", out_scores)
    ckpt = load_checkpoint(model, METHOD)
    p = resolve(params, DEFAULTS, METHOD)
    trained = resolve(ckpt["params"], DEFAULTS, METHOD)
    missing = sorted(set(test_frame_paths) - set(test_flow_paths))
    if missing:
        raise ValueError(f"{METHOD}: no flow store for test videos {missing}")
    unknown = sorted(set(p["weights"]) - set(COMPONENTS))
    if unknown:
        raise KeyError(f"{METHOD}: weights name unknown components {unknown}; known: {list(COMPONENTS)}")
    dev = torch_device(device)
    memae, cvae = _build(trained)
    memae.load_state_dict(ckpt["state"]["memae"])
    cvae.load_state_dict(ckpt["state"]["cvae"])
    memae.to(dev).eval()
    cvae.to(dev).eval()
    scale = float(ckpt["extra"]["flow_scale"])
    stats = ckpt["extra"]["component_stats"]
    L = trained["clip_len"]
    rows: dict[str, dict[str, np.ndarray]] = {c: {} for c in (*COMPONENTS, "combined")}
    videos = list(test_frame_paths)
    for video in progress(videos, desc=f"{METHOD}: score", unit="video"):
        data = _Data([test_frame_paths[video]], [test_flow_paths[video]], {**trained, "preload": p["preload"]}, desc=None)
        n = len(data.frames[0])
        starts = window_starts(n, L + 1, p["test_stride"])
        parts: dict[str, list] = {c: [] for c in COMPONENTS}
        for chunk in batches(starts, p["batch"]):
            for name, values in _window_components(memae, cvae, *data.batch(0, chunk, scale, dev)).items():
                parts[name].append(values)
        total = np.zeros(n, dtype=np.float64)
        for name in COMPONENTS:
            frames = to_frames(np.concatenate(parts[name]), starts + (L if name == "prediction" else L // 2), n)
            rows[name][video] = frames
            std = stats[name]["std"] if stats[name]["std"] > 0 else 1.0
            total += float(p["weights"].get(name, 0.0)) * (frames - stats[name]["mean"]) / std
        rows["combined"][video] = total.astype(np.float32)
    save_rows(out_scores, rows, METHOD, p, model_params=trained)
    return rows
