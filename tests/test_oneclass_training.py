"""Short training runs of the three one-class methods on a tiny synthetic set of moving squares: the loss
goes down, the scores files hold one score per frame of every row, the same seed gives the same model,
and bad inputs fail with the name of the store or parameter."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vadlib.oneclass import score_luss, score_memae_cvae, score_stpa, train_luss, train_memae_cvae, train_stpa
from vadlib.oneclass.train import load_checkpoint, save_checkpoint
from vadlib.params import ConfigError
from vadlib.scores import load_scores
from vadlib.stores import StoreError, write_store

T, H, W = 24, 32, 32
TINY = {"size": 32, "clip_len": 8, "batch": 8, "widths": [4, 8, 8, 8], "train_stride": 2}


def squares(speed: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[T, H, W, 3]`` of a bright square moving right by ``speed`` px per frame, and its flow."""
    rng = np.random.default_rng(seed)
    frames = np.full((T, H, W, 3), 40, dtype=np.uint8)
    flow = np.zeros((T - 1, H, W, 2), dtype=np.float16)
    y, x0 = int(rng.integers(0, H - 6)), int(rng.integers(0, W // 2))
    for t in range(T):
        x = (x0 + speed * t) % (W - 6)
        frames[t, y:y + 6, x:x + 6] = 220
        if t < T - 1:
            flow[t, y:y + 6, x:x + 6, 0] = speed
    return frames, flow


def features(frames: np.ndarray, shift: float, seed: int) -> np.ndarray:
    snippets = -(-len(frames) // 16)
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(snippets, 2, 16)) * 0.1 + shift).astype(np.float16)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    put = {
        "frames": lambda p, a: write_store(p, "frames", a, {"source": "toy", "fps": 25, "original_size": [H, W],
                                                             "stored_size": [H, W]}),
        "flow": lambda p, a: write_store(p, "flow", a, {"method": "exact", "parameters": {}}),
        "inpainted": lambda p, a: write_store(p, "inpainted", a,
                                              {"model": "toy", "pretrained": False, "parameters": {}}),
        "masks": lambda p, a: write_store(p, "masks", a, {"generator": "toy", "parameters": {}}),
        "features": lambda p, a: write_store(p, "features", a, {"extractor": "toy", "weights": "none",
                                                                 "pretrained": False, "snippet_len": 16,
                                                                 "preprocessing": {}}),
    }
    d = {k: [] for k in ("frames", "flow", "inpainted", "masks", "mixup", "features", "inpainted_features")}
    for i in range(3):
        frames, flow = squares(1, i)
        rng = np.random.default_rng(100 + i)
        inpainted, masks = frames.copy(), np.zeros((T, H, W), dtype=bool)
        for t in range(0, T, 2):
            y, x = rng.integers(0, H - 8, size=2)
            masks[t, y:y + 8, x:x + 8] = True
            inpainted[t, y:y + 8, x:x + 8] = rng.integers(0, 256, size=3)
        mixup = flow.copy()
        mixup[:, :8, :8] = rng.normal(size=(T - 1, 8, 8, 2)) * 2
        d["frames"].append(str(put["frames"](root / f"f{i}.zarr", frames)))
        d["flow"].append(str(put["flow"](root / f"o{i}.zarr", flow)))
        d["inpainted"].append(str(put["inpainted"](root / f"i{i}.zarr", inpainted)))
        d["masks"].append(str(put["masks"](root / f"m{i}.zarr", masks)))
        d["mixup"].append(str(put["flow"](root / f"x{i}.zarr", mixup)))
        d["features"].append(str(put["features"](root / f"F{i}.zarr", features(frames, 0.0, i))))
        d["inpainted_features"].append(str(put["features"](root / f"Fi{i}.zarr", features(frames, 1.0, i))))
    test = {k: {} for k in ("frames", "flow", "features")}
    for name, speed, shift in (("normal", 1, 0.0), ("fast", 4, 1.0)):
        frames, flow = squares(speed, 9)
        test["frames"][name] = str(put["frames"](root / f"tf_{name}.zarr", frames))
        test["flow"][name] = str(put["flow"](root / f"to_{name}.zarr", flow))
        test["features"][name] = str(put["features"](root / f"tF_{name}.zarr", features(frames, shift, 9)))
    return root, d, test


def check_scores(path: Path, rows: set[str], method: str, videos: dict[str, str]) -> dict:
    loaded, meta = load_scores(path)
    assert set(loaded) == rows
    assert meta["method"] == method and meta["protocol"] == "oneclass" and meta["pretrained"] is False
    for row in rows:
        assert set(loaded[row]) == set(videos)
        for scores in loaded[row].values():
            assert scores.shape == (T,) and np.isfinite(scores).all()
    return loaded


def lowered(history: list[dict]) -> bool:
    return history[-1]["loss"] < history[0]["loss"]


def test_luss_trains_scores_and_is_deterministic(toy):
    root, d, test = toy
    params = {**TINY, "epochs": 3}
    history = train_luss(d["frames"], str(root / "luss.pt"), params, "cpu")
    # the reconstruction and prediction losses go down; the playback-rate cross-entropy of 8-clip batches
    # with random labels starts near log 2 and is too noisy over 12 steps to be held to a trend
    assert history[-1]["vcr"] < history[0]["vcr"] and history[-1]["ffp"] < history[0]["ffp"], history
    ckpt = load_checkpoint(root / "luss.pt", "luss")
    assert ckpt["pretrained"] is False and ckpt["params"]["clip_len"] == 8
    assert (root / "luss.json").exists()
    rows = {f"{t}_{m}" for t in ("vcr", "ffp") for m in ("mse", "pse", "bpe")} | {
        "prp", "combined_mse", "combined_pse", "combined_bpe", "combined", "combined_minmax"}
    score_luss(str(root / "luss.pt"), test["frames"], str(root / "luss.npz"), params, "cpu")
    scores = check_scores(root / "luss.npz", rows, "luss", test["frames"])
    assert np.array_equal(scores["combined"]["fast"], scores["combined_bpe"]["fast"])
    # every component row is rescaled per video (eq. 16): median 0 and P99 - P1 = 1 (or all zeros)
    for row in rows - {"combined", "combined_minmax", "combined_mse", "combined_pse", "combined_bpe"}:
        for values in scores[row].values():
            span = np.percentile(values, 99) - np.percentile(values, 1)
            assert np.median(values) == pytest.approx(0, abs=1e-6)
            assert span == pytest.approx(1, rel=1e-4) or not values.any()

    # same seed, same model; another seed, another model
    short = {**params, "epochs": 1}
    train_luss(d["frames"], str(root / "a.pt"), short, "cpu")
    train_luss(d["frames"], str(root / "b.pt"), short, "cpu")
    train_luss(d["frames"], str(root / "c.pt"), {**short, "seed": 1}, "cpu")
    a, b, c = (load_checkpoint(root / f"{n}.pt", "luss") for n in "abc")
    assert a["history"] == b["history"]
    a, b, c = (ckpt["state_dicts"]["model"] for ckpt in (a, b, c))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_memae_cvae_trains_and_scores(toy):
    root, d, test = toy
    params = {**TINY, "memae_epochs": 3, "cvae_epochs": 3, "slots": 5, "cvae_widths": [4, 8], "latent": 2,
              "norm_windows": 16}
    history = train_memae_cvae(d["frames"], d["flow"], str(root / "mc.pt"), params, "cpu")
    assert lowered(history["memae"]) and lowered(history["cvae"]), history
    stats = load_checkpoint(root / "mc.pt", "memae_cvae")["extra"]["component_stats"]
    assert set(stats) == {"reconstruction", "prediction", "compactness"}
    score_memae_cvae(str(root / "mc.pt"), test["frames"], test["flow"], str(root / "mc.npz"), params, "cpu")
    check_scores(root / "mc.npz", {"reconstruction", "prediction", "compactness", "combined"}, "memae_cvae",
                 test["frames"])


def test_stpa_trains_and_scores(toy):
    root, d, test = toy
    params = {**TINY, "epochs": 3, "disc_epochs": 15, "disc_hidden": 8}
    history = train_stpa(d["frames"], d["flow"], d["inpainted"], d["masks"], d["mixup"], d["features"],
                         d["inpainted_features"], str(root / "st.pt"), params, "cpu")
    assert all(lowered(history[k]) for k in ("spatial", "temporal", "discriminator")), history
    extra = load_checkpoint(root / "st.pt", "stpa")["extra"]
    # pseudo-anomalous snippets: the one 16-frame snippet with masked frames of each video, 2 crops
    assert extra["pseudo_snippets"] == 3 * 2 * 2 and extra["semantic_features"] == "i3d"
    score_stpa(str(root / "st.pt"), test["frames"], test["flow"], test["features"], str(root / "st.npz"),
               params, "cpu")
    scores = check_scores(root / "st.npz", {"spatial", "temporal", "discriminator", "combined",
                                            "combined_nodisc"}, "stpa", test["frames"])
    # the features of the "fast" video lie with the pseudo-anomalies: the discriminator separates them
    assert scores["discriminator"]["fast"].min() > scores["discriminator"]["normal"].max()
    assert np.allclose(scores["combined"]["fast"],
                       scores["combined_nodisc"]["fast"] + scores["discriminator"]["fast"], atol=1e-6)


def test_stpa_scores_file_notes_a_collapsed_discriminator(toy, tmp_path):
    root, d, test = toy
    params = {**TINY, "epochs": 1, "disc_epochs": 1, "disc_hidden": 8}
    path = tmp_path / "st.pt"
    train_stpa(d["frames"], d["flow"], d["inpainted"], d["masks"], d["mixup"], d["features"],
               d["inpainted_features"], str(path), params, "cpu")
    extra = load_checkpoint(path, "stpa")["extra"]
    assert extra["semantic_features_pretrained"] is False and 0 <= extra["discriminator_train_accuracy"] <= 1
    # a discriminator whose output layer is zero gives sigmoid(bias) to every frame
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dicts"]["discriminator"]["net.2.weight"].zero_()
    torch.save(ckpt, path)
    with pytest.warns(RuntimeWarning, match="collapsed discriminator"):
        score_stpa(str(path), test["frames"], test["flow"], test["features"], str(tmp_path / "st.npz"), params, "cpu")
    rows, meta = load_scores(tmp_path / "st.npz")
    value = float(torch.sigmoid(ckpt["state_dicts"]["discriminator"]["net.2.bias"])[0])
    assert all(np.allclose(v, value) for v in rows["discriminator"].values())
    assert "collapsed discriminator" in meta["notes"]["discriminator"]
    assert "without pretrained weights" in meta["notes"]["discriminator"]      # the toy features are untrained
    assert "collapsed" in meta["notes"]["combined"] and set(meta["notes"]) == {"discriminator", "combined"}
    assert meta["discriminator_test_spread"] == pytest.approx(0.0, abs=1e-6)


def test_bad_inputs_name_the_store_or_parameter(toy, tmp_path):
    root, d, test = toy
    with pytest.raises(ConfigError, match="luss.epoch"):
        train_luss(d["frames"], str(tmp_path / "x.pt"), {**TINY, "epoch": 1}, "cpu")
    with pytest.raises(ValueError, match="multiple of 8"):
        train_luss(d["frames"], str(tmp_path / "x.pt"), {**TINY, "clip_len": 12}, "cpu")
    with pytest.raises(ValueError, match="differ in length"):
        train_stpa(d["frames"], d["flow"][:2], d["inpainted"], d["masks"], d["mixup"], d["features"],
                   d["inpainted_features"], str(tmp_path / "x.pt"), TINY, "cpu")
    short = write_store(tmp_path / "short.zarr", "flow", np.zeros((5, H, W, 2), np.float16),
                        {"method": "x", "parameters": {}})
    with pytest.raises(StoreError, match="short.zarr: axis 'time' has size 5, expected 23"):
        train_memae_cvae(d["frames"][:1], [str(short)], str(tmp_path / "x.pt"), TINY, "cpu")
    save_checkpoint(tmp_path / "luss.pt", {}, method="luss", protocol="oneclass", params=TINY, pretrained=False)
    with pytest.raises(ValueError, match="'method' is 'luss', expected 'stpa'"):
        score_stpa(str(tmp_path / "luss.pt"), test["frames"], test["flow"], test["features"], str(tmp_path / "s.npz"),
                   TINY, "cpu")
    with pytest.raises(StoreError, match="no such frames store"):
        train_luss([str(tmp_path / "missing.zarr")], str(tmp_path / "x.pt"), TINY, "cpu")
    assert not (tmp_path / "x.pt").exists()


def test_checkpoint_round_trips_with_weights_only_and_refuses_the_older_layout(tmp_path):
    net = torch.nn.Conv3d(1, 2, 3)
    history = {"train": [{"loss": 1.0, "vcr": 0.5}]}
    extra = {"flow_scale": np.float32(2.5), "component_stats": {"a": {"mean": np.float64(0.1)}}, "size": (32, 32)}
    save_checkpoint(tmp_path / "m.pt", {"model": net}, method="luss", protocol="oneclass", params=TINY,
                    pretrained=False, history=history, extra=extra)
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    ckpt = load_checkpoint(tmp_path / "m.pt", "luss", "oneclass")
    assert ckpt["history"] == history and ckpt["params"] == TINY and ckpt["model_args"] == {}
    assert ckpt["extra"] == {"flow_scale": 2.5, "component_stats": {"a": {"mean": 0.1}}, "size": [32, 32]}
    assert all(torch.equal(ckpt["state_dicts"]["model"][k], v) for k, v in net.state_dict().items())
    assert json.loads((tmp_path / "m.json").read_text()) == {k: v for k, v in raw.items() if k != "state_dicts"}
    with pytest.raises(ValueError, match="field 'protocol' is 'oneclass', expected 'weak'"):
        load_checkpoint(tmp_path / "m.pt", "luss", "weak")
    # the one-class layout before: weights under "state", the sidecar m.json, numpy values in the metadata
    old = {"method": "luss", "protocol": "oneclass", "pretrained": False, "params": TINY, "extra": {}, "history": {},
           "state": {"model": net.state_dict()}}
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"old\.pt: written by an older checkpoint layout \(vadlib\.oneclass"):
        load_checkpoint(tmp_path / "old.pt", "luss")
    torch.save({**old, "extra": {"flow_scale": np.float32(2.5)}}, tmp_path / "old2.pt")
    with pytest.raises(ValueError, match=r"old2\.pt: cannot be read with torch\.load\(weights_only=True\)"
                                         r".*an older layout"):
        load_checkpoint(tmp_path / "old2.pt", "luss")
