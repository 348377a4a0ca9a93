"""Training the weakly supervised detectors on tiny separable features, and scoring test videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vadlib.scores import load_scores
from vadlib.snippets import snippets_to_frames
from vadlib.weak import score_detector, train_baseline, train_lanet, train_rtfm
from vadlib.weak.checkpoint import load_model
from vadlib.weak.data import read_features
from vadlib.weak.score import snippet_scores
from vadlib.weak.train import fit
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


@pytest.mark.parametrize("kind", ["mlp", "rtfm", "lanet"])
def test_detector_learns_separable_features(kind, data, tmp_path):
    root, (feats, labels, _), (test_feats, _, truths) = data
    train, params = PARAMS[kind]
    history = train(feats, labels, str(tmp_path / f"{kind}.pt"), params, device="cpu")
    assert history[-1]["loss"] < history[0]["loss"]
    model, ckpt = load_model(tmp_path / f"{kind}.pt", kind=kind)
    assert ckpt["pretrained"] is False and ckpt["config"]["seed"] == 0
    assert snippet_auc(model, test_feats, truths, 32) > 0.8


def test_baseline_keeps_the_best_validation_epoch(data, tmp_path):
    _, (feats, labels, _), _ = data
    history = train_baseline(feats, labels, str(tmp_path / "m.pt"), {**PARAMS["mlp"][1], "epochs": 5}, device="cpu")
    _, ckpt = load_model(tmp_path / "m.pt")
    assert len(ckpt["val_videos"]) == 4 and len(ckpt["train_videos"]) == 16      # 1/5 of each label held out
    assert all("val_loss" in h for h in history)


def test_fit_restores_the_best_epoch():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    states, values = [], iter([3.0, 1.0, 2.0])

    def validate() -> float:
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(values)

    batches = iter(lambda: torch.ones(4, 2), None)
    history = fit(model, lambda x: (model(x).pow(2).mean(), {}), batches, steps=6, steps_per_epoch=2,
                  optimizer=opt, validate=validate)
    assert [h["val_loss"] for h in history] == [3.0, 1.0, 2.0] and [h["step"] for h in history] == [2, 4, 6]
    torch.testing.assert_close(model.state_dict()["weight"], states[1]["weight"])


def test_training_is_deterministic(data, tmp_path):
    _, (feats, labels, _), _ = data
    params = {**PARAMS["rtfm"][1], "steps": 4}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train_rtfm(feats, labels, str(tmp_path / f"{name}.pt"), {**params, "seed": seed}, device="cpu")
    a, b, c = (torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dict"] for n in "abc")
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
