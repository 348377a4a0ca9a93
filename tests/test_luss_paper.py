"""LUSS-AE against its paper (Lohani et al., VISAPP 2023), each check computed by hand on a tiny input:
which frame each score belongs to (sec. 3.2.2), the two clips of a training sample (Fig. 1, eq. 2 and 5),
the loss (eq. 3, 4, 6, 7), the per-video rescaling and combination of every row (eq. 15, 16), the heads'
size (Table 6) and the paper's settings as the defaults of config/config.yaml (sec. 4.3)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

import vadlib.oneclass.luss as luss
from vadlib.oneclass.clips import FrameSource, Windows
from vadlib.oneclass.luss import DEFAULTS, LUSSAE, luss_loss, training_clips, video_rows, window_scores
from vadlib.oneclass.rescalings import minmax, robust
from vadlib.stores import write_store

ROOT = Path(__file__).resolve().parents[1]
FRAME_ATTRS = {"source": "test", "fps": 25, "original_size": [16, 16], "stored_size": [16, 16]}
KERNEL_SUM = (1 + 2 * math.exp(-0.5) + 2 * math.exp(-2.0)) ** 2 / (2 * math.pi)   # eq. 10's taps, k 5, sigma 1


class Probe(nn.Module):
    """A stand-in for the network whose outputs are known: zero reconstruction and zero next frame, and
    PRP logits ``[0, mean of the clip]`` (so the accelerated probability is the sigmoid of that mean)."""

    def __init__(self, clip_len: int):
        super().__init__()
        self.clip_len = clip_len
        self.prp_inputs: list[torch.Tensor] = []

    def forward(self, x):
        b, c, _, h, w = x.shape
        logits = torch.stack([torch.zeros(b), x.mean(dim=(1, 2, 3, 4))], dim=1)
        return torch.zeros_like(x), torch.zeros(b, c, h, w), logits

    def reconstruct_predict(self, x):
        recon, nxt, _ = self.forward(x)
        return recon, nxt

    def playback_logits(self, x):
        self.prp_inputs.append(x)
        return self.forward(x)[2]


def constant_video(tmp_path, levels) -> tuple[FrameSource, np.ndarray]:
    """Frames of constant grey ``levels``; returns the source and each frame's value in [-1, 1]."""
    frames = np.stack([np.full((16, 16, 3), v, dtype=np.uint8) for v in levels])
    path = write_store(tmp_path / "v.zarr", "frames", frames, FRAME_ATTRS)
    return FrameSource(str(path), 16, gray=True), np.asarray(levels, dtype=np.float64) / 127.5 - 1


def test_all_three_scores_belong_to_frame_T_plus_1(tmp_path):
    # 12 frames, T = 4: windows of T + 1 = 5 frames start at 0..7; window s scores frame s + 4
    video, a = constant_video(tmp_path, [20 + 15 * t for t in range(12)])
    p = {"test_stride": 1, "batch": 3, "blur_size": 5, "blur_sigma": 1.0, "pool_stride": 2}
    scores = window_scores(Probe(4), video, p, torch.device("cpu"))
    for s in range(8):
        clip, nxt = a[s:s + 4], a[s + 4]
        f = s + 4
        assert scores["vcr_mse"][f] == pytest.approx(np.mean(clip ** 2), rel=1e-5)          # eq. 12 with MSE
        assert scores["ffp_mse"][f] == pytest.approx(nxt ** 2, rel=1e-5)                     # eq. 13 with MSE
        assert scores["prp"][f] == pytest.approx(1 / (1 + math.exp(-clip.mean())), rel=1e-5)  # eq. 14
        # a uniform error e: PSE (eq. 9) is (e sum G)^2; BPE (eq. 11) the 8 x 8 pooled map of (e sum G)^2 / 256
        assert scores["ffp_pse"][f] == pytest.approx((nxt * KERNEL_SUM) ** 2, rel=1e-4)
        assert scores["ffp_bpe"][f] == pytest.approx(64 * (nxt * KERNEL_SUM) ** 2 / 256, rel=1e-4)
        assert scores["vcr_bpe"][f] == pytest.approx(np.mean(64 * (clip * KERNEL_SUM) ** 2 / 256), rel=1e-4)
    # the first T frames have no window ending on them: they take frame T + 1's score
    for name, values in scores.items():
        assert values.shape == (12,)
        assert np.all(values[:4] == values[4]), name


def test_a_video_shorter_than_a_window_scores_its_last_frame(tmp_path):
    video, a = constant_video(tmp_path, [60, 90, 120])
    scores = window_scores(Probe(4), video, {"test_stride": 1, "batch": 2, "blur_size": 5, "blur_sigma": 1.0,
                                             "pool_stride": 2}, torch.device("cpu"))
    # one window, indices clamped to 0, 1, 2, 2 | 2: its frame T + 1 is the last frame
    assert scores["ffp_mse"].tolist() == pytest.approx([a[2] ** 2] * 3, rel=1e-5)
    assert scores["vcr_mse"][0] == pytest.approx(np.mean(a[[0, 1, 2, 2]] ** 2), rel=1e-5)


def test_training_clips_one_vcr_and_one_prp_clip_per_sample():
    lengths = [40, 100]
    vcr_pairs = np.array([[0, 3], [1, 10], [0, 35]])
    prp_pairs = np.array([[1, 50], [0, 7], [1, 0]])
    # never accelerated: PRP clips are the T = 4 consecutive frames at their own window's start
    vcr, prp, labels = training_clips(np.random.default_rng(0), lengths, vcr_pairs, prp_pairs, 4, (2, 3, 4, 5), 0.0)
    assert [(v, ix.tolist()) for v, ix in vcr] == [(0, [3, 4, 5, 6, 7]), (1, [10, 11, 12, 13, 14]),
                                                   (0, [35, 36, 37, 38, 39])]           # V_{T+1,1}, eq. 2
    assert [(v, ix.tolist()) for v, ix in prp] == [(1, [50, 51, 52, 53]), (0, [7, 8, 9, 10]), (1, [0, 1, 2, 3])]
    assert labels == [0, 0, 0]
    # always accelerated: T frames s apart, s in {2..5}, from the PRP window's video, moved back to fit
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(50):
        vcr, prp, labels = training_clips(rng, lengths, vcr_pairs, prp_pairs, 4, (2, 3, 4, 5), 1.0)
        assert labels == [1, 1, 1]
        for (v, ix), (u, start) in zip(prp, prp_pairs):
            step = np.diff(ix)
            assert v == u and len(ix) == 4 and len(set(step)) == 1 and 2 <= step[0] <= 5
            assert ix[0] == min(start, lengths[u] - 1 - 3 * step[0]) and ix[-1] < lengths[u]
            seen.add(int(step[0]))
        assert [ix.tolist() for _, ix in vcr][0] == [3, 4, 5, 6, 7]     # the VCR clip is never strided
    assert seen == {2, 3, 4, 5}
    # p = 0.5 (eq. 5): half the clips accelerated, each stride a quarter of those
    rng = np.random.default_rng(2)
    labels, strides = [], []
    for _ in range(1000):
        _, prp, lab = training_clips(rng, [200], np.array([[0, 0]]), np.array([[0, 20]]), 16, (2, 3, 4, 5), 0.5)
        labels += lab
        strides += [int(np.diff(prp[0][1])[0])] if lab[0] else []
    assert np.mean(labels) == pytest.approx(0.5, abs=0.05)
    assert np.bincount(strides, minlength=6)[2:] / len(strides) == pytest.approx([0.25] * 4, abs=0.05)
    with pytest.raises(ValueError, match="one PRP window per sample"):
        training_clips(rng, lengths, vcr_pairs, prp_pairs[:2], 4, (2,), 0.5)


def test_loss_is_eq_7_on_the_two_clips():
    torch.manual_seed(0)
    clips = torch.rand(3, 1, 5, 4, 4) * 2 - 1           # V_{T+1,1}: T = 4 frames and the next one
    prp_clips = torch.rand(3, 1, 4, 4, 4) * 2 - 1
    labels = torch.tensor([0, 1, 1])
    probe = Probe(4)
    loss, parts = luss_loss(probe, clips, labels, {"vcr": 0.6, "ffp": 0.4, "prp": 1.0}, prp_clips=prp_clips)
    vcr = float((clips[:, :, :4] ** 2).mean())                  # eq. 3: all samples, the reconstruction is 0
    ffp = float((clips[:, :, 4] ** 2).mean())                   # eq. 4
    m = prp_clips.mean(dim=(1, 2, 3, 4)).tolist()               # PRP logits [0, m] of the PRP clips
    ce = np.mean([math.log(1 + math.exp(mi)) - (mi if y else 0.0) for mi, y in zip(m, [0, 1, 1])])  # eq. 6
    assert parts["vcr"] == pytest.approx(vcr, rel=1e-5) and parts["ffp"] == pytest.approx(ffp, rel=1e-5)
    assert parts["prp"] == pytest.approx(ce, rel=1e-5)
    assert loss.item() == pytest.approx(0.6 * vcr + 0.4 * ffp + ce, rel=1e-5)
    assert len(probe.prp_inputs) == 1 and probe.prp_inputs[0] is prp_clips


def test_every_row_is_rescaled_per_video_and_combined_by_eq_15():
    comps = {f"{t}_{m}": np.array(v, dtype=float) for t, v in (("vcr", [1, 2, 3, 4, 10]), ("ffp", [5, 4, 3, 2, 1]))
             for m in ("mse", "pse", "bpe")}
    comps["prp"] = np.array([0.1, 0.1, 0.2, 0.9, 0.1])
    rows = video_rows(comps, {"vcr": 0.1, "ffp": 0.8, "prp": 1.0}, "bpe", robust)
    # eq. 16 by hand for [1, 2, 3, 4, 10]: median 3; P1 at position 0.04 -> 1.04, P99 at 3.96 -> 4 + 0.96 * 6
    vcr = (np.array([1, 2, 3, 4, 10]) - 3) / (9.76 - 1.04)
    # [5, 4, 3, 2, 1]: median 3, P1 1.04, P99 4.96
    ffp = (np.array([5, 4, 3, 2, 1]) - 3) / (4.96 - 1.04)
    # [0.1, 0.1, 0.2, 0.9, 0.1] sorted [0.1, 0.1, 0.1, 0.2, 0.9]: median 0.1, P1 0.1, P99 0.2 + 0.96 * 0.7
    prp = (np.array([0.1, 0.1, 0.2, 0.9, 0.1]) - 0.1) / (0.872 - 0.1)
    assert rows["vcr_bpe"] == pytest.approx(vcr, rel=1e-5) and rows["vcr_mse"] == pytest.approx(vcr, rel=1e-5)
    assert rows["ffp_pse"] == pytest.approx(ffp, rel=1e-5) and rows["prp"] == pytest.approx(prp, rel=1e-5)
    assert rows["combined_bpe"] == pytest.approx(0.1 * vcr + 0.8 * ffp + 1.0 * prp, rel=1e-5)
    assert np.array_equal(rows["combined"], rows["combined_bpe"])
    mm = lambda x: (x - x.min()) / (x.max() - x.min())                          # noqa: E731 - Table 5's Min-Max
    expected = 0.1 * mm(comps["vcr_bpe"]) + 0.8 * mm(comps["ffp_bpe"]) + mm(comps["prp"])
    assert rows["combined_minmax"] == pytest.approx(expected, rel=1e-5)
    assert np.array_equal(video_rows(comps, {"vcr": 1, "ffp": 0, "prp": 0}, "mse", minmax)["vcr_mse"],
                          minmax(comps["vcr_mse"]))


def test_training_draws_each_sample_two_independent_windows(tmp_path, monkeypatch):
    frames = np.random.default_rng(0).integers(0, 255, size=(20, 32, 32, 3)).astype(np.uint8)
    path = str(write_store(tmp_path / "f.zarr", "frames", frames, {**FRAME_ATTRS, "original_size": [32, 32],
                                                                   "stored_size": [32, 32]}))
    calls = []
    real = luss.training_clips

    def record(rng, lengths, vcr_pairs, prp_pairs, *args):
        calls.append((vcr_pairs.copy(), prp_pairs.copy()))
        return real(rng, lengths, vcr_pairs, prp_pairs, *args)

    monkeypatch.setattr(luss, "training_clips", record)
    params = {"size": 32, "clip_len": 8, "batch": 4, "widths": [4, 8, 8, 8], "epochs": 1}
    luss.train_luss([path], str(tmp_path / "m.pt"), params, "cpu")
    every = Windows([20], 9).pairs.tolist()                                     # 12 windows of T + 1 = 9
    vcr = np.concatenate([c[0] for c in calls]).tolist()
    prp = np.concatenate([c[1] for c in calls]).tolist()
    assert sorted(vcr) == sorted(every) and sorted(prp) == sorted(every)        # each pass: every window once
    assert vcr != prp                                                           # drawn independently


def test_heads_have_the_size_of_table_6():
    model = LUSSAE()                                     # T = 16, grey, MemAE's widths
    count = lambda m: sum(p.numel() for p in m.parameters())                    # noqa: E731
    assert count(model.ae) / 1e6 == pytest.approx(5.98, abs=0.005)              # "3DCAE: 5.98M"
    assert count(model) / 1e6 == pytest.approx(6.12, abs=0.005)                 # "LUSS-AE: 6.12M"
    with torch.no_grad():
        recon, nxt, logits = model(torch.zeros(1, 1, 16, 256, 256))
    assert recon.shape == (1, 1, 16, 256, 256) and nxt.shape == (1, 1, 256, 256) and logits.shape == (1, 2)


def test_config_defaults_are_the_papers_settings():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    shared, section = config["oneclass"], config["luss"]
    # sec. 4.3: 256 x 256, T = 16, batch 16, MemAE's autoencoder; every window (stride 1)
    assert shared["size"] == 256 and shared["clip_len"] == 16 and shared["batch"] == 16
    assert shared["widths"] == [96, 128, 256, 256] and shared["train_stride"] == 1 and shared["test_stride"] == 1
    paper = {"lr": 1e-4, "gray": True, "loss_weights": {"vcr": 0.6, "ffp": 0.4, "prp": 1.0},
             "strides": [2, 3, 4, 5], "p_accelerated": 0.5, "error": "bpe", "blur_size": 5, "blur_sigma": 1.0,
             "pool_stride": 2, "weights": {"vcr": 0.1, "ffp": 0.8, "prp": 1.0}, "rescaling": "robust",
             "epochs": 60}                               # epochs: the paper is silent, the published code's 60
    assert {k: section[k] for k in paper} == paper
    assert set(section) == set(paper)                    # no other key drifts in unnoticed
    # the code's own defaults are the same
    assert {k: DEFAULTS[k] for k in paper} == paper
    assert {k: DEFAULTS[k] for k in shared} == shared
    # per-dataset weights (sec. 4.3)
    for name, weights in (("avenue", {"vcr": 0.1, "ffp": 1.0, "prp": 0.1}),
                          ("shanghai", {"vcr": 0.2, "ffp": 0.2, "prp": 0.9})):
        dataset = yaml.safe_load((ROOT / "config" / "datasets" / f"{name}.yaml").read_text())
        assert dataset["params"]["luss"]["weights"] == weights
