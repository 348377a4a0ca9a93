"""Stage functions of the multi-layer MemAE + flow-conditioned CVAE detector (Long et al., "Video
Sequence Anomaly Detection with Multi-Layer Memory-Augmented Autoencoder"; docs/methods/memae_cvae.md
sets every equation and setting of the paper beside the code).

Model. The multi-layer MemAE (:mod:`vadlib.oneclass.memae`) reconstructs ``L``-frame clips
``s .. s + L - 1``; the CVAE (:mod:`vadlib.oneclass.cvae`) predicts frame ``s + L`` from the last
``history`` *reconstructed* frames of the clip and the flows into those frames (flows
``s + L - history - 1 .. s + L - 2``; the flow into the predicted frame is not an input).

Training (``training``):

- ``end_to_end`` (default, the paper's: "an end-to-end hybrid model", "the model as a whole is trained
  on a training set containing only normal patterns"): one Adam optimiser on both networks, loss
  ``L_MemAE + zeta`` (eq. 17), the CVAE fed the MemAE's reconstruction with its gradient, so the
  prediction error trains the MemAE too. The paper gives no weight between the two
  losses: 1 (both are per-pixel means, see :mod:`vadlib.oneclass.cvae`). Both networks train in the
  same epochs, so ``memae_epochs`` and ``cvae_epochs`` (each network's number of epochs) must be equal.
- ``two_stage`` (HF2-VAD's staged schedule): the MemAE alone for ``memae_epochs``, then with the MemAE
  frozen the CVAE for ``cvae_epochs``.

Flow is divided by the training flow scale (99.9th percentile of |u|, |v| over sampled training
flows), stored in the checkpoint. Adam, lr 1e-4 (the paper gives no optimiser settings; HF2-VAD's).

Scoring. For each test window (a clip and its next frame) the components are the reconstruction
error (MSE of the clip), the prediction error (MSE of the predicted frame) and the feature
compactness index (eq. 12). Reconstruction and compactness go to the clip's centre frame, prediction
to the predicted frame (:func:`vadlib.oneclass.score.to_frames`). The paper scores a frame by "the
weighted sum of the reconstruction error and prediction error" with the compactness index added
(sec. 3, 3.2, Table 3) and reports "normalized anomaly scores" (sec. 4.2, Tables 2 and 4) without
saying how they are normalised or weighted. ``rescaling``:

- ``minmax`` (default): every component is min-max normalised over its test video, ``g(x) = (x -
  min) / (max - min)`` (the normalisation of the per-video scores of the evaluation protocol the paper
  cites for its metrics, Liu et al.'s ref. [2], and of MNAD's score, where eq. 12 comes from); the
  combined score ``g(w_r g(R) + w_p g(P) + w_c g(C))``, so every row lies in [0, 1] per video, as the
  paper's normalised scores do (their normal/anomalous differences are 0.17-0.49).
- ``training_stats``: every component standardised with the mean and standard deviation it has on
  ``norm_windows`` training windows (stored in the checkpoint; HF2-VAD's normalisation, no test
  statistics used), ``combined = w_r R' + w_p P' + w_c C'``.

Weights w_r = w_p = w_c = 1 (the paper gives none; on [0, 1]-normalised components equal weights give
each piece of evidence the same range, and Tables 2 and 3 show each adds to the AUC).

Rows: ``reconstruction``, ``prediction``, ``compactness``, ``combined``, all normalised as above.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from vadlib.data.manifest import require_split
from vadlib.oneclass.ae3d import check_geometry
from vadlib.oneclass.clips import FlowSource, FrameSource, Windows, clip_indices, flow_scale, parse_size, window_starts
from vadlib.oneclass.cvae import FlowCVAE, condition_flow_indices, cvae_loss, cvae_objective
from vadlib.oneclass.errors import mse
from vadlib.oneclass.memae import MultiLevelMemAE, memae_loss, memae_objective
from vadlib.oneclass.params import SHARED, resolve
from vadlib.oneclass.rescalings import minmax
from vadlib.oneclass.score import batches, save_rows, to_frames
from vadlib.oneclass.train import PROTOCOL, fit, load_checkpoint, save_checkpoint
from vadlib.runtime import progress, seed_everything, torch_device

METHOD = "memae_cvae"
COMPONENTS = ("reconstruction", "prediction", "compactness")
TRAINING = ("end_to_end", "two_stage")
RESCALING = ("minmax", "training_stats")

DEFAULTS: dict[str, Any] = {
    **SHARED,
    "gray": False,              # the paper reconstructs RGB frames
    "lr": 1e-4,
    "training": "end_to_end",
    "memae_epochs": 80,         # epochs the MemAE is trained
    "cvae_epochs": 80,          # epochs the CVAE is trained (end_to_end: the same epochs, so equal)
    "memory_levels": [2, 3, 4],  # the two inner skip levels and the bottleneck (sec. 3.3)
    "slots": 10,                # N
    "shrink_threshold": 0.1,    # lambda of eq. 6 (1/N)
    "tau": 0.5,                 # radius of the update sets U_m (eqs. 7-9)
    "margin": 1.0,              # gamma of eq. 11
    "lambda_compact": 0.1,
    "lambda_separate": 0.1,
    "history": 4,               # t: observed frames (and their flows) of the CVAE
    "cvae_widths": [64, 128, 128, 128],
    "latent": 64,
    "lambda_vae": 1.0,          # eq. 17
    "lambda_gra": 1.0,          # eq. 17
    "norm_windows": 512,        # training windows for the training_stats rescaling
    "rescaling": "minmax",
    "weights": {"reconstruction": 1.0, "prediction": 1.0, "compactness": 1.0},
}


def _check(p: dict[str, Any]) -> None:
    """Fail on a bad value with the name of its field."""
    if p["training"] not in TRAINING:
        raise ValueError(f"{METHOD}: training must be one of {list(TRAINING)}, got {p['training']!r}")
    if p["rescaling"] not in RESCALING:
        raise ValueError(f"{METHOD}: rescaling must be one of {list(RESCALING)}, got {p['rescaling']!r}")
    if not 1 <= p["history"] < p["clip_len"]:
        raise ValueError(f"{METHOD}: history must be in 1..clip_len - 1 = {p['clip_len'] - 1} (the flow into the "
                         f"first observed frame comes from the frame before it), got {p['history']}")
    if p["training"] == "end_to_end" and p["memae_epochs"] != p["cvae_epochs"]:
        raise ValueError(f"{METHOD}: end_to_end training trains both networks in the same epochs: memae_epochs "
                         f"({p['memae_epochs']}) and cvae_epochs ({p['cvae_epochs']}) must be equal")
    if not p["tau"] > 0:
        raise ValueError(f"{METHOD}: tau must be positive, got {p['tau']}")
    unknown = sorted(set(p["weights"]) - set(COMPONENTS))
    if unknown:
        raise KeyError(f"{METHOD}: weights name unknown components {unknown}; known: {list(COMPONENTS)}")


def _build(p: dict[str, Any]) -> tuple[MultiLevelMemAE, FlowCVAE]:
    channels = 1 if p["gray"] else 3
    memae = MultiLevelMemAE(channels, p["widths"], memory_levels=p["memory_levels"], slots=p["slots"],
                            shrink_threshold=p["shrink_threshold"], tau=p["tau"], margin=p["margin"])
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
        """Clips ``[B, C, L, H, W]``, the CVAE's flows ``[B, h, 2, H, W]`` (into its observed frames,
        :func:`vadlib.oneclass.cvae.condition_flow_indices`) and next frames ``[B, C, H, W]``."""
        frames, flows = self.frames[video], self.flows[video]
        n, L, h = len(frames), self.L, self.h
        clips, fl = [], []
        for s in starts:
            clips.append(frames.clip(clip_indices(int(s), L + 1, n)))
            fl.append(flows.clip(condition_flow_indices(int(s), L, h, len(flows))))
        clips_t = torch.from_numpy(np.stack(clips)).to(dev)
        flows_t = torch.from_numpy(np.stack(fl)).to(dev).transpose(1, 2) / scale
        return clips_t[:, :, :L], flows_t, clips_t[:, :, L]

    def pairs_batch(self, pairs, scale, dev):
        parts = [self.batch(int(v), [s], scale, dev) for v, s in pairs]
        return tuple(torch.cat(t) for t in zip(*parts))


def _observed(recon: torch.Tensor, history: int) -> torch.Tensor:
    """The CVAE's frames ``x_{1:t}``: the last ``history`` reconstructed frames, ``[B, h, C, H, W]``."""
    return recon[:, :, -history:].transpose(1, 2)


@torch.no_grad()
def _window_components(memae: MultiLevelMemAE, cvae: FlowCVAE, clips, flows, nxt) -> dict[str, np.ndarray]:
    out = memae(clips)
    recon = out.recon
    pred, _ = cvae(_observed(recon, cvae.history), flows, sample=False)
    return {"reconstruction": mse(clips.transpose(1, 2), recon.transpose(1, 2)).mean(dim=1).cpu().numpy(),
            "prediction": mse(nxt, pred).cpu().numpy(),
            "compactness": out.index.cpu().numpy()}


def _split_history(joint: list[dict[str, float]]) -> dict[str, list[dict[str, float]]]:
    """Per-epoch parts of end-to-end training, split into the two networks' losses and the total."""
    out: dict[str, list[dict[str, float]]] = {"joint": [], "memae": [], "cvae": []}
    for epoch in joint:
        out["joint"].append({"loss": epoch["loss"]})
        for net in ("memae", "cvae"):
            out[net].append({k.split("/", 1)[1]: v for k, v in epoch.items() if k.startswith(net + "/")})
    return out


def train_memae_cvae(frame_paths: list[str], flow_paths: list[str], out_model: str, params: dict[str, Any],
                     device: str = "auto") -> dict[str, list]:
    """Train the MemAE and the CVAE (end to end, or in two stages) on the normal training videos;
    write ``out_model`` (.pt + .json). Returns the per-epoch losses of ``memae`` and ``cvae`` (and of
    ``joint``, their sum, in end-to-end training)."""
    p = resolve(params, DEFAULTS, METHOD)
    _check(p)
    size = parse_size(p["size"])
    check_geometry(size, p["clip_len"])
    if len(p["cvae_widths"]) < 1 or any(s % 2 ** (len(p["cvae_widths"]) - 1) for s in size):
        raise ValueError(f"{METHOD}: size {list(size)} must be a multiple of 2**(len(cvae_widths) - 1)")
    require_split(frame_paths, "training", out_model)
    rng = seed_everything(int(p["seed"]))
    dev = torch_device(device)
    data = _Data(frame_paths, flow_paths, p, f"{METHOD}: load")
    scale = flow_scale(data.flows, rng)
    windows = Windows([len(v) for v in data.frames], p["clip_len"] + 1, p["train_stride"])
    memae, cvae = _build(p)
    memae.to(dev)
    cvae.to(dev)
    h = p["history"]
    n_batches = windows.n_batches(p["batch"])
    start = time.perf_counter()

    def epoch(_: int):
        for pairs in windows.epoch(rng, p["batch"]):
            yield data.pairs_batch(pairs, scale, dev)

    if p["training"] == "end_to_end":
        def joint_step(b):
            clips, flows, nxt = b
            out = memae(clips)
            l_mem, parts_mem = memae_objective(out, clips, p["lambda_compact"], p["lambda_separate"])
            pred, kl = cvae(_observed(out.recon, h), flows)
            l_cvae, parts_cvae = cvae_objective(pred, kl, nxt, p["lambda_vae"], p["lambda_gra"])
            parts = {"memae/loss": float(l_mem.detach()), **{f"memae/{k}": v for k, v in parts_mem.items()},
                     "cvae/loss": float(l_cvae.detach()), **{f"cvae/{k}": v for k, v in parts_cvae.items()}}
            return l_mem + l_cvae, parts

        opt = torch.optim.Adam([*memae.parameters(), *cvae.parameters()], lr=p["lr"])
        history = _split_history(fit([memae, cvae], joint_step, opt, epoch, p["memae_epochs"],
                                     f"{METHOD} (end to end)", n_batches))
    else:
        opt = torch.optim.Adam(memae.parameters(), lr=p["lr"])
        hist_memae = fit(memae, lambda b: memae_loss(memae, b[0], p["lambda_compact"], p["lambda_separate"]),
                         opt, epoch, p["memae_epochs"], f"{METHOD} (MemAE)", n_batches)
        memae.eval()
        for param in memae.parameters():
            param.requires_grad_(False)

        def cvae_step(b):
            clips, flows, nxt = b
            with torch.no_grad():
                recon = memae(clips).recon
            return cvae_loss(cvae, _observed(recon, h), flows, nxt, p["lambda_vae"], p["lambda_gra"])

        opt = torch.optim.Adam(cvae.parameters(), lr=p["lr"])
        hist_cvae = fit(cvae, cvae_step, opt, epoch, p["cvae_epochs"], f"{METHOD} (CVAE)", n_batches)
        history = {"memae": hist_memae, "cvae": hist_cvae}
    train_seconds = time.perf_counter() - start
    memae.eval()
    cvae.eval()

    # training statistics of the score components (for the training_stats rescaling)
    chosen = windows.pairs[rng.permutation(len(windows))[:p["norm_windows"]]]
    comps: dict[str, list] = {c: [] for c in COMPONENTS}
    for chunk in batches(chosen, p["batch"]):
        for name, values in _window_components(memae, cvae, *data.pairs_batch(chunk, scale, dev)).items():
            comps[name].append(values)
    stats = {c: {"mean": float(np.concatenate(v).mean()), "std": float(np.concatenate(v).std())}
             for c, v in comps.items()}
    save_checkpoint(out_model, {"memae": memae, "cvae": cvae}, method=METHOD, protocol=PROTOCOL, params=p,
                    pretrained=False,
                    extra={"flow_scale": scale, "component_stats": stats, "train_seconds": train_seconds,
                           "train_windows": len(windows), "videos": len(data.frames)}, history=history)
    return history


def combine_rows(components: dict[str, np.ndarray], weights: dict[str, float], rescaling: str,
                 stats: dict[str, dict[str, float]] | None = None) -> dict[str, np.ndarray]:
    """The rows of one video from its raw frame components (see the module docstring): each component
    normalised (``minmax`` over the video, or ``training_stats``), and ``combined``, their weighted sum
    (min-max normalised again under ``minmax``)."""
    if rescaling not in RESCALING:
        raise ValueError(f"{METHOD}: rescaling must be one of {list(RESCALING)}, got {rescaling!r}")
    rows: dict[str, np.ndarray] = {}
    total = None
    for name in COMPONENTS:
        x = np.asarray(components[name], dtype=np.float64)
        if rescaling == "minmax":
            norm = minmax(x).astype(np.float64)
        else:
            if stats is None or name not in stats:
                raise KeyError(f"{METHOD}: rescaling 'training_stats' needs the checkpoint's component_stats "
                               f"of {name!r}")
            std = stats[name]["std"] if stats[name]["std"] > 0 else 1.0
            norm = (x - stats[name]["mean"]) / std
        rows[name] = norm.astype(np.float32)
        part = float(weights.get(name, 0.0)) * norm
        total = part if total is None else total + part
    rows["combined"] = minmax(total) if rescaling == "minmax" else total.astype(np.float32)
    return rows


def score_memae_cvae(model: str, test_frame_paths: dict[str, str], test_flow_paths: dict[str, str],
                     out_scores: str, params: dict[str, Any], device: str = "auto") -> dict[str, dict[str, np.ndarray]]:
    """Score every test video; write ``out_scores`` with rows reconstruction, prediction, compactness, combined."""
    require_split(test_frame_paths, "test", out_scores)
    ckpt = load_checkpoint(model, METHOD, PROTOCOL)
    p = resolve(params, DEFAULTS, METHOD)
    _check(p)
    trained = resolve(ckpt["params"], DEFAULTS, METHOD)
    missing = sorted(set(test_frame_paths) - set(test_flow_paths))
    if missing:
        raise ValueError(f"{METHOD}: no flow store for test videos {missing}")
    dev = torch_device(device)
    memae, cvae = _build(trained)
    memae.load_state_dict(ckpt["state_dicts"]["memae"])
    cvae.load_state_dict(ckpt["state_dicts"]["cvae"])
    memae.to(dev).eval()
    cvae.to(dev).eval()
    scale = float(ckpt["extra"]["flow_scale"])
    stats = ckpt["extra"].get("component_stats")
    L = trained["clip_len"]
    rows: dict[str, dict[str, np.ndarray]] = {c: {} for c in (*COMPONENTS, "combined")}
    videos = list(test_frame_paths)
    for video in progress(videos, desc=f"{METHOD}: score", unit="video"):
        data = _Data([test_frame_paths[video]], [test_flow_paths[video]], {**trained, "preload": p["preload"]},
                     desc=None)
        n = len(data.frames[0])
        starts = window_starts(n, L + 1, p["test_stride"])
        parts: dict[str, list] = {c: [] for c in COMPONENTS}
        for chunk in batches(starts, p["batch"]):
            for name, values in _window_components(memae, cvae, *data.batch(0, chunk, scale, dev)).items():
                parts[name].append(values)
        raw = {name: to_frames(np.concatenate(parts[name]), starts + (L if name == "prediction" else L // 2), n)
               for name in COMPONENTS}
        for name, row in combine_rows(raw, p["weights"], p["rescaling"], stats).items():
            rows[name][video] = row
    save_rows(out_scores, rows, METHOD, p, model_params=trained, extra={"normalisation": _normalisation(p)})
    return rows


def _normalisation(p: dict[str, Any]) -> dict[str, str]:
    """How each row is normalised, for the scores' meta."""
    if p["rescaling"] == "minmax":
        rows = {c: "min-max over the test video" for c in COMPONENTS}
        rows["combined"] = "min-max over the test video of the weighted sum of the normalised components"
    else:
        rows = {c: "standardised with its mean and std on training windows" for c in COMPONENTS}
        rows["combined"] = "weighted sum of the standardised components"
    return rows
