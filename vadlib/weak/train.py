"""Training of the weakly supervised models: their steps on :func:`vadlib.training.fit`, and the
stage functions.

Stage functions (each one call from a workflow script):

- :func:`train_baseline` -- the baseline snippet MLP (MT-VAE paper, sec. 3.1);
- :func:`train_rtfm` -- RTFM;
- :func:`train_lanet` -- LA-Net + DDL;
- :func:`train_mtvae` -- the MT-VAE on the baseline's abnormal snippets (MT-VAE paper, sec. 3.2).

The detectors take ``pseudo_index`` (the CSV written by :func:`vadlib.weak.pseudo.generate_pseudo`) to
add the pseudo videos to their training set; without it they train on the real videos only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from vadlib.data.manifest import require_split
from vadlib.runtime import progress, seed_everything, torch_device
from vadlib.training import BestState, fit, save_checkpoint
from vadlib.weak import losses
from vadlib.weak.checkpoint import PROTOCOL, build_model, load_model
from vadlib.weak.config import LANetConfig, MLPConfig, MTVAEConfig, RTFMConfig, WeakConfig
from vadlib.weak.data import (
    BagSet,
    Batch,
    BatchSampler,
    check_labels,
    features_pretrained,
    holdout,
    load_bags,
    read_features,
    reduce_crops,
    with_pseudo,
)
from vadlib.weak.mtvae import ABNORMAL, NORMAL, mirrored_decoder
from vadlib.weak.score import frame_scores, snippet_scores

# ----------------------------------------------------------------------------------------------
# Steps and validation
# ----------------------------------------------------------------------------------------------

def fit_steps(model: nn.Module, step_loss: Callable[[Any], tuple[torch.Tensor, dict[str, float]]],
              batches: Iterator[Any], steps: int, steps_per_epoch: int, optimizer: torch.optim.Optimizer,
              scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
              validate: Callable[[], float] | None = None, desc: str = "training",
              validate_at: Callable[[int], bool] | None = None) -> tuple[list[dict[str, float]], BestState | None]:
    """Run ``steps`` optimisation steps of :func:`vadlib.training.fit`, as epochs of ``steps_per_epoch``
    batches drawn from ``batches`` (the last epoch shorter where they do not divide); returns one
    history record per epoch and the validation's :class:`~vadlib.training.BestState` (None without).

    Each record holds the ``epoch`` (from 0), the ``step`` it ended at, the learning rate ``lr`` of
    the epoch and the epoch's means. The ``scheduler`` (if any) steps after each epoch. ``validate()``
    (if given) is evaluated after every epoch, or after each step ``s`` (counted from 1) for which
    ``validate_at(s)`` holds; a value at an epoch's end is also recorded as its ``val_loss``. The
    weights of the lowest validation value are restored at the end.
    """
    best = BestState(model) if validate is not None else None

    def length(epoch: int) -> int:
        return min(steps_per_epoch, steps - epoch * steps_per_epoch)

    def after_step(step: int) -> None:
        if validate_at(step):
            best.update(validate(), step)

    def after_epoch(epoch: int, step: int, means: dict[str, float]) -> dict[str, Any]:
        if best is not None and validate_at is None:
            best.update(validate(), step)
        record = {"epoch": epoch, "step": step, "lr": optimizer.param_groups[0]["lr"], **means}
        if best is not None and best.checks and best.checks[-1]["step"] == step:
            record["val_loss"] = best.checks[-1]["value"]
        return record

    history = fit(model, step_loss, optimizer, lambda epoch: itertools.islice(batches, length(epoch)),
                  math.ceil(steps / steps_per_epoch), desc, length, scheduler=scheduler,
                  after_step=after_step if best is not None and validate_at is not None else None,
                  after_epoch=after_epoch)
    if best is not None:
        best.restore()
    return history, best


def _tensors(batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(batch.x).to(device), torch.from_numpy(batch.lengths).to(device),
            torch.from_numpy(batch.labels).to(device))


# ----------------------------------------------------------------------------------------------
# Detectors
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectorSpec:
    """What differs between the detectors; everything else is :func:`_train_detector`."""

    config: type[WeakConfig]
    model_args: Callable[[Any], dict[str, Any]]
    loss: Callable[[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, dict]]
    balanced: bool                                  # batches of as many normal as abnormal bags
    resampled: bool                                 # True: S segments; False: at most max_snippets snippets
    steps: Callable[[Any, int], int]                # (config, steps per epoch) -> optimisation steps
    scheduler: Callable[[torch.optim.Optimizer, Any], Any] | None = None   # stepped after each epoch


def _epochs(cfg: Any, steps_per_epoch: int) -> int:
    return cfg.epochs * steps_per_epoch


SPECS: dict[str, DetectorSpec] = {
    "mlp": DetectorSpec(
        MLPConfig,
        lambda c: {"dim": c.feature_dim, "hidden": list(c.hidden), "dropout": c.dropout},
        lambda out, lengths, labels, c: losses.video_bce(out["scores"], labels, lengths),
        balanced=False, resampled=True, steps=_epochs),
    "rtfm": DetectorSpec(
        RTFMConfig,
        lambda c: {"dim": c.feature_dim, "hidden": c.hidden, "classifier": list(c.classifier), "dropout": c.dropout},
        lambda out, lengths, labels, c: losses.rtfm_loss(out, labels, c.k, c.margin, c.magnitude_weight,
                                                         c.smooth_weight, c.sparsity_weight, lengths),
        balanced=True, resampled=True, steps=lambda c, _: c.steps),
    "lanet": DetectorSpec(
        LANetConfig,
        lambda c: {"dim": c.feature_dim, "hidden": c.hidden, "heads": c.heads, "sigma": c.sigma,
                   "mlp": list(c.mlp), "dropout": c.dropout, "kernel": c.kernel, "prior": c.prior},
        lambda out, lengths, labels, c: losses.ddl_loss(out, labels, lengths, c.k_divisor, c.rank_margin,
                                                        c.align_eps, c.lambda1, c.lambda2),
        balanced=True, resampled=False, steps=_epochs,
        scheduler=lambda opt, c: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, c.epochs))),
}


def _bags(spec: DetectorSpec, cfg: Any, features: Mapping[str, str], labels: Mapping[str, int], desc: str) -> BagSet:
    if spec.resampled:
        return load_bags(features, labels, cfg.feature_dim, cfg.crops, segments=cfg.segments,
                         resample_mode=cfg.resample, desc=desc)
    return load_bags(features, labels, cfg.feature_dim, cfg.crops, max_snippets=cfg.max_snippets, desc=desc)


@dataclass(frozen=True)
class SelectionSet:
    """Test videos and their frame labels, for RTFM's ``selection: best_test`` (the published code's
    protocol of keeping the step of best test AUC; for comparison with published numbers only)."""

    features: Mapping[str, str]
    truth: Mapping[str, np.ndarray]


def _test_auc(model: nn.Module, test: SelectionSet, dim: int, crops: str, device: torch.device) -> float:
    """Micro frame AUC of ``model`` on ``test``, its frames scored as the scoring stage scores them."""
    scores, labels = [], []
    for video, path in test.features.items():
        scores.append(frame_scores(model, path, dim, crops, len(test.truth[video]), device))
        labels.append(np.asarray(test.truth[video]))
    return float(roc_auc_score(np.concatenate(labels), np.concatenate(scores)))


def _fit_detector(spec: DetectorSpec, kind: str, cfg: Any, features: Mapping[str, str], labels: Mapping[str, int],
                  dev: torch.device, rng: np.random.Generator, epochs: int | None = None,
                  val_bags: BagSet | None = None, test: SelectionSet | None = None,
                  selection: list[dict[str, float]] | None = None) -> tuple[nn.Module, list[dict], dict[str, Any]]:
    """Build a model of ``kind`` and train it on ``features`` with the kind's loss and schedule.

    ``epochs`` overrides the configured count (MLP refit); ``val_bags`` keeps the epoch of lowest
    validation loss; ``test`` keeps the step of best test AUC (RTFM ``best_test``), each value appended
    to ``selection``.
    """
    bags = _bags(spec, cfg, features, labels, f"{kind}: loading training features")
    model_args = spec.model_args(cfg)
    model = build_model(kind, model_args).to(dev)
    sampler = BatchSampler(bags.labels, cfg.batch_size, spec.balanced, rng)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def batch_loss(data: BagSet, index: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        x, lengths, y = _tensors(data.batch(index), dev)
        return spec.loss(model(x, lengths), lengths, y, cfg)

    validate, validate_at = None, None
    if val_bags is not None:
        @torch.no_grad()
        def validate() -> float:
            model.eval()
            chunks = np.array_split(np.arange(len(val_bags)), math.ceil(len(val_bags) / cfg.batch_size))
            return sum(batch_loss(val_bags, c)[0].item() * len(c) for c in chunks) / len(val_bags)
    elif test is not None:
        def validate() -> float:
            return -_test_auc(model, test, cfg.feature_dim, cfg.crops, dev)

        def validate_at(step: int) -> bool:
            return step % cfg.eval_every == 0 and step > cfg.eval_after

    steps = spec.steps(cfg, sampler.steps_per_epoch) if epochs is None else epochs * sampler.steps_per_epoch
    history, best = fit_steps(model, lambda index: batch_loss(bags, index), iter(sampler), steps,
                              sampler.steps_per_epoch, optimizer,
                              spec.scheduler(optimizer, cfg) if spec.scheduler else None, validate,
                              desc=f"training {kind}", validate_at=validate_at)
    if selection is not None and best is not None:
        selection.extend(best.checks)
    return model, history, model_args


def _train_detector(kind: str, train_features: Mapping[str, str], labels: Mapping[str, int], out_model: str,
                    params: Mapping[str, Any] | None, device: str, pseudo_index: str | None,
                    test: SelectionSet | None = None) -> list[dict]:
    """Select (a validation split or the test set, where the kind's config asks for it), train, save."""
    spec = SPECS[kind]
    cfg = spec.config.from_params(params)
    require_split(train_features, "training", out_model)
    check_labels(train_features, labels)
    rng = seed_everything(cfg.seed)
    dev = torch_device(device)
    videos = list(train_features)
    best_test = getattr(cfg, "selection", "final") == "best_test"
    if best_test and test is None:
        raise ValueError(f"{out_model}: rtfm.selection is 'best_test' but no test set was given to select on")
    extra: dict[str, Any] = {"train_videos": videos, "val_videos": []}
    if getattr(cfg, "val_fraction", 0.0) > 0:
        # the validation split picks the number of epochs (MT-VAE paper, sec. 4.1: "to find the best
        # configuration"); the final model is then retrained on every training video for that many
        # epochs, unless refit is off (then the selection run's best epoch is kept)
        fit_videos, val_videos = holdout(videos, labels, cfg.val_fraction, rng)
        feats, labs = with_pseudo({v: train_features[v] for v in fit_videos}, {v: labels[v] for v in fit_videos},
                                  pseudo_index, exclude_sources=set(val_videos))
        val_bags = _bags(spec, cfg, {v: train_features[v] for v in val_videos}, labels,
                         f"{kind}: loading validation features")
        model, history, model_args = _fit_detector(spec, kind, cfg, feats, labs, dev, rng, val_bags=val_bags)
        best_epoch = min(history, key=lambda h: h["val_loss"])["epoch"]
        extra.update(selection={"val_videos": val_videos, "train_videos": fit_videos, "best_epoch": best_epoch,
                                "history": history})
        if cfg.refit:
            feats, labs = with_pseudo(train_features, labels, pseudo_index)
            model, history, model_args = _fit_detector(spec, kind, cfg, feats, labs, dev, rng, epochs=best_epoch + 1)
        else:
            extra.update(train_videos=fit_videos, val_videos=val_videos)
    else:
        feats, labs = with_pseudo(train_features, labels, pseudo_index)
        selection: list[dict[str, float]] = []
        model, history, model_args = _fit_detector(spec, kind, cfg, feats, labs, dev, rng,
                                                   test=test if best_test else None, selection=selection)
        if best_test:
            if not selection:
                raise ValueError(f"{out_model}: rtfm.selection 'best_test' evaluates after step {cfg.eval_after} "
                                 f"only, but training ran {cfg.steps} steps")
            best = min(selection, key=lambda s: s["value"])
            extra.update(selection={"kind": "best_test", "step": best["step"], "test_auc": -best["value"],
                                    "checks": [{"step": s["step"], "test_auc": -s["value"]} for s in selection]})
    extra.update(pseudo_videos=len(feats) - len([v for v in feats if v in train_features]), pseudo_index=pseudo_index)
    save_checkpoint(out_model, {"model": model}, method=kind, protocol=PROTOCOL, params=cfg.to_dict(),
                    pretrained=features_pretrained(train_features), history=history, model_args=model_args,
                    extra=extra)
    return history


def train_baseline(train_features: Mapping[str, str], labels: Mapping[str, int], out_model: str,
                   params: Mapping[str, Any] | None = None, device: str = "auto",
                   pseudo_index: str | None = None) -> list[dict]:
    """Train the baseline MLP on videos resampled to S segments; writes ``out_model`` (and its sidecar).

    ``val_fraction`` of the videos (of each label separately) are held out and the epoch of lowest
    validation BCE is selected (pseudo videos made from held-out videos are left out of that run); with
    ``refit`` (the default) the final model is then trained on every training video for that many
    epochs, so no training video is lost to the final model.
    """
    return _train_detector("mlp", train_features, labels, out_model, params, device, pseudo_index)


def train_rtfm(train_features: Mapping[str, str], labels: Mapping[str, int], out_model: str,
               params: Mapping[str, Any] | None = None, device: str = "auto",
               pseudo_index: str | None = None, test: SelectionSet | None = None) -> list[dict]:
    """Train RTFM for ``steps`` steps of ``batch_size / 2`` normal + as many abnormal videos.

    ``selection: final`` (default) keeps the last weights. ``best_test`` keeps the weights of the
    step of best test AUC, checked every ``eval_every`` steps after ``eval_after`` on ``test`` (the
    published code's protocol: it selects on the test labels, so it is for comparison with published
    numbers only); the checkpoint records the step and every check.
    """
    return _train_detector("rtfm", train_features, labels, out_model, params, device, pseudo_index, test)


def train_lanet(train_features: Mapping[str, str], labels: Mapping[str, int], out_model: str,
                params: Mapping[str, Any] | None = None, device: str = "auto",
                pseudo_index: str | None = None) -> list[dict]:
    """Train LA-Net + DDL on (video, crop) bags of at most ``max_snippets`` uniformly sampled snippets."""
    return _train_detector("lanet", train_features, labels, out_model, params, device, pseudo_index)


# ----------------------------------------------------------------------------------------------
# MT-VAE
# ----------------------------------------------------------------------------------------------

class SnippetVectors:
    """The chosen snippets ``[n, C, D]`` (every crop of each) of each video, read on demand.

    Videos are kept in memory (float16) until ``budget_bytes`` is used; the rest are re-read from their
    stores each time, so memory stays bounded on large datasets.
    """

    def __init__(self, paths: Mapping[str, str], rows: Mapping[str, np.ndarray | None], dim: int,
                 budget_bytes: int = 4 << 30):
        self.paths, self.rows, self.dim = dict(paths), dict(rows), dim
        self.budget, self.cache = budget_bytes, {}

    def __call__(self, video: str) -> np.ndarray:
        if video in self.cache:
            return self.cache[video]
        x = read_features(self.paths[video], self.dim)
        rows = self.rows[video]
        snippets = (x if rows is None else x[rows]).astype(np.float16)
        if snippets.nbytes <= self.budget:
            self.cache[video] = snippets
            self.budget -= snippets.nbytes
        return snippets


def abnormal_snippets(baseline_model: str, features: Mapping[str, str], threshold: float,
                      device: torch.device) -> dict[str, np.ndarray]:
    """Indices of the snippets that the baseline scores above ``threshold``, per video (crop-averaged)."""
    model, ckpt = load_model(baseline_model, device, kind="mlp")
    dim, crops = int(ckpt["model_args"]["dim"]), ckpt["params"].get("crops", "all")
    chosen = {}
    for video in progress(list(features), desc="selecting abnormal snippets", unit="video"):
        scores = snippet_scores(model, reduce_crops(read_features(features[video], dim), crops), device)
        chosen[video] = np.flatnonzero(scores > threshold)
    return chosen


def train_mtvae(train_features: Mapping[str, str], labels: Mapping[str, int], baseline_model: str,
                out_model: str, params: Mapping[str, Any] | None = None, device: str = "auto") -> list[dict]:
    """Train the MT-VAE (MT-VAE paper, sec. 3.2); writes ``out_model`` (and its sidecar).

    Normal snippets: every snippet of the normal training videos. Abnormal snippets: the snippets of
    abnormal training videos that the baseline at ``baseline_model`` scores above ``threshold``. Each
    step pairs one normal with one abnormal video (each drawn from its own reshuffled stream; an epoch is
    one pass over the larger set) and takes at most ``max_snippets`` random snippets of each ("if the
    number of total snippets exceeds 1024, we randomly sample 1024 snippets", sec. 4.1); every crop of
    a chosen snippet is a vector of the batch. It minimises eq. 6; the learning rate decays by
    ``lr_decay`` after each epoch. Videos that the baseline held out for validation (kept out of its
    final model when ``mlp.refit`` is off) are left out here too.
    """
    cfg = MTVAEConfig.from_params(params)
    require_split(train_features, "training", out_model)
    check_labels(train_features, labels)
    rng = seed_everything(cfg.seed)
    dev = torch_device(device)
    held_out = set(load_model(baseline_model, "cpu", kind="mlp")[1]["extra"].get("val_videos") or [])
    usable = [v for v in train_features if v not in held_out]
    abnormal = [v for v in usable if int(labels[v]) == 1]
    chosen = abnormal_snippets(baseline_model, {v: train_features[v] for v in abnormal}, cfg.threshold, dev)
    chosen = {v: idx for v, idx in chosen.items() if len(idx)}
    if not chosen:
        raise ValueError(f"{baseline_model}: the baseline scores no snippet of the {len(abnormal)} abnormal "
                         f"training videos above {cfg.threshold}, so the MT-VAE has no abnormal snippets "
                         f"(train the baseline longer or lower mtvae.threshold)")
    normal = [v for v in usable if int(labels[v]) == 0]
    videos = normal + list(chosen)
    source = SnippetVectors(train_features, {**{v: None for v in normal}, **chosen}, cfg.feature_dim)
    decoder = mirrored_decoder(cfg.encoder) if cfg.decoder is None else list(cfg.decoder)
    model_args = {"dim": cfg.feature_dim, "encoder": list(cfg.encoder), "decoder": decoder}
    model = build_model("mtvae", model_args).to(dev)
    sampler = BatchSampler(np.asarray([0] * len(normal) + [1] * len(chosen)), 2, True, rng)

    def vectors(video: str) -> torch.Tensor:
        x = source(video)                                             # [snippets, crops, D]
        if len(x) > cfg.max_snippets:
            x = x[np.sort(rng.choice(len(x), cfg.max_snippets, replace=False))]
        return torch.from_numpy(x.reshape(-1, cfg.feature_dim).astype(np.float32)).to(dev)

    def step_loss(pair: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        xn, xa = vectors(videos[pair[0]]), vectors(videos[pair[1]])
        return losses.mtvae_loss((xn, *model(xn, NORMAL)), (xa, *model(xa, ABNORMAL)), cfg.alpha)

    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
    history, _ = fit_steps(model, step_loss, iter(sampler), cfg.epochs * sampler.steps_per_epoch,
                           sampler.steps_per_epoch, optimizer, scheduler, desc="training mtvae")
    save_checkpoint(out_model, {"model": model}, method="mtvae", protocol=PROTOCOL, params=cfg.to_dict(),
                    pretrained=features_pretrained(train_features), history=history, model_args=model_args,
                    extra={"baseline_model": str(baseline_model),
                           "abnormal_snippets": {v: idx.tolist() for v, idx in chosen.items()},
                           "normal_videos": normal, "held_out_videos": sorted(held_out)})
    return history
