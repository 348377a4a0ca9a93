"""The spatio-temporal pseudo-anomaly method against its paper (Rai et al., CVPR 2024 workshops), each
check computed by hand on a tiny input: the anomaly score of sec. 4.2 (w_1 from the 9th frame's PSNR,
w_2 from the 9th flow's L2 loss, w_3 the discriminator's probability, eq. 6), the report of a
discriminator that gives one value to every frame, the feature standardisation that keeps the paper's SGD
step from killing the discriminator, and the paper's settings as the defaults of config/config.yaml."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from vadlib.oneclass.clips import FlowSource, FrameSource
from vadlib.oneclass.stpa import (
    COLLAPSE_RANGE,
    DEFAULTS,
    Discriminator,
    aggregate,
    collapse_note,
    discriminator_notes,
    train_discriminator,
    video_scores,
)
from vadlib.stores import write_store

ROOT = Path(__file__).resolve().parents[1]


class Zero(nn.Module):
    """An autoencoder stand-in that reconstructs every clip as zeros."""

    def forward(self, x):
        return torch.zeros_like(x)


def by_hand_minmax(x):
    x = np.asarray(x, dtype=np.float64)
    return (x - x.min()) / (x.max() - x.min())


def test_anomaly_score_of_sec_4_2_by_hand(tmp_path):
    n, L, scale = 20, 8, 2.0
    levels = [30 + 10 * t for t in range(n)]                    # frame t: constant grey level (RGB)
    frames = np.stack([np.full((16, 16, 3), v, dtype=np.uint8) for v in levels])
    a = np.asarray(levels, dtype=np.float64) / 127.5 - 1          # its value in [-1, 1]
    u = np.array([0.5 + 0.25 * ((3 * t) % 7) for t in range(n - 1)])   # flow t: both channels u_t pixels
    flow = np.stack([np.full((16, 16, 2), v) for v in u]).astype(np.float16)
    fpath = write_store(tmp_path / "f.zarr", "frames", frames, {"source": "t", "fps": 25, "original_size": [16, 16],
                                                                "stored_size": [16, 16]})
    opath = write_store(tmp_path / "o.zarr", "flow", flow, {"method": "t", "parameters": {}})
    # D by hand: one input, one hidden unit: logit = 2 relu((x - 0.5) / 2) - 1
    disc = Discriminator(1, 1)
    with torch.no_grad():
        disc.net[0].weight.fill_(1.0), disc.net[0].bias.zero_()
        disc.net[2].weight.fill_(2.0), disc.net[2].bias.fill_(-1.0)
        disc.mean.fill_(0.5), disc.std.fill_(2.0)
    feats = np.array([[[0.0], [2.5]], [[4.5], [1.5]]], dtype=np.float32)   # 2 snippets x 2 crops
    parts = video_scores(Zero(), Zero(), disc, FrameSource(str(fpath), 16), FlowSource(str(opath), 16), feats,
                         L, 1, 5, torch.device("cpu"), scale)

    # w_1: windows start 0..12, each scores its 9th frame (start + 4) with PSNR = 10 log10(2^2 / a^2);
    # frames 0-3 and 17-19 take the nearest scored frame; then 1 - minmax per video
    psnr = 10 * np.log10(4 / a ** 2)
    scored = np.clip(np.arange(n), 4, 16)
    assert parts["spatial"] == pytest.approx(1 - by_hand_minmax(psnr[scored]), abs=1e-5)
    # w_2: 19 flows, windows start 0..11, the 9th flow (start + 4) gives frame start + 4 its eq. 5 loss
    # ||0 - u / scale||^2 / (C H W) = (u / scale)^2; frames 0-3 and 16-19 padded; minmax per video
    loss = (u / scale) ** 2
    scored = np.clip(np.arange(n), 4, 15)
    assert parts["temporal"] == pytest.approx(by_hand_minmax(loss[scored]), abs=1e-5)
    # w_3: sigmoid(2 relu((x - 0.5) / 2) - 1) per crop, crops averaged, each snippet to its 16 frames
    sig = lambda z: 1 / (1 + math.exp(-z))                          # noqa: E731
    p0 = (sig(-1.0) + sig(2 * 1.0 - 1)) / 2                          # x = 0 -> relu 0; x = 2.5 -> 1
    p1 = (sig(2 * 2.0 - 1) + sig(2 * 0.5 - 1)) / 2                   # x = 4.5 -> 2; x = 1.5 -> 0.5
    assert parts["discriminator"] == pytest.approx([p0] * 16 + [p1] * 4, rel=1e-6)
    # eq. 6 with eta = (0.5, 2, 3)
    eta = {"spatial": 0.5, "temporal": 2.0, "discriminator": 3.0}
    out = aggregate(parts, eta)
    nodisc = 0.5 * parts["spatial"] + 2.0 * parts["temporal"]
    assert out["combined_nodisc"] == pytest.approx(nodisc, rel=1e-5)
    assert out["combined"] == pytest.approx(nodisc + 3.0 * parts["discriminator"], rel=1e-5)


def test_a_discriminator_with_one_value_on_every_frame_is_reported():
    assert collapse_note(np.linspace(0.2, 0.8, 50), "test frame") == ""
    flat = np.full(40, 0.4488)
    flat[7] += COLLAPSE_RANGE / 2
    note = collapse_note(flat, "test frame")
    assert "collapsed" in note and "0.4488" in note and "test frame" in note
    with pytest.warns(RuntimeWarning, match="collapsed discriminator"):
        notes = discriminator_notes({"a": np.full(10, 0.4488), "b": np.full(6, 0.4488)},
                                    {"semantic_features": "i3d", "semantic_features_pretrained": True})
    assert set(notes) == {"discriminator", "combined"} and "0.4488" in notes["discriminator"]
    # spread over every test frame, not per video: constant per video but different across videos is fine
    assert discriminator_notes({"a": np.full(10, 0.2), "b": np.full(6, 0.7)},
                               {"semantic_features_pretrained": True}) == {}
    # features of an extractor without pretrained weights are named as such
    notes = discriminator_notes({"a": np.linspace(0, 1, 5)}, {"semantic_features": "i3d",
                                                               "semantic_features_pretrained": False})
    assert notes == {"discriminator": "semantic features from i3d without pretrained weights"}


def i3d_like(rng, n, dim, base, shift):
    """Non-negative features around ``base`` (I3D's scale: mean about 1.6), moved by ``shift``."""
    return np.abs(base + shift + rng.normal(0, 0.1, size=(n, dim))).astype(np.float32)


def test_standardised_features_keep_the_papers_sgd_from_killing_the_discriminator():
    rng = np.random.default_rng(0)
    dim = 256
    base = np.abs(rng.normal(1.6, 0.8, size=(1, dim)))
    shift = np.zeros(dim)
    shift[:dim // 10] = 0.15
    normal, pseudo = i3d_like(rng, 64, dim, base, 0.0), i3d_like(rng, 64, dim, base, shift)
    p = dict(DEFAULTS)                                     # SGD 0.02 / 0.9 / 1e-3, batch 16, 20 epochs
    torch.manual_seed(0)
    disc = Discriminator(dim, 32)
    _, check = train_discriminator(disc, normal, pseudo, p, np.random.default_rng(0), torch.device("cpu"))
    assert check["discriminator_train_accuracy"] > 0.95 and check["discriminator_train_note"] == ""
    both = np.concatenate([normal, pseudo])
    assert disc.mean.numpy() == pytest.approx(both.mean(0), rel=1e-4)
    assert disc.std.numpy() == pytest.approx(both.std(0), rel=1e-3)
    # the same training on the raw features: every hidden ReLU dies, D is one constant, and it is reported
    torch.manual_seed(0)
    raw = Discriminator(dim, 32)
    raw.fit_standardisation = lambda features: None
    with pytest.warns(RuntimeWarning, match="collapsed discriminator"):
        _, check = train_discriminator(raw, normal, pseudo, p, np.random.default_rng(0), torch.device("cpu"))
    assert check["discriminator_train_spread"] < COLLAPSE_RANGE and "collapsed" in check["discriminator_train_note"]


def test_standardisation_floor_for_constant_dimensions():
    disc = Discriminator(3, 2)
    disc.fit_standardisation(torch.tensor([[1.0, 5.0, 0.0], [3.0, 5.0, 4.0]]))
    # std per dimension 1, 0, 2; the constant one keeps 1e-3 of the mean std (1e-3)
    assert disc.mean.tolist() == pytest.approx([2.0, 5.0, 2.0])
    assert disc.std.tolist() == pytest.approx([1.0, 1e-3, 2.0])


def test_config_defaults_are_the_papers_settings():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    shared, section = config["oneclass"], config["stpa"]
    # sec. 4.1: T = 16, 256 x 256, MemAE's autoencoder; every window scored (sec. 4.2, as LNTRA)
    assert shared["size"] == 256 and shared["clip_len"] == 16 and shared["widths"] == [96, 128, 256, 256]
    assert shared["test_stride"] == 1
    paper = {"epochs": 25, "batch": 24, "lr": 1e-4, "p_spatial": 0.4, "p_temporal": 0.5,
             "disc_epochs": 20, "disc_batch": 16, "disc_lr": 0.02, "disc_momentum": 0.9, "disc_weight_decay": 1e-3}
    ours = {"semantic_features": "i3d",                                   # substitution for ViFi-CLIP
            "disc_hidden": 512,                                           # the supplement's table is not ours
            "eta": {"spatial": 1.0, "temporal": 1.0, "discriminator": 1.0}}   # the supplement's values neither
    assert {k: section[k] for k in paper} == paper
    assert {k: section[k] for k in ours} == ours
    assert set(section) == set(paper) | set(ours)
    assert {k: DEFAULTS[k] for k in section} == section
    assert config["mixup"]["alpha"] == 0.4                                # sec. 3.3: Beta(0.4)
