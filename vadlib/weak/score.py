"""Scoring test videos with a trained weakly supervised detector.

Every snippet of a test video is scored (no resampling): each crop is run as its own sequence, the
crop scores of a snippet are averaged (a model trained with ``crops="mean"`` scores the crop-averaged
features instead), and the snippet scores become frame scores through
:func:`vadlib.snippets.snippets_to_frames`, the one mapping shared by every method.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from vadlib.data.manifest import require_split
from vadlib.runtime import progress, torch_device
from vadlib.scores import save_scores
from vadlib.snippets import snippets_to_frames
from vadlib.stores import open_store
from vadlib.weak.checkpoint import load_model
from vadlib.weak.data import features_pretrained, read_features, reduce_crops

DETECTORS = ("mlp", "rtfm", "lanet")


@torch.inference_mode()
def snippet_scores(model: nn.Module, x: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """Scores ``[T]`` of the snippets of one video ``[T, C, D]``: every crop scored, then averaged."""
    model.eval()
    per_crop = []
    for c in range(x.shape[1]):
        seq = torch.from_numpy(np.ascontiguousarray(x[None, :, c:c + 1], dtype=np.float32)).to(device)
        per_crop.append(model(seq)["scores"][0, :, 0].float().cpu().numpy())
    return np.mean(per_crop, axis=0)


def frame_scores(model: nn.Module, path: str | os.PathLike, dim: int, crops: str, n_frames: int,
                 device: torch.device | str = "cpu") -> np.ndarray:
    """Frame scores ``[n_frames]`` of one test video's features store, as a model trained with ``crops``
    sees them (:func:`snippet_scores`, then :func:`vadlib.snippets.snippets_to_frames` by the snippet
    rule the store's features were cut by, its ``tail`` attribute)."""
    scores = snippet_scores(model, reduce_crops(read_features(path, dim), crops), device)
    tail = open_store(path, "features").attrs.get("tail", "pad")  # stores older than the tail rule: pad
    return snippets_to_frames(scores, int(n_frames), tail=tail)


def score_detector(model_path: str | os.PathLike, test_features: Mapping[str, str], n_frames: Mapping[str, int],
                   out_scores: str | os.PathLike, method: str, params: Mapping[str, Any] | None = None,
                   device: str = "auto") -> None:
    """Score every test video with the model at ``model_path`` and write ``out_scores``.

    ``test_features``: video -> features store; ``n_frames``: video -> frame count (from the manifest).
    The scores file has one row named ``method``; its meta records the protocol ("weak"), whether the
    features came from a pretrained extractor, the model file, ``params`` (the model's training
    config when none are given) and how the weights were selected (``selection``: ``final``, or
    ``best_test`` with a ``note`` saying that the test labels chose the step).
    """
    require_split(test_features, "test", out_scores)
    missing = sorted(set(test_features) - set(n_frames))
    if missing:
        raise KeyError(f"{out_scores}: no frame count for test videos {missing[:5]}")
    dev = torch_device(device)
    model, ckpt = load_model(model_path, dev)
    if ckpt["method"] not in DETECTORS:
        raise ValueError(f"{model_path}: field 'method' is {ckpt['method']!r}, not a detector {DETECTORS}")
    dim, crops = int(ckpt["model_args"]["dim"]), ckpt["params"].get("crops", "all")
    rows: dict[str, np.ndarray] = {}
    for video in progress(list(test_features), desc=f"scoring {method}", unit="video"):
        rows[video] = frame_scores(model, test_features[video], dim, crops, n_frames[video], dev)
    selection = ckpt["params"].get("selection", "final")
    meta = {"method": method, "protocol": "weak", "pretrained": features_pretrained(test_features),
            "params": dict(params) if params is not None else ckpt["params"], "model": str(model_path),
            "kind": ckpt["method"], "selection": selection}
    if selection == "best_test":
        step = (ckpt["extra"].get("selection") or {}).get("step")
        meta["note"] = (f"weights of the step of best test AUC (step {step}; rtfm.selection best_test, the "
                        "published code's protocol): selected on the test labels, for comparison only")
    save_scores(out_scores, {method: rows}, meta)
