"""MT-VAE training on the baseline's abnormal snippets, and the pseudo videos it makes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vadlib.stores import open_store
from vadlib.weak import generate_pseudo, losses, train_baseline, train_mtvae, train_rtfm
from vadlib.weak.checkpoint import load_model
from vadlib.weak.data import read_features, read_pseudo_index
from vadlib.weak.mtvae import ABNORMAL, MTVAE, NORMAL
from vadlib.weak.pseudo import copies_per_video, pseudo_video, transform
from vadlib.weak.score import snippet_scores

from weak_synthetic import write_dataset

BASE = {"feature_dim": 32, "segments": 8}
MTVAE_PARAMS = {**BASE, "encoder": [16, 8], "epochs": 3, "max_snippets": 32, "lr": 1e-3}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pseudo")
    feats, labels, _ = write_dataset(root / "train", 6, 4, seed=0, pretrained=True)
    train_baseline(feats, labels, str(root / "mlp.pt"), {**BASE, "hidden": [16], "epochs": 20, "batch_size": 8},
                   device="cpu")
    history = train_mtvae(feats, labels, str(root / "mlp.pt"), str(root / "mtvae.pt"), MTVAE_PARAMS, device="cpu")
    return root, feats, labels, history


def test_mtvae_trains_on_the_baselines_abnormal_snippets(trained):
    root, feats, labels, history = trained
    assert history[-1]["loss"] < history[0]["loss"]
    _, ckpt = load_model(root / "mtvae.pt", kind="mtvae")
    baseline, _ = load_model(root / "mlp.pt")
    for video, chosen in ckpt["extra"]["abnormal_snippets"].items():
        assert labels[video] == 1
        scores = snippet_scores(baseline, read_features(feats[video], 32))
        assert chosen == np.flatnonzero(scores > 0.5).tolist()
    assert sorted(ckpt["extra"]["normal_videos"]) == sorted(v for v in feats if labels[v] == 0)
    assert ckpt["pretrained"] is True and ckpt["params"]["encoder"] == [16, 8]
    assert ckpt["model_args"]["decoder"] == [16]                     # the encoder's reverse


def test_mtvae_batches_count_snippets_with_all_their_crops(trained, tmp_path, monkeypatch):
    root, feats, labels, _ = trained
    sizes = []
    real = losses.mtvae_loss

    def spy(normal, abnormal, alpha):
        sizes.append((len(normal[0]), len(abnormal[0])))
        return real(normal, abnormal, alpha)

    monkeypatch.setattr(losses, "mtvae_loss", spy)
    train_mtvae(feats, labels, str(root / "mlp.pt"), str(tmp_path / "m.pt"), {**MTVAE_PARAMS, "max_snippets": 3},
                device="cpu")
    crops = read_features(next(iter(feats.values())), 32).shape[1]
    _, ckpt = load_model(tmp_path / "m.pt")
    chosen = [len(v) for v in ckpt["extra"]["abnormal_snippets"].values()]
    assert crops == 2 and all(n == 3 * crops for n, _ in sizes)        # 3 snippets x 2 crops of a normal video
    assert {a for _, a in sizes} <= {min(3, c) * crops for c in chosen}


def test_mtvae_leaves_out_the_videos_the_baseline_held_out(trained, tmp_path):
    root, feats, labels, _ = trained
    train_baseline(feats, labels, str(tmp_path / "mlp.pt"),
                   {**BASE, "hidden": [16], "epochs": 20, "batch_size": 8, "refit": False}, device="cpu")
    held = set(load_model(tmp_path / "mlp.pt")[1]["extra"]["val_videos"])
    assert held
    train_mtvae(feats, labels, str(tmp_path / "mlp.pt"), str(tmp_path / "m.pt"), MTVAE_PARAMS, device="cpu")
    extra = load_model(tmp_path / "m.pt")[1]["extra"]
    assert set(extra["held_out_videos"]) == held
    assert not held & (set(extra["normal_videos"]) | set(extra["abnormal_snippets"]))


def test_mtvae_needs_abnormal_snippets(trained):
    root, feats, labels, _ = trained
    with pytest.raises(ValueError, match="scores no snippet"):
        train_mtvae(feats, labels, str(root / "mlp.pt"), str(root / "x.pt"), {**MTVAE_PARAMS, "threshold": 1.0},
                    device="cpu")


def test_pseudo_abnormal_replaces_half_the_snippets_in_order():
    torch.manual_seed(0)
    model = MTVAE(8, encoder=(6, 4), decoder=(6,)).eval()
    x = np.random.default_rng(0).random((7, 2, 8)).astype(np.float32)
    gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731 - same noise for both calls
    y, replaced = pseudo_video(model, x, 0, True, np.random.default_rng(3), gen(), torch.device("cpu"))
    assert len(replaced) == 3 and np.all(np.diff(replaced) > 0)                     # T // 2, sorted
    kept = np.setdiff1d(np.arange(7), replaced)
    np.testing.assert_array_equal(y[kept], x[kept])                                  # others untouched, in place
    expected = transform(model, x[replaced], ABNORMAL, True, gen(), torch.device("cpu"))
    np.testing.assert_allclose(y[replaced], expected, rtol=1e-6)                     # abnormal decoder, own latents
    assert not np.allclose(y[replaced], x[replaced])


def test_pseudo_normal_decodes_every_snippet():
    model = MTVAE(8, encoder=(6, 4), decoder=(6,)).eval()
    x = np.random.default_rng(1).random((5, 3, 8)).astype(np.float32)
    y, replaced = pseudo_video(model, x, 1, False, np.random.default_rng(0), torch.Generator(), torch.device("cpu"))
    np.testing.assert_array_equal(replaced, np.arange(5))
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(x.reshape(15, 8)))
        expected = model.decode(mu, NORMAL).numpy().reshape(5, 3, 8)
    np.testing.assert_allclose(y, expected, rtol=1e-5)


def test_copies_per_video():
    rng = np.random.default_rng(0)
    assert copies_per_video(6, 2.0, rng).tolist() == [2] * 6
    half = copies_per_video(6, 0.5, rng)
    assert sorted(half.tolist()) == [0, 0, 0, 1, 1, 1]
    assert copies_per_video(4, 1.5, rng).sum() == 6


def test_generate_pseudo_writes_stores_and_index(trained, tmp_path):
    root, feats, labels, _ = trained
    entries = generate_pseudo(feats, labels, str(root / "mtvae.pt"), tmp_path / "p", tmp_path / "index.csv",
                              MTVAE_PARAMS, device="cpu")
    assert len(entries) == 2 * len(feats)                                             # two per original
    index = read_pseudo_index(tmp_path / "index.csv")
    assert [e.name for e in index] == [e.name for e in entries]
    for e in index:
        store = open_store(e.path, "features", feature=32)
        src = read_features(feats[e.source_video], 32)
        y = np.asarray(store.read(), dtype=np.float32)
        assert store.shape == src.shape and store.attrs["source_video"] == e.source_video
        assert store.attrs["extractor"] == "mtvae" and store.attrs["pretrained"] is True
        assert e.label == 1 - labels[e.source_video] and store.attrs["label"] == e.label
        replaced = store.attrs["replaced"]
        if e.kind == "pseudo_abnormal":
            assert len(replaced) == len(src) // 2
            kept = np.setdiff1d(np.arange(len(src)), replaced)
            np.testing.assert_array_equal(y[kept], src[kept])
        else:
            assert e.kind == "pseudo_normal" and replaced == list(range(len(src)))
    # the same seed gives the same pseudo videos; another seed other ones
    again = generate_pseudo(feats, labels, str(root / "mtvae.pt"), tmp_path / "q", tmp_path / "q.csv",
                            MTVAE_PARAMS, device="cpu")
    other = generate_pseudo(feats, labels, str(root / "mtvae.pt"), tmp_path / "r", tmp_path / "r.csv",
                            {**MTVAE_PARAMS, "seed": 1}, device="cpu")
    first = read_features(entries[0].path, 32)
    np.testing.assert_array_equal(first, read_features(again[0].path, 32))
    assert not np.array_equal(first, read_features(other[0].path, 32))


def test_detector_trains_with_pseudo_videos(trained, tmp_path):
    root, feats, labels, _ = trained
    generate_pseudo(feats, labels, str(root / "mtvae.pt"), tmp_path / "p", tmp_path / "index.csv",
                    {**MTVAE_PARAMS, "sample_ratio": 1.0}, device="cpu")
    params = {**BASE, "hidden": 8, "classifier": [8], "steps": 2, "batch_size": 4}
    train_rtfm(feats, labels, str(tmp_path / "r.pt"), params, device="cpu", pseudo_index=str(tmp_path / "index.csv"))
    extra = load_model(tmp_path / "r.pt")[1]["extra"]
    assert extra["pseudo_videos"] == len(feats) and extra["pseudo_index"] == str(tmp_path / "index.csv")
