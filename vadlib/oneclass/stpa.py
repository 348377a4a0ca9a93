"""Spatio-temporal pseudo-anomaly autoencoders with a semantic discriminator (Rai et al., Video Anomaly
Detection via Spatio-Temporal Pseudo-Anomaly Generation: A Unified Approach, CVPR 2024 workshops).
Equation numbers are the paper's; docs/methods/stpa.md sets every equation and setting beside the code.

Models (sec. 3.4, 3.5, 4.1)
- spatial AE ``A^s``: MemAE's 3D convolutional autoencoder (:class:`vadlib.oneclass.ae3d.Conv3dAE`) on
  RGB clips of T = 16 frames in [-1, 1] (tanh output), 256 x 256. With probability ``p_s = 0.4`` its
  input is the *inpainted* clip of the same frames (a spatial pseudo-anomaly); its target is always the
  normal clip: eq. 4, ``L = ||A^s(I) - x||_2^2 / (T C H W)`` with I the pseudo-anomalous or the normal clip.
- temporal AE ``A^t``: the same autoencoder on T optical flows (2 channels, divided by the training flow
  scale, linear output), fed *mixup* flows (temporal pseudo-anomalies) with probability ``p_t = 0.5``,
  target the normal flow (eq. 5).
- discriminator ``D``: an MLP (feature -> 512 -> 1, ReLU) on semantic features, normal (label 0) vs
  spatial pseudo-anomaly (label 1), binary cross-entropy, SGD lr 0.02, momentum 0.9, weight decay
  1e-3, batch 16, 20 epochs. The paper's architecture is in its supplement (Table 1), which we do not
  have: one hidden layer of 512 is our choice. Substitution: the paper's features are 512-d ViFi-CLIP
  frame features, whose weights cannot be fetched here; we use the project's own I3D snippet features
  (``semantic_features: i3d``, 2048-d), those of the normal training videos and those of their inpainted
  versions. A snippet of an inpainted video is a pseudo-anomaly only if one of its frames has a masked
  pixel (masks store); every crop is a sample. The features are standardised per dimension with the
  mean and standard deviation of the discriminator's training features (stored with its weights, applied
  at test time). I3D features are an average pool of ReLU outputs, non-negative and far from unit
  scale (those of the untrained I3D on Ped2 frames: mean 1.6, L2 norm 79), and on them the paper's SGD
  step (lr 0.02, momentum 0.9) kills the hidden layer within the first updates (every ReLU negative on
  every input), after which D gives one constant, the sigmoid of its last bias, to every frame. The
  paper does not say how its features are scaled.
  The loss has no class weighting (the paper names a plain binary classification).
Both autoencoders use Adam with lr 1e-4, batch 24, 25 epochs.

Inference (sec. 4.2, test videos)
- spatial ``w_1``: for every window of T frames (every frame, ``test_stride`` 1, as the published code
  of LNTRA that the paper follows), the PSNR between the 9th frame (index ``T // 2``) and its
  reconstruction is given to that frame; per video ``w_1 = 1 - minmax(PSNR)``, the "normalised PSNR"
  of the works it follows (MNAD, LNTRA), turned so that higher is more anomalous;
- temporal ``w_2``: the "normalised L2 loss" of the window's 9th flow: its eq. 5 loss,
  ``||A^t(phi) - phi||_2^2 / (C H W)`` (flow t goes from frame t to t + 1 and scores frame t), min-max
  normalised per video;
- semantic ``w_3``: the probability of the pseudo-anomaly class of each 16-frame snippet (crops
  averaged), given to its 16 frames by :func:`vadlib.snippets.snippets_to_frames`; the paper gives it
  without normalisation, and so do we;
- eq. 6: ``combined = eta_1 w_1 + eta_2 w_2 + eta_3 w_3`` and ``combined_nodisc = eta_1 w_1 + eta_2 w_2``;
  the weights eta are per dataset ("tuned for every dataset", values in the supplement), 1 / 1 / 1 by
  default.

A collapsed discriminator is reported: when its probabilities over all the test frames span less than
:data:`COLLAPSE_RANGE` (max - min), scoring warns and the scores file's meta carries a note on the
``discriminator`` and ``combined`` rows (``meta["notes"]``); training records the same check on its
training features (checkpoint ``extra``). A discriminator on features of an extractor without
pretrained weights is noted as such.

Rows: ``spatial``, ``temporal``, ``discriminator``, ``combined``, ``combined_nodisc``.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vadlib.data.manifest import require_split
from vadlib.oneclass.ae3d import Conv3dAE, check_geometry
from vadlib.oneclass.clips import (
    FlowSource,
    FrameSource,
    Windows,
    clip_indices,
    flow_scale,
    mask_flags,
    parse_size,
    window_starts,
)
from vadlib.oneclass.errors import mean_squared, psnr
from vadlib.oneclass.params import SHARED, resolve
from vadlib.oneclass.rescalings import minmax
from vadlib.oneclass.score import batches, save_rows, to_frames
from vadlib.oneclass.train import PROTOCOL, fit, load_checkpoint, save_checkpoint
from vadlib.runtime import progress, seed_everything, torch_device
from vadlib.snippets import SNIPPET_LEN, snippets_to_frames
from vadlib.stores import StoreError, open_store

METHOD = "stpa"

#: A discriminator whose probabilities span less than this (max - min) over every test frame (or every
#: training feature) is reported as collapsed: its output does not depend on its input.
COLLAPSE_RANGE = 1e-3

DEFAULTS: dict[str, Any] = {
    **SHARED,
    "epochs": 25,
    "batch": 24,
    "lr": 1e-4,
    "p_spatial": 0.4,
    "p_temporal": 0.5,
    "semantic_features": "i3d",
    "disc_hidden": 512,
    "disc_epochs": 20,
    "disc_batch": 16,
    "disc_lr": 0.02,
    "disc_momentum": 0.9,
    "disc_weight_decay": 1e-3,
    "eta": {"spatial": 1.0, "temporal": 1.0, "discriminator": 1.0},
}


class Discriminator(nn.Module):
    """MLP on a semantic feature, standardised first: logit of the pseudo-anomaly class.

    ``mean`` and ``std`` (buffers, saved with the weights) standardise the input per dimension; they are
    0 and 1 until :meth:`fit_standardisation` sets them from the training features."""

    def __init__(self, dim: int = 2048, hidden: int = 512):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit_standardisation(self, features: torch.Tensor) -> None:
        """Per-dimension mean and standard deviation of ``features [N, dim]``; a dimension whose
        deviation is below 1e-3 of the mean deviation (constant over the training set) keeps that floor,
        so it cannot blow up at test time."""
        features = features.double()
        std = features.std(dim=0, unbiased=False)
        floor = max(1e-3 * float(std.mean()), 1e-12)
        self.mean.copy_(features.mean(dim=0).to(self.mean))
        self.std.copy_(std.clamp_min(floor).to(self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std).squeeze(-1)


def spread(values: np.ndarray) -> float:
    """``max - min`` of a set of probabilities (0 for an empty set)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return float(values.max() - values.min()) if values.size else 0.0


def collapse_note(values: np.ndarray, where: str, threshold: float = COLLAPSE_RANGE) -> str:
    """A note when the discriminator's probabilities ``values`` span less than ``threshold``, else ""."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    width = spread(values)
    if width >= threshold:
        return ""
    return (f"collapsed discriminator: its probability is {float(values.mean()):.4f} on every {where} "
            f"(max - min {width:.1e} < {threshold:g}); it does not depend on its input")


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

    history["discriminator"], check = train_discriminator(disc, normal_feats, pseudo_feats, p, rng, dev)
    pretrained = _features_pretrained(feature_paths + inpainted_feature_paths)
    save_checkpoint(out_model, {"spatial": spatial, "temporal": temporal, "discriminator": disc}, method=METHOD,
                    protocol=PROTOCOL, params=p, pretrained=False,
                    extra={"flow_scale": scale, "feature_dim": int(normal_feats.shape[1]),
                           "semantic_features": p["semantic_features"], "semantic_features_pretrained": pretrained,
                           "normal_snippets": len(normal_feats), "pseudo_snippets": len(pseudo_feats),
                           **check, "train_seconds": time.perf_counter() - start, "videos": len(frames)},
                    history=history)
    return history


def train_discriminator(disc: Discriminator, normal_feats: np.ndarray, pseudo_feats: np.ndarray, p: dict[str, Any],
                        rng: np.random.Generator, dev: torch.device) -> tuple[list[dict], dict[str, Any]]:
    """Train ``D`` on normal (label 0) and pseudo-anomalous (label 1) features ``[N, dim]``: standardisation
    fitted on all of them, binary cross-entropy, SGD (``disc_lr``, ``disc_momentum``,
    ``disc_weight_decay``), ``disc_batch``, ``disc_epochs``. Returns the history and a check of the
    trained ``D`` on its training features (accuracy at 0.5, the spread of its probabilities and, when
    they collapse, a note; a warning then too)."""
    x_all = torch.from_numpy(np.concatenate([normal_feats, pseudo_feats]).astype(np.float32))
    y_all = torch.cat([torch.zeros(len(normal_feats)), torch.ones(len(pseudo_feats))])
    disc.fit_standardisation(x_all.to(dev))

    def disc_epoch(_: int):
        order = torch.from_numpy(rng.permutation(len(y_all)))
        for a in range(0, len(order), p["disc_batch"]):
            sel = order[a:a + p["disc_batch"]]
            yield x_all[sel].to(dev), y_all[sel].to(dev)

    def disc_step(b):
        loss = F.binary_cross_entropy_with_logits(disc(b[0]), b[1])
        return loss, {"bce": float(loss.detach())}

    opt = torch.optim.SGD(disc.parameters(), lr=p["disc_lr"], momentum=p["disc_momentum"],
                          weight_decay=p["disc_weight_decay"])
    history = fit(disc, disc_step, opt, disc_epoch, p["disc_epochs"], f"{METHOD} (discriminator)",
                  -(-len(y_all) // p["disc_batch"]))
    with torch.no_grad():
        prob = torch.cat([torch.sigmoid(disc(x_all[a:a + 4096].to(dev))).cpu()
                          for a in range(0, len(x_all), 4096)]).numpy()
    note = collapse_note(prob, "training feature")
    if note:
        warnings.warn(f"{METHOD}: {note}", RuntimeWarning, stacklevel=2)
    check = {"discriminator_train_accuracy": float(((prob > 0.5) == y_all.numpy().astype(bool)).mean()),
             "discriminator_train_spread": spread(prob), "discriminator_train_note": note}
    return history, check


def _features_pretrained(paths: list[str]) -> bool:
    """Whether every features store was made by an extractor with pretrained weights (attr ``pretrained``)."""
    return all(bool(open_store(path, "features").attrs.get("pretrained")) for path in paths)


@torch.no_grad()
def ninth_item_scores(ae: nn.Module, source, n_items: int, L: int, stride: int, batch: int, dev,
                      scale: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per window of ``L`` items: the PSNR (frames, ``scale`` None) or the mean squared error (flows,
    divided by ``scale``) of the window's 9th item (index ``L // 2``) and its reconstruction, and the
    index of that item."""
    starts = window_starts(n_items, L, stride)
    values = []
    for chunk in batches(starts, batch):
        clips = np.stack([source.clip(clip_indices(int(s), L, n_items)) for s in chunk])
        x = torch.from_numpy(clips if scale is None else clips / scale).to(dev)
        centre_in = x[:, :, L // 2]
        centre_out = ae(x)[:, :, L // 2]
        err = psnr(centre_in, centre_out) if scale is None else mean_squared(centre_in, centre_out)
        values.append(err.cpu().numpy())
    return np.concatenate(values), np.minimum(starts + L // 2, n_items - 1)


@torch.no_grad()
def semantic_probabilities(disc: Discriminator, features: np.ndarray, dev) -> np.ndarray:
    """``[snippets]``: the pseudo-anomaly probability of each snippet, its crops averaged."""
    prob = torch.sigmoid(disc(torch.from_numpy(np.asarray(features, dtype=np.float32)).to(dev)))
    return prob.mean(dim=1).cpu().numpy()


def video_scores(spatial: nn.Module, temporal: nn.Module, disc: Discriminator, frames, flow, features: np.ndarray,
                 L: int, stride: int, batch: int, dev, scale: float) -> dict[str, np.ndarray]:
    """``w_1``, ``w_2`` and ``w_3`` of one test video, one value per frame (see the module docstring)."""
    n = len(frames)
    value, at = ninth_item_scores(spatial, frames, n, L, stride, batch, dev, None)
    w1 = 1.0 - minmax(to_frames(value, at, n))
    if len(flow):
        value, at = ninth_item_scores(temporal, flow, len(flow), L, stride, batch, dev, scale)
        w2 = minmax(to_frames(value, at, n))
    else:
        w2 = np.zeros(n, dtype=np.float32)
    w3 = snippets_to_frames(semantic_probabilities(disc, features, dev), n)
    return {"spatial": w1.astype(np.float32), "temporal": w2.astype(np.float32), "discriminator": w3}


def aggregate(parts: dict[str, np.ndarray], eta: dict[str, float]) -> dict[str, np.ndarray]:
    """Eq. 6: ``combined = eta_1 w_1 + eta_2 w_2 + eta_3 w_3`` and ``combined_nodisc`` (eta_3 = 0)."""
    nodisc = eta["spatial"] * parts["spatial"].astype(np.float64) + eta["temporal"] * parts["temporal"]
    combined = nodisc + eta["discriminator"] * parts["discriminator"].astype(np.float64)
    return {"combined": combined.astype(np.float32), "combined_nodisc": nodisc.astype(np.float32)}


def score_stpa(model: str, test_frame_paths: dict[str, str], test_flow_paths: dict[str, str],
               test_feature_paths: dict[str, str], out_scores: str, params: dict[str, Any],
               device: str = "auto") -> dict[str, dict[str, np.ndarray]]:
    """Score every test video; write ``out_scores`` (rows and notes in the module docstring)."""
    require_split(test_frame_paths, "test", out_scores)
    ckpt = load_checkpoint(model, METHOD, PROTOCOL)
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
        net.load_state_dict(ckpt["state_dicts"][key])
        net.to(dev).eval()
    size, L, scale = parse_size(trained["size"]), trained["clip_len"], float(extra["flow_scale"])
    rows: dict[str, dict[str, np.ndarray]] = {r: {} for r in
                                              ("spatial", "temporal", "discriminator", "combined", "combined_nodisc")}
    for video in progress(list(test_frame_paths), desc=f"{METHOD}: score", unit="video"):
        frames = FrameSource(test_frame_paths[video], size, gray=False, preload=p["preload"])
        n = len(frames)
        flow = FlowSource(test_flow_paths[video], size, preload=p["preload"], time=n - 1)
        feats = open_store(test_feature_paths[video], "features", feature=int(extra["feature_dim"])).read(finite=True)
        parts = video_scores(spatial, temporal, disc, frames, flow, feats, L, p["test_stride"], p["batch"], dev, scale)
        for name, values in {**parts, **aggregate(parts, p["eta"])}.items():
            rows[name][video] = values
    notes = discriminator_notes(rows["discriminator"], extra)
    save_rows(out_scores, rows, METHOD, p, model_params=trained, notes=notes,
              extra={"score_frame": "9th frame of each 16-frame window; snippet probability to its 16 frames",
                     "normalisation": {"spatial": "1 - minmax(PSNR) per video", "temporal": "minmax per video",
                                       "discriminator": "none (a probability)",
                                       "combined": "eq. 6 weighted sum", "combined_nodisc": "eq. 6 with eta_3 = 0"},
                     "discriminator_test_spread": spread(np.concatenate(list(rows["discriminator"].values())))})
    return rows


def discriminator_notes(per_video: dict[str, np.ndarray], extra: dict[str, Any]) -> dict[str, str]:
    """Notes of the ``discriminator`` and ``combined`` rows: a collapsed discriminator (its probabilities
    over every test frame span less than :data:`COLLAPSE_RANGE`; a warning too) and features of an
    extractor without pretrained weights."""
    values = np.concatenate([np.asarray(v, dtype=np.float64) for v in per_video.values()])
    parts = []
    collapsed = collapse_note(values, "test frame")
    if collapsed:
        warnings.warn(f"{METHOD}: {collapsed}", RuntimeWarning, stacklevel=2)
        parts.append(collapsed)
    if extra.get("semantic_features_pretrained") is False:
        parts.append(f"semantic features from {extra.get('semantic_features', 'an extractor')} without "
                     f"pretrained weights")
    notes = {"discriminator": "; ".join(parts)} if parts else {}
    if collapsed:
        notes["combined"] = ("its discriminator term is one constant (collapsed discriminator): it ranks the "
                             "frames as combined_nodisc")
    return notes
