"""Training the weakly supervised detectors on tiny separable features, and scoring test videos."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from vadlib.scores import load_scores
from vadlib.snippets import snippets_to_frames
from vadlib.training import fit
from vadlib.weak import score_detector, train_baseline, train_lanet, train_rtfm
from vadlib.weak.checkpoint import load_model
from vadlib.weak.data import read_features
from vadlib.weak.score import snippet_scores
from vadlib.weak.train import SelectionSet, fit_steps

from weak_synthetic import snippet_auc, write_dataset

BASE = {"feature_dim": 32, "segments": 8}
PARAMS = {
    "mlp": (train_baseline, {**BASE, "hidden": [16], "epochs": 30, "batch_size": 8}),
    "rtfm": (train_rtfm, {**BASE, "hidden": 16, "classifier": [16, 8], "dropout": 0.0, "margin": 10.0,
                          "steps": 60, "batch_size": 8, "lr": 3e-3}),
    "lanet": (train_lanet, {**BASE, "hidden": 16, "heads": 2, "sigma": 4.0, "mlp": [16, 8], "kernel": 3,
                            "epochs": 30, "batch_size": 16, "lr": 5e-3}),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("weak")
    train = write_dataset(root / "train", 12, 8, seed=0)
    test = write_dataset(root / "test", 6, 6, seed=1, prefix="t", pretrained=True)
    return root, train, test


@pytest.mark.parametrize("kind", ["mlp", "rtfm"])
def test_detector_learns_separable_features(kind, data, tmp_path):
    root, (feats, labels, _), (test_feats, _, truths) = data
    train, params = PARAMS[kind]
    history = train(feats, labels, str(tmp_path / f"{kind}.pt"), params, device="cpu")
    assert history[-1]["loss"] < history[0]["loss"]
    model, ckpt = load_model(tmp_path / f"{kind}.pt", kind=kind)
    assert ckpt["pretrained"] is False and ckpt["params"]["seed"] == 0
    assert snippet_auc(model, test_feats, truths, 32) > 0.8


def test_lanet_training_follows_eq_11_the_prior_and_the_dynamics_ranking(data, tmp_path):
    """LA-Net + DDL trained end to end: checks that fail when a DDL term's sign is flipped or the prior
    is dropped (measured on this data: flipping both terms gives a test AUC of 0.38, flipping the
    alignment alone 0.20; flipping the ranking alone raises the normal bags' accumulated dynamics
    ten-fold, from 0.003 to 0.029, against 0.20 and 0.13 for the abnormal bags)."""
    root, (feats, labels, _), (test_feats, test_labels, truths) = data
    train, params = PARAMS["lanet"]
    history = train(feats, labels, str(tmp_path / "lanet.pt"), params, device="cpu")
    assert history[-1]["loss"] < history[0]["loss"]
    # eq. 11 with lambda1 = lambda2 = 1: the objective minimised is L_MIL + L_DR + L_DA
    for h in history:
        assert h["loss"] == pytest.approx(h["mil"] + h["rank"] + h["align"], rel=1e-5)
        assert h["rank"] >= 0.0
    model, ckpt = load_model(tmp_path / "lanet.pt", kind="lanet")
    assert ckpt["pretrained"] is False and ckpt["params"]["seed"] == 0
    assert snippet_auc(model, test_feats, truths, 32) > 0.8
    # eq. 8 did its job: abnormal test bags accumulate far more score dynamics (eq. 7) than normal ones
    acc = {0: [], 1: []}
    for video, path in test_feats.items():
        s = snippet_scores(model, read_features(path, 32))
        k = len(s) // 16 + 1 if test_labels[video] else 1
        acc[test_labels[video]].append(np.sort(np.diff(s) ** 2)[::-1][:k].mean())
    assert np.mean(acc[1]) > 15 * np.mean(acc[0])
    # the trained network adds the prior G_ij = exp(-|i - j|^2 / (2 sigma)) to its attention maps (eq. 3)
    x = torch.from_numpy(read_features(next(iter(test_feats.values())), 32)[None, :, 0])
    with torch.no_grad():
        with_prior = model.attn.attention(x)
        model.attn.prior = False
        without = model.attn.attention(x)
    i = torch.arange(float(x.shape[1]))
    g = torch.exp(-((i[:, None] - i[None, :]) ** 2) / (2 * 4.0))
    torch.testing.assert_close(with_prior - without, g.expand_as(with_prior))


def test_baseline_selects_epochs_on_a_fifth_then_refits_on_every_video(data, tmp_path):
    _, (feats, labels, _), _ = data
    params = {**PARAMS["mlp"][1], "epochs": 5}
    history = train_baseline(feats, labels, str(tmp_path / "m.pt"), params, device="cpu")
    _, ckpt = load_model(tmp_path / "m.pt")
    sel = ckpt["extra"]["selection"]
    assert len(sel["val_videos"]) == 4 and len(sel["train_videos"]) == 16       # 1/5 of each label held out
    assert sum(labels[v] for v in sel["val_videos"]) == 2                         # 2 of the 8 abnormal videos
    best = min(sel["history"], key=lambda h: h["val_loss"])["epoch"]
    assert sel["best_epoch"] == best and all("val_loss" in h for h in sel["history"])
    # the final model saw every training video, for the selected number of epochs
    assert sorted(ckpt["extra"]["train_videos"]) == sorted(feats) and ckpt["extra"]["val_videos"] == []
    assert len(history) == best + 1 and "val_loss" not in history[-1]
    # refit off: the selection run's model (best epoch restored) is the final one, and says what it held out
    train_baseline(feats, labels, str(tmp_path / "n.pt"), {**params, "refit": False}, device="cpu")
    kept = load_model(tmp_path / "n.pt")[1]["extra"]
    assert sorted(kept["val_videos"]) == sorted(sel["val_videos"]) and len(kept["train_videos"]) == 16


def test_rtfm_best_test_selection_keeps_the_step_of_best_test_auc(data, tmp_path):
    _, (feats, labels, _), (test_feats, _, truths) = data
    frame_truth = {v: np.repeat(truths[v], 16) for v in test_feats}
    params = {**PARAMS["rtfm"][1], "steps": 12, "selection": "best_test", "eval_every": 3, "eval_after": 4}
    with pytest.raises(ValueError, match="no test set"):
        train_rtfm(feats, labels, str(tmp_path / "x.pt"), params, device="cpu")
    train_rtfm(feats, labels, str(tmp_path / "r.pt"), params, device="cpu", test=SelectionSet(test_feats, frame_truth))
    model, ckpt = load_model(tmp_path / "r.pt")
    checks = ckpt["extra"]["selection"]["checks"]
    assert [c["step"] for c in checks] == [6, 9, 12]                 # every 3 steps after step 4
    best = max(checks, key=lambda c: c["test_auc"])
    assert ckpt["extra"]["selection"]["step"] == best["step"]
    # the saved weights are those of that step: their test AUC is the recorded one
    scores = np.concatenate([snippets_to_frames(snippet_scores(model, read_features(test_feats[v], 32)),
                                                len(frame_truth[v])) for v in test_feats])
    auc = roc_auc_score(np.concatenate([frame_truth[v] for v in test_feats]), scores)
    assert auc == pytest.approx(best["test_auc"], abs=1e-9)
    score_detector(tmp_path / "r.pt", test_feats, {v: len(t) for v, t in frame_truth.items()},
                   tmp_path / "s.npz", "rtfm", device="cpu")
    meta = load_scores(tmp_path / "s.npz")[1]
    assert meta["selection"] == "best_test" and "test labels" in meta["note"]
    with pytest.raises(ValueError, match="after step 40"):
        train_rtfm(feats, labels, str(tmp_path / "y.pt"), {**params, "eval_after": 40}, device="cpu",
                   test=SelectionSet(test_feats, frame_truth))


def test_fit_steps_restores_the_best_epoch():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    states, values = [], iter([3.0, 1.0, 2.0])

    def validate() -> float:
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(values)

    batches = iter(lambda: torch.ones(4, 2), None)
    history, best = fit_steps(model, lambda x: (model(x).pow(2).mean(), {}), batches, steps=6, steps_per_epoch=2,
                              optimizer=opt, validate=validate)
    assert [h["val_loss"] for h in history] == [3.0, 1.0, 2.0] and [h["step"] for h in history] == [2, 4, 6]
    assert best.checks == [{"step": 2, "value": 3.0}, {"step": 4, "value": 1.0}, {"step": 6, "value": 2.0}]
    torch.testing.assert_close(model.state_dict()["weight"], states[1]["weight"])


def test_the_shared_loop_records_epochs_and_calls_its_hooks():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    steps, lrs = [], []

    def after_epoch(epoch, step, means):
        lrs.append(opt.param_groups[0]["lr"])                          # before the scheduler steps
        return {"epoch": epoch, "step": step, **means}

    history = fit(model, lambda x: (model(x).pow(2).mean(), {"part": 1.0}), opt,
                  lambda epoch: [torch.ones(4, 2)] * (epoch + 1), 3, "toy", scheduler=scheduler,
                  after_step=steps.append, after_epoch=after_epoch)
    assert [(h["epoch"], h["step"], h["part"]) for h in history] == [(0, 1, 1.0), (1, 3, 1.0), (2, 6, 1.0)]
    assert steps == [1, 2, 3, 4, 5, 6] and lrs == [0.1, 0.05, 0.025] and not model.training
    with pytest.raises(FloatingPointError, match="toy: the loss became nan in epoch 2"):
        fit(model, lambda x: (model(x).sum() * (x.sum() if len(x) == 2 else 0.0), {}), opt,
            lambda epoch: [torch.ones(1, 2)] if epoch == 0 else [torch.full((2, 2), math.nan)], 3, "toy")


def test_training_is_deterministic(data, tmp_path):
    _, (feats, labels, _), _ = data
    params = {**PARAMS["rtfm"][1], "steps": 4}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train_rtfm(feats, labels, str(tmp_path / f"{name}.pt"), {**params, "seed": seed}, device="cpu")
    a, b, c = (torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dicts"]["model"] for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_score_detector_writes_frame_scores(data, tmp_path):
    _, (feats, labels, _), (test_feats, _, _) = data
    train_baseline(feats, labels, str(tmp_path / "m.pt"), {**PARAMS["mlp"][1], "epochs": 2}, device="cpu")
    n_frames = {v: 16 * len(read_features(p, 32)) - 5 for v, p in test_feats.items()}
    score_detector(tmp_path / "m.pt", test_feats, n_frames, tmp_path / "scores.npz", "mlp_mtvae", {"a": 1}, "cpu")
    rows, meta = load_scores(tmp_path / "scores.npz")
    assert meta["method"] == "mlp_mtvae" and meta["protocol"] == "weak" and meta["pretrained"] is True
    assert meta["params"] == {"a": 1} and set(rows["mlp_mtvae"]) == set(test_feats)
    model, _ = load_model(tmp_path / "m.pt")
    video = next(iter(test_feats))
    x = read_features(test_feats[video], 32)
    expected = snippets_to_frames(snippet_scores(model, x), n_frames[video])
    np.testing.assert_allclose(rows["mlp_mtvae"][video], expected, rtol=1e-6)
    # crop scores are averaged: the mean of the single-crop scores
    per_crop = [snippet_scores(model, x[:, c:c + 1]) for c in range(x.shape[1])]
    np.testing.assert_allclose(snippet_scores(model, x), np.mean(per_crop, axis=0), rtol=1e-6)
    # a model trained on crop-averaged features scores crop-averaged test features
    train_baseline(feats, labels, str(tmp_path / "m2.pt"), {**PARAMS["mlp"][1], "epochs": 2, "crops": "mean"}, "cpu")
    score_detector(tmp_path / "m2.pt", test_feats, n_frames, tmp_path / "s2.npz", "mlp", device="cpu")
    model2, _ = load_model(tmp_path / "m2.pt")
    expected = snippets_to_frames(snippet_scores(model2, x.mean(axis=1, keepdims=True)), n_frames[video])
    np.testing.assert_allclose(load_scores(tmp_path / "s2.npz")[0]["mlp"][video], expected, rtol=1e-6)
    with pytest.raises(KeyError, match="no frame count"):
        score_detector(tmp_path / "m.pt", test_feats, {}, tmp_path / "x.npz", "mlp")
