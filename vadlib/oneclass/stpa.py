"""Spatio-temporal pseudo-anomaly autoencoders with a semantic discriminator (after Video Anomaly
Detection via Spatio-Temporal Pseudo-Anomaly Generation: A Unified Approach, CVPR 2024 workshops).

Models
- spatial AE: MemAE's 3D convolutional autoencoder (:class:`vadlib.oneclass.ae3d.Conv3dAE`) on RGB
  clips of ``L`` frames in [-1, 1] (tanh output). With probability ``p_s = 0.4`` its input is the
  *inpainted* clip of the same frames (a spatial pseudo-anomaly); its target is always the normal clip:
  ``L_s = 1/(L C H W) |f_s(X~) - X|^2`` with X~ the pseudo-anomalous or the normal clip (eq. 4).
- temporal AE: the same autoencoder on ``L`` optical flows (2 channels, divided by the training flow
  scale, linear output), fed *mixup* flows (temporal pseudo-anomalies) with probability ``p_t = 0.5``,
  target the normal flow (eq. 5).
- discriminator: an MLP (2048 -> 512 -> 1) on semantic clip features, normal (0) vs spatial
  pseudo-anomaly (1), binary cross-entropy with the classes balanced, SGD lr 0.02, momentum 0.9,
  weight decay 1e-3. Substitution: the paper's features come from ViFi-CLIP, whose weights cannot be
  fetched here; we use the project's own I3D snippet features (``semantic_features: i3d``), those of
  the normal training videos and those of their inpainted versions. A snippet of an inpainted video is
  a pseudo-anomaly only if one of its frames has a masked pixel (masks store); every crop is a sample.
Both autoencoders use Adam with lr 1e-4.

Inference (test videos)
- spatial: for every window of ``L`` frames, the PSNR between the 9th frame (index ``L // 2``) and
  its reconstruction is given to that frame; per video, ``1 - minmax(PSNR)`` (PSNR-normalised
  reconstruction score, higher = more anomalous);
- temporal: the L2 norm of the error of the window's 9th flow (flow t goes from frame t to t + 1 and
  scores frame t), per video min-max normalised;
- discriminator: the probability of the pseudo-anomaly class of each snippet (crops averaged), given
  to its 16 frames by :func:`vadlib.snippets.snippets_to_frames`;
- ``combined = eta_s S + eta_t T + eta_d D`` and ``combined_nodisc = eta_s S + eta_t T``; the weights
  eta are per dataset (config), 1 / 1 / 1 by default.

Rows: ``spatial``, ``temporal``, ``discriminator``, ``combined``, ``combined_nodisc``.
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
from vadlib.oneclass.clips import (FlowSource, FrameSource, Windows, clip_indices, flow_scale, mask_flags,
                                   parse_size, window_starts)
from vadlib.oneclass.errors import l2_error, psnr
from vadlib.oneclass.params import SHARED, resolve
from vadlib.oneclass.rescalings import minmax
from vadlib.oneclass.score import batches, save_rows, to_frames
from vadlib.oneclass.train import fit, load_checkpoint, save_checkpoint
from vadlib.runtime import progress, seed_everything, torch_device
from vadlib.snippets import SNIPPET_LEN, snippets_to_frames
from vadlib.stores import StoreError, open_store

METHOD = "stpa"

DEFAULTS: dict[str, Any] = {
    **SHARED,
    "epochs": 60,
    "lr": 1e-4,
    "p_spatial": 0.4,
    "p_temporal": 0.5,
    "semantic_features": "i3d",
    "disc_hidden": 512,
    "disc_epochs": 30,
    "disc_batch": 128,
    "disc_lr": 0.02,
    "disc_momentum": 0.9,
    "disc_weight_decay": 1e-3,
    "eta": {"spatial": 1.0, "temporal": 1.0, "discriminator": 1.0},
}


class Discriminator(nn.Module):
    """MLP on a semantic feature: logit of the pseudo-anomaly class."""

    def __init__(self, dim: int = 2048, hidden: int = 512):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def pseudo_anomaly_loss(ae: Conv3dAE, normal: torch.Tensor, pseudo: torch.Tensor, use_pseudo: torch.Tensor
                        ) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 4 / 5: reconstruct the normal clip from the pseudo-anomalous one where ``use_pseudo``."""
    x = torch.where(use_pseudo.view(-1, 1, 1, 1, 1), pseudo, normal)
    loss = F.mse_loss(ae(x), normal)
    return loss, {"reconstruction": float(loss.detach()), "pseudo_fraction": float(use_pseudo.float().mean())}


def _build(p: dict[str, Any], feature_dim: int) -> tuple[Conv3dAE, Conv3dAE, Discriminator]:
    spatial = Conv3dAE(3, widths=p["widths"], out_act="tanh")
    temporal = Conv3dAE(2, widths=p["widths"], out_act=None)
    return spatial, temporal, Discriminator(feature_dim, p["disc_hidden"])


def _features(path: str) -> np.ndarray:
    """``[snippets, crops, dim]`` float32 of a features store (NaN or Inf fails naming it)."""
    return open_store(path, "features").read(finite=True).astype(np.float32)


def _pseudo_snippets(features: np.ndarray, flags: np.ndarray, path: str) -> np.ndarray:
    """Snippets (all crops, ``[k, dim]``) of an inpainted video that contain a masked frame."""
    n = len(flags)
    count = -(-n // SNIPPET_LEN)
    if len(features) > count:
        raise StoreError(f"{path}: axis 'snippet' has size {len(features)}, more than the {count} snippets "
                         f"of its {n} frames")
    keep = [i for i in range(len(features)) if flags[i * SNIPPET_LEN:(i + 1) * SNIPPET_LEN].any()]
    return features[keep].reshape(-1, features.shape[-1])


def _check_lengths(**lists: list) -> None:
    sizes = {k: len(v) for k, v in lists.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{METHOD}: the input lists differ in length: {sizes}")


def _train_ae(ae: Conv3dAE, normal, pseudo, scale: float, p_pseudo: float, name: str, p: dict[str, Any],
              rng: np.random.Generator, dev: torch.device) -> list[dict]:
    """Train one autoencoder (eq. 4 or 5) on windows of the ``normal`` sources (frames or flows, divided
    by ``scale``), fed the aligned ``pseudo`` window (inpainted frames or mixup flows) with probability
    ``p_pseudo``; Adam with lr ``p["lr"]``."""
    L = p["clip_len"]
    windows = Windows([len(src) for src in normal], L, p["train_stride"])

    def epoch(_: int):
        for pairs in windows.epoch(rng, p["batch"]):
            idx = [(int(v), clip_indices(int(s), L, len(normal[v]))) for v, s in pairs]
            clean = np.stack([normal[v].clip(ix) for v, ix in idx]) / scale
            fake = np.stack([pseudo[v].clip(ix) for v, ix in idx]) / scale
            use = rng.random(len(idx)) < p_pseudo
            yield (torch.from_numpy(clean).to(dev), torch.from_numpy(fake).to(dev), torch.from_numpy(use).to(dev))

    opt = torch.optim.Adam(ae.parameters(), lr=p["lr"])
    return fit(ae, lambda b: pseudo_anomaly_loss(ae, *b), opt, epoch, p["epochs"], f"{METHOD} ({name} AE)",
               windows.n_batches(p["batch"]))


def train_stpa(frame_paths: list[str], flow_paths: list[str], inpainted_paths: list[str], mask_paths: list[str],
               mixup_paths: list[str], feature_paths: list[str], inpainted_feature_paths: list[str],
               out_model: str, params: dict[str, Any], device: str = "auto") -> dict[str, list]:
    """Train the spatial AE, the temporal AE and the discriminator; write ``out_model`` (.pt + .json).

    The lists are aligned: entry i of each belongs to training video i (``feature_paths``: I3D features
    of its frames, ``inpainted_feature_paths``: I3D features of its inpainted frames)."""
    p = resolve(params, DEFAULTS, METHOD)
    _check_lengths(frames=frame_paths, flow=flow_paths, inpainted=inpainted_paths, masks=mask_paths,
                   mixup=mixup_paths, features=feature_paths, inpainted_features=inpainted_feature_paths)
    require_split(frame_paths, "training", out_model)
    size = parse_size(p["size"])
    L = p["clip_len"]
    check_geometry(size, L)
    rng = seed_everything(int(p["seed"]))
    dev = torch_device(device)

    frames, inpainted, flows, mixups, flags = [], [], [], [], []
    for i in progress(range(len(frame_paths)), desc=f"{METHOD}: load", unit="video"):
        f = FrameSource(frame_paths[i], size, gray=False, preload=p["preload"])
        n = len(f)
        frames.append(f)
        inpainted.append(FrameSource(inpainted_paths[i], size, gray=False, kind="inpainted", preload=p["preload"],
                                     time=n))
        flows.append(FlowSource(flow_paths[i], size, preload=p["preload"], time=n - 1))
        mixups.append(FlowSource(mixup_paths[i], size, preload=p["preload"], time=n - 1))
        flags.append(mask_flags(mask_paths[i], n))
    scale = flow_scale(flows, rng)
    normal_feats = np.concatenate([f.reshape(-1, f.shape[-1]) for f in map(_features, feature_paths)])
    pseudo_feats = np.concatenate([_pseudo_snippets(_features(path), flags[i], path)
                                   for i, path in enumerate(inpainted_feature_paths)])
    if len(pseudo_feats) == 0:
        raise ValueError(f"{METHOD}: no inpainted snippet has a masked frame: the discriminator has no "
                         f"pseudo-anomalies (masks: {mask_paths[0]} ...)")
    if pseudo_feats.shape[1] != normal_feats.shape[1]:
        raise StoreError(f"{inpainted_feature_paths[0]}: axis 'feature' has size {pseudo_feats.shape[1]}, "
                         f"expected {normal_feats.shape[1]} (as {feature_paths[0]})")
    spatial, temporal, disc = _build(p, normal_feats.shape[1])
    for m in (spatial, temporal, disc):
        m.to(dev)
    history: dict[str, list] = {}
    start = time.perf_counter()

    history["spatial"] = _train_ae(spatial, frames, inpainted, 1.0, p["p_spatial"], "spatial", p, rng, dev)
    history["temporal"] = _train_ae(temporal, flows, mixups, scale, p["p_temporal"], "temporal", p, rng, dev)

    # discriminator on semantic features
    x_all = torch.from_numpy(np.concatenate([normal_feats, pseudo_feats]))
    y_all = torch.cat([torch.zeros(len(normal_feats)), torch.ones(len(pseudo_feats))])
    pos_weight = torch.tensor(len(normal_feats) / len(pseudo_feats), device=dev)

    def disc_epoch(_: int):
        order = torch.from_numpy(rng.permutation(len(y_all)))
        for a in range(0, len(order), p["disc_batch"]):
            sel = order[a:a + p["disc_batch"]]
            yield x_all[sel].to(dev), y_all[sel].to(dev)

    def disc_step(b):
        loss = F.binary_cross_entropy_with_logits(disc(b[0]), b[1], pos_weight=pos_weight)
        return loss, {"bce": float(loss.detach())}

    opt = torch.optim.SGD(disc.parameters(), lr=p["disc_lr"], momentum=p["disc_momentum"],
                          weight_decay=p["disc_weight_decay"])
    history["discriminator"] = fit(disc, disc_step, opt, disc_epoch, p["disc_epochs"], f"{METHOD} (discriminator)",
                                   -(-len(y_all) // p["disc_batch"]))
    save_checkpoint(out_model, METHOD, {"spatial": spatial, "temporal": temporal, "discriminator": disc}, p,
                    extra={"flow_scale": scale, "feature_dim": int(normal_feats.shape[1]),
                           "semantic_features": p["semantic_features"],
                           "normal_snippets": len(normal_feats), "pseudo_snippets": len(pseudo_feats),
                           "train_seconds": time.perf_counter() - start, "videos": len(frames)},
                    history=history)
    return history


@torch.no_grad()
def _centre_scores(ae: Conv3dAE, source, n_items: int, L: int, stride: int, batch: int, dev, scale: float | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per window: PSNR (frames, ``scale`` None) or L2 error (flow) of the window's centre item,
    and the index of that item."""
    starts = window_starts(n_items, L, stride)
    values = []
    for chunk in batches(starts, batch):
        clips = np.stack([source.clip(clip_indices(int(s), L, n_items)) for s in chunk])
        x = torch.from_numpy(clips if scale is None else clips / scale).to(dev)
        centre_in = x[:, :, L // 2]
        centre_out = ae(x)[:, :, L // 2]
        err = psnr(centre_in, centre_out) if scale is None else l2_error(centre_in, centre_out)
        values.append(err.cpu().numpy())
    return np.concatenate(values), np.minimum(starts + L // 2, n_items - 1)


def score_stpa(model: str, test_frame_paths: dict[str, str], test_flow_paths: dict[str, str],
               test_feature_paths: dict[str, str], out_scores: str, params: dict[str, Any],
               device: str = "auto") -> dict[str, dict[str, np.ndarray]]:
    """Score every test video; write ``out_scores`` (rows in the module docstring)."""
    require_split(test_frame_paths, "test", out_scores)
    ckpt = load_checkpoint(model, METHOD)
    p = resolve(params, DEFAULTS, METHOD)
    trained = resolve(ckpt["params"], DEFAULTS, METHOD)
    for name, paths in (("flow", test_flow_paths), ("features", test_feature_paths)):
        missing = sorted(set(test_frame_paths) - set(paths))
        if missing:
            raise ValueError(f"{METHOD}: no {name} store for test videos {missing}")
    dev = torch_device(device)
    extra = ckpt["extra"]
    spatial, temporal, disc = _build(trained, int(extra["feature_dim"]))
    for net, key in ((spatial, "spatial"), (temporal, "temporal"), (disc, "discriminator")):
        net.load_state_dict(ckpt["state"][key])
        net.to(dev).eval()
    size, L, scale = parse_size(trained["size"]), trained["clip_len"], float(extra["flow_scale"])
    eta = p["eta"]
    rows: dict[str, dict[str, np.ndarray]] = {r: {} for r in
                                              ("spatial", "temporal", "discriminator", "combined", "combined_nodisc")}
    for video in progress(list(test_frame_paths), desc=f"{METHOD}: score", unit="video"):
        frames = FrameSource(test_frame_paths[video], size, gray=False, preload=p["preload"])
        n = len(frames)
        flow = FlowSource(test_flow_paths[video], size, preload=p["preload"], time=n - 1)
        value, at = _centre_scores(spatial, frames, n, L, p["test_stride"], p["batch"], dev, None)
        s = 1.0 - minmax(to_frames(value, at, n))
        if len(flow):
            value, at = _centre_scores(temporal, flow, len(flow), L, p["test_stride"], p["batch"], dev, scale)
            t = minmax(to_frames(value, at, n))
        else:
            t = np.zeros(n, dtype=np.float32)
        feats = open_store(test_feature_paths[video], "features", feature=int(extra["feature_dim"])).read(finite=True)
        with torch.no_grad():
            prob = torch.sigmoid(disc(torch.from_numpy(feats.astype(np.float32)).to(dev))).mean(dim=1)
        d = snippets_to_frames(prob.cpu().numpy(), n)
        rows["spatial"][video], rows["temporal"][video], rows["discriminator"][video] = s, t, d
        nodisc = eta["spatial"] * s + eta["temporal"] * t
        rows["combined_nodisc"][video] = nodisc.astype(np.float32)
        rows["combined"][video] = (nodisc + eta["discriminator"] * d).astype(np.float32)
    save_rows(out_scores, rows, METHOD, p, model_params=trained)
    return rows
