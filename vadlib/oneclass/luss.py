"""LUSS-AE (Lohani et al., Leveraging Unsupervised and Self-Supervised Learning for Video Anomaly
Detection, VISAPP 2023): one 3D autoencoder trained jointly on three tasks. Equation numbers are the
paper's; docs/methods/luss.md sets every equation and setting beside the code.

Model (sec. 3.1, 4.3). MemAE's 3D convolutional autoencoder (:class:`vadlib.oneclass.ae3d.Conv3dAE`) on
clips of ``T`` grayscale frames in [-1, 1] (T = 16, 256 x 256), with two heads:

- VCR: ``X^_VCR = tanh(Dec(Enc(X_VCR)))``;
- FFP: ``X^_FFP = H_FFP(Dec(Enc(X_VCR)))``, ``H_FFP`` "a single 2D convolution, followed by a tanh"
  over the decoder's output (before the tanh), its T frames stacked as channels. Kernel size (the
  paper is silent): 3 x 3;
- PRP: ``y^ = softmax(H_PRP(Enc(X_PRP)))``, ``H_PRP`` "a series of 3D pooling, 2D convolution and
  pooling and fully connected layers" on the encoder's bottleneck. The paper gives the layer kinds and
  the head's size (Table 6: 6.12 M parameters against the autoencoder's 5.98 M, about 0.14 M for the
  heads); the widths are those of the published code, which make exactly that size: 3D max pooling to
  ``1 x 8 x 8`` (a 2 x 2 x 2 max pooling of the bottleneck ``[256, 2, 16, 16]`` of a 16-frame
  256 x 256 clip), a 3 x 3 convolution to 32 channels, 2 x 2 max pooling (``[32, 4, 4]``, 512 values),
  fully connected 512 -> 128 -> 32 (ReLU) -> 2. The two poolings are adaptive (to ``1 x 8 x 8`` and ``4 x 4``), so the
  head keeps its size at the small resolutions of the demo and the tests.

Training (sec. 3.1, 4.3). Each sample is two clips drawn independently (Fig. 1: "another window"):
``V_{T+1,1}``, T + 1 consecutive frames of a training window, whose first T frames are ``X_VCR`` and
whose last is ``X_FFP = I_{T+1}`` (eq. 2); and ``X_PRP`` (eq. 5), T frames of another window (a
second shuffled pass over the windows, as the published code's second data loader), at the normal rate
(class 1, label 0 here) or, with probability 0.5, accelerated (class 2, label 1) with a stride ``s``
drawn uniformly from {2, 3, 4, 5} (:func:`vadlib.oneclass.clips.playback_clip`). The paper says "for
each batch of accelerated playback rate, the value of s is chosen randomly"; we draw it per clip, as
the published code does. The loss is eq. 7, ``L = 0.6 L_VCR + 0.4 L_FFP + 1.0 L_PRP`` with eq. 3 and 4
the mean squared errors over the clip and of frame T + 1 and eq. 6 the cross-entropy of the
playback-rate label. Adam, lr 1e-4, batch 16; 60 epochs (the paper is silent; the published code's
default).

Scoring (sec. 3.2.2). Every test window of T + 1 frames (every frame, ``test_stride`` 1) is one
``V_{T+1,1}``: its first T frames go through the model and all three scores belong to **frame T + 1**
of the window (``start + T``):

- VCR (eq. 12): the mean over the T frames of ``E(I^_t, I_t)``;
- FFP (eq. 13): ``E(I^_{T+1}, I_{T+1})``;
- PRP (eq. 14): ``y^[2]``, the probability of the accelerated class;

with ``E`` each of MSE, PSE and BPE (:mod:`vadlib.oneclass.errors`). The first T frames of a video
have no window ending on them; they take the score of frame T + 1 (edge padding,
:func:`vadlib.oneclass.score.to_frames`); the published code leaves them out of the AUC.

Rescaling (eq. 16). Every row, components included, is rescaled per video with the robust rescaling
``(A - med) / iqr_{1-99}`` (:mod:`vadlib.oneclass.rescalings`), so that a component row reads as the
paper's single-task rows (Tables 3 and 4). The combined score (eq. 15) is ``a_VCR r(A_VCR) + a_FFP
r(A_FFP) + a_PRP r(A_PRP)``: the paper writes eq. 16 for "the anomaly score", and the published code
rescales each component before the weighted sum (without it the weights would act on scores of
different units); it rescales PRP by min-max, where the paper names only the robust rescaling, which
we follow for all three. ``combined_minmax`` is the same sum with min-max (Table 5's "Min-Max" row).
Weights per dataset (VCR / FFP / PRP, sec. 4.3): Ped2 0.1 / 0.8 / 1 (the default), Avenue 0.1 / 1 /
0.1, ShanghaiTech 0.2 / 0.2 / 0.9.

Rows written: ``vcr_{mse,pse,bpe}``, ``ffp_{mse,pse,bpe}``, ``prp`` (each rescaled per video),
``combined_{mse,pse,bpe}`` (eq. 15 with that measure), ``combined`` (the measure ``error``, BPE by
default) and ``combined_minmax``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
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
from vadlib.oneclass.train import PROTOCOL, fit, load_checkpoint, save_checkpoint
from vadlib.runtime import progress, seed_everything, torch_device

METHOD = "luss"
MEASURES = ("mse", "pse", "bpe")
COMPONENTS = ("vcr", "ffp", "prp")

# H_PRP's layers (the published code's widths; see the module docstring)
PRP_GRID = (1, 8, 8)     # 3D pooling output (time, height, width)
PRP_CONV = 32            # channels of the 2D convolution
PRP_POOLED = 4           # 2D pooling output (4 x 4)
PRP_FC = (128, 32)       # hidden widths of the fully connected layers

DEFAULTS: dict[str, Any] = {
    **SHARED,
    "epochs": 60,
    "lr": 1e-4,
    "gray": True,
    "loss_weights": {"vcr": 0.6, "ffp": 0.4, "prp": 1.0},
    "strides": [2, 3, 4, 5],
    "p_accelerated": 0.5,
    "error": "bpe",
    "blur_size": 5,
    "blur_sigma": 1.0,
    "pool_stride": 2,
    "weights": {"vcr": 0.1, "ffp": 0.8, "prp": 1.0},
    "rescaling": "robust",
}


class PlaybackHead(nn.Module):
    """H_PRP: 3D max pooling, a 2D convolution, 2D max pooling and three fully connected layers."""

    def __init__(self, channels: int):
        super().__init__()
        self.pool3d = nn.AdaptiveMaxPool3d(PRP_GRID)
        self.conv = nn.Conv2d(channels, PRP_CONV, 3, padding=1)
        self.pool2d = nn.AdaptiveMaxPool2d(PRP_POOLED)
        dims = (PRP_CONV * PRP_POOLED ** 2, *PRP_FC)
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        self.fc = nn.Sequential(*layers, nn.Linear(dims[-1], 2))

    def forward(self, bottleneck: torch.Tensor) -> torch.Tensor:
        x = self.pool3d(bottleneck)[:, :, 0]
        return self.fc(self.pool2d(self.conv(x)).flatten(1))


class LUSSAE(nn.Module):
    """The 3D autoencoder with its future-frame and playback-rate heads (see the module docstring)."""

    def __init__(self, clip_len: int = 16, widths=(96, 128, 256, 256), channels: int = 1):
        super().__init__()
        self.clip_len, self.channels = clip_len, channels
        self.ae = Conv3dAE(channels, widths=widths, out_act="tanh")
        self.ffp = nn.Conv2d(clip_len * channels, channels, 3, padding=1)
        self.prp = PlaybackHead(self.ae.widths[3])

    def reconstruct_predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """VCR and FFP of ``x [B, C, T, H, W]``: reconstruction ``[B, C, T, H, W]``, next frame ``[B, C, H, W]``."""
        raw = self.ae.decode(self.ae.encode(x), activate=False)
        return torch.tanh(raw), torch.tanh(self.ffp(raw.transpose(1, 2).flatten(1, 2)))

    def playback_logits(self, x: torch.Tensor) -> torch.Tensor:
        """PRP of ``x [B, C, T, H, W]``: logits ``[B, 2]`` (normal rate, accelerated)."""
        return self.prp(self.ae.encode(x)[3])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All three tasks on the same clip (as at test time): reconstruction, next frame, PRP logits."""
        feats = self.ae.encode(x)
        raw = self.ae.decode(feats, activate=False)
        return torch.tanh(raw), torch.tanh(self.ffp(raw.transpose(1, 2).flatten(1, 2))), self.prp(feats[3])


def luss_loss(model: LUSSAE, clips: torch.Tensor, labels: torch.Tensor, weights: dict[str, float],
              prp_clips: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 7, ``w_vcr L_VCR + w_ffp L_FFP + w_prp L_PRP``.

    Training passes the paper's two clips per sample: ``clips [B, C, T+1, H, W]``, normal-rate windows
    ``V_{T+1,1}`` (eq. 2) for VCR (eq. 3, first T frames) and FFP (eq. 4, frame T + 1), and
    ``prp_clips [B, C, T, H, W]`` with their playback labels ``labels [B]`` (1: accelerated) for PRP
    (eq. 6).
    """
    x, target = clips[:, :, :-1], clips[:, :, -1]
    recon, nxt = model.reconstruct_predict(x)
    vcr, ffp = F.mse_loss(recon, x), F.mse_loss(nxt, target)
    logits = model.playback_logits(prp_clips)
    prp = F.cross_entropy(logits, labels)
    loss = weights["vcr"] * vcr + weights["ffp"] * ffp + weights["prp"] * prp
    return loss, {"vcr": float(vcr.detach()), "ffp": float(ffp.detach()), "prp": float(prp.detach())}


def training_clips(rng: np.random.Generator, lengths: Sequence[int], vcr_pairs: np.ndarray, prp_pairs: np.ndarray,
                   clip_len: int, strides: Sequence[int], p_accelerated: float
                   ) -> tuple[list[tuple[int, np.ndarray]], list[tuple[int, np.ndarray]], list[int]]:
    """The two clips of every sample of a batch (see the module docstring).

    ``vcr_pairs`` and ``prp_pairs`` are ``[B, 2]`` (video, start) windows, drawn independently. Returns
    the VCR / FFP clips ``(video, T + 1 consecutive indices)``, the PRP clips ``(video, T indices at the
    normal or an accelerated rate)`` and the PRP labels (1: accelerated)."""
    if len(vcr_pairs) != len(prp_pairs):
        raise ValueError(f"need one PRP window per sample, got {len(prp_pairs)} for {len(vcr_pairs)}")
    vcr, prp, labels = [], [], []
    for (v, s), (u, r) in zip(vcr_pairs, prp_pairs):
        vcr.append((int(v), clip_indices(int(s), clip_len + 1, int(lengths[v]))))
        idx, label = playback_clip(rng, int(lengths[u]), int(r), clip_len, strides, p_accelerated)
        prp.append((int(u), idx))
        labels.append(label)
    return vcr, prp, labels


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
    lengths = [len(v) for v in videos]
    windows = Windows(lengths, L + 1, p["train_stride"])
    model = _build(p).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=p["lr"])

    def epoch(_: int):
        # two shuffled passes over the windows: one gives each sample its VCR / FFP window, the other
        # (drawn independently) its PRP window
        for vcr_pairs, prp_pairs in zip(windows.epoch(rng, p["batch"]), windows.epoch(rng, p["batch"])):
            vcr, prp, labels = training_clips(rng, lengths, vcr_pairs, prp_pairs, L, p["strides"],
                                              p["p_accelerated"])
            yield (torch.from_numpy(np.stack([videos[v].clip(ix) for v, ix in vcr])).to(dev),
                   torch.from_numpy(np.stack([videos[v].clip(ix) for v, ix in prp])).to(dev),
                   torch.tensor(labels, device=dev))

    start = time.perf_counter()
    history = fit(model, lambda b: luss_loss(model, b[0], b[2], p["loss_weights"], prp_clips=b[1]),
                  optimizer, epoch, p["epochs"], METHOD, windows.n_batches(p["batch"]))
    save_checkpoint(out_model, {"model": model}, method=METHOD, protocol=PROTOCOL, params=p, pretrained=False,
                    extra={"train_seconds": time.perf_counter() - start, "train_windows": len(windows),
                           "videos": len(videos)}, history={"train": history})
    return history


@torch.no_grad()
def window_scores(model: LUSSAE, video: FrameSource, p: dict[str, Any], dev: torch.device) -> dict[str, np.ndarray]:
    """Raw frame scores (eq. 12-14, before rescaling) of every component for one video: each window of
    T + 1 frames gives its three scores to its frame T + 1 (see the module docstring)."""
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
    frame = starts + L                                    # frame T + 1 of every window (0-based)
    return {name: to_frames(np.concatenate(vals), frame, n) for name, vals in parts.items()}


def video_rows(comps: dict[str, np.ndarray], weights: dict[str, float], error: str, rescale
               ) -> dict[str, np.ndarray]:
    """Every row of one video from its raw component scores: the components rescaled (eq. 16) and the
    combined scores (eq. 15) for each measure, for ``error`` and with min-max."""
    rows = {name: rescale(values) for name, values in comps.items()}
    for m in MEASURES:
        parts = {"vcr": comps[f"vcr_{m}"], "ffp": comps[f"ffp_{m}"], "prp": comps["prp"]}
        rows[f"combined_{m}"] = combine(parts, weights, rescale)
        if m == error:
            rows["combined"] = rows[f"combined_{m}"]
            rows["combined_minmax"] = combine(parts, weights, minmax)
    return rows


def score_luss(model: str, test_frame_paths: dict[str, str], out_scores: str, params: dict[str, Any],
               device: str = "auto") -> dict[str, dict[str, np.ndarray]]:
    """Score every test video with a trained LUSS-AE; write ``out_scores`` (rows in the module docstring)."""
    require_split(test_frame_paths, "test", out_scores)
    ckpt = load_checkpoint(model, METHOD, PROTOCOL)
    p = resolve(params, DEFAULTS, METHOD)
    trained = resolve(ckpt["params"], DEFAULTS, METHOD)
    if p["error"] not in MEASURES:
        raise ValueError(f"{METHOD}: error must be one of {list(MEASURES)}, got {p['error']!r}")
    rescale = rescaling(p["rescaling"])
    dev = torch_device(device)
    net = _build(trained)
    net.load_state_dict(ckpt["state_dicts"]["model"])
    net.to(dev).eval()
    size = parse_size(trained["size"])
    rows: dict[str, dict[str, np.ndarray]] = {}
    for video, path in progress(list(test_frame_paths.items()), desc=f"{METHOD}: score", unit="video"):
        comps = window_scores(net, FrameSource(path, size, gray=trained["gray"], preload=p["preload"]), p, dev)
        for name, values in video_rows(comps, p["weights"], p["error"], rescale).items():
            rows.setdefault(name, {})[video] = values
    normalisation = {name: f"{p['rescaling']} per video" for name in rows if not name.startswith("combined")}
    normalisation.update({name: f"weighted sum of the components, each {p['rescaling']} per video"
                          for name in rows if name.startswith("combined")})
    normalisation["combined_minmax"] = "weighted sum of the components, each minmax per video"
    save_rows(out_scores, rows, METHOD, p, model_params=trained,
              extra={"score_frame": "T+1 (the frame after each T-frame clip)", "normalisation": normalisation})
    return rows
