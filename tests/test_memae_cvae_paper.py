"""The multi-layer MemAE + CVAE against its paper (Long et al., "Video Sequence Anomaly Detection with
Multi-Layer Memory-Augmented Autoencoder"): the losses of eqs. 10-17 and the score normalisation
computed by hand on tiny inputs, the CVAE's flow window (the flow into the predicted frame is not an
input), end-to-end training, and the defaults of config/config.yaml (docs/methods/memae_cvae.md)."""

import copy
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
import yaml

from vadlib.oneclass import memae_cvae as mc
from vadlib.oneclass.cvae import FlowCVAE, condition_flow_indices, cvae_objective, gradient_loss
from vadlib.oneclass.memae import MemAEOutput, MultiLevelMemAE, memae_objective
from vadlib.params import ConfigError
from vadlib.scores import load_scores
from vadlib.stores import write_store

ROOT = Path(__file__).resolve().parents[1]

# config/config.yaml's memae_cvae section. Paper: training (end to end), memory_levels (sec. 3.3),
# gray (RGB). Everything else is not given by the paper: our choices, each with its reason in
# docs/methods/memae_cvae.md. A change here is a change of the method's defaults: update the page.
EXPECTED = {
    "gray": False,
    "lr": 1.0e-4,
    "training": "end_to_end",
    "memae_epochs": 80,
    "cvae_epochs": 80,
    "memory_levels": [2, 3, 4],
    "slots": 10,
    "shrink_threshold": 0.1,
    "tau": 0.5,
    "margin": 1.0,
    "lambda_compact": 0.1,
    "lambda_separate": 0.1,
    "history": 4,
    "cvae_widths": [64, 128, 128, 128],
    "latent": 64,
    "lambda_vae": 1.0,
    "lambda_gra": 1.0,
    "norm_windows": 512,
    "rescaling": "minmax",
    "weights": {"reconstruction": 1.0, "prediction": 1.0, "compactness": 1.0},
}


def test_config_pins_the_defaults():
    section = yaml.safe_load((ROOT / "config/config.yaml").read_text())["memae_cvae"]
    assert section == EXPECTED
    # the code's defaults are the same values (a run without the config gets the same method)
    assert {k: mc.DEFAULTS[k] for k in EXPECTED} == EXPECTED
    assert set(mc.DEFAULTS) - set(EXPECTED) == set(mc.SHARED)
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    sub = {"$defs": schema["$defs"], **schema["properties"]["memae_cvae"]}
    jsonschema.validate(section, sub)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**section, "memory_levels": [0]}, sub)


def test_memae_loss_divides_the_sums_of_eqs_10_11_by_the_queries():
    x = torch.zeros(1, 1, 1, 1, 2)
    out = MemAEOutput(recon=torch.tensor([[[[[1.0, 3.0]]]]]), compactness=torch.tensor(0.5),
                      separation=torch.tensor(0.25), index=torch.zeros(1), reach=torch.tensor(1.0))
    loss, parts = memae_objective(out, x, lambda_compact=0.2, lambda_separate=0.4)
    # mean squared error (1 + 9) / 2 = 5, plus 0.2 * 0.5 + 0.4 * 0.25
    assert loss.item() == pytest.approx(5.0 + 0.1 + 0.1)
    assert parts["reconstruction"] == pytest.approx(5.0)


def test_memae_output_is_the_per_query_mean_over_memories():
    torch.manual_seed(0)
    model = MultiLevelMemAE(1, (2, 2, 2, 2), slots=3).eval()
    x = torch.rand(2, 1, 8, 16, 16)
    outs = []
    for mem in model.memories.values():
        mem.register_forward_hook(lambda m, i, o: outs.append(o[1]))
    out = model(x)
    assert len(outs) == 3
    assert out.compactness.item() == pytest.approx(np.mean([o.compactness.item() / o.queries for o in outs]),
                                                   rel=1e-5)
    assert out.separation.item() == pytest.approx(np.mean([o.separation.item() / o.queries for o in outs]),
                                                  rel=1e-5)
    assert out.index.tolist() == pytest.approx(torch.stack([o.index for o in outs]).mean(0).tolist(), rel=1e-5)


def test_eq_15_to_17_by_hand():
    target = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])       # C H W = 4 values
    pred = torch.zeros(1, 1, 2, 2)
    kl = torch.tensor([0.5])
    # |x - x^|^2 = 2; eq. 16: horizontal gradients 1, 1 against 0, 0 -> 2, vertical 0 -> 0
    # zeta = lambda_VAE (2 + 0.5) + lambda_gra 2, divided by 4 values
    loss, parts = cvae_objective(pred, kl, target, lambda_vae=2.0, lambda_gra=3.0)
    assert loss.item() == pytest.approx((2.0 * (2.0 + 0.5) + 3.0 * 2.0) / 4)
    assert parts == pytest.approx({"prediction": 0.5, "kl": 0.125, "gradient": 0.5})
    # two samples: the mean over the samples
    loss2, _ = cvae_objective(torch.cat([pred, target]), torch.tensor([0.5, 0.0]), torch.cat([target, target]),
                              lambda_vae=2.0, lambda_gra=3.0)
    assert loss2.item() == pytest.approx(((2.0 * 2.5 + 3.0 * 2.0) + 0.0) / 2 / 4)


def test_eq_16_as_printed_is_not_minimised_by_the_target():
    """The printed product form rates a wrong prediction below the exact one; the gradient difference
    loss that is implemented does not."""
    x = [[0.0, 1.0], [0.0, 1.0]]
    x_hat = [[0.0, 0.0], [1.0, 1.0]]

    def printed(a, b):   # sum_{i,j} (|a_ij - a_i-1,j| - |b_ij - b_i-1,j|) (|a_ij - a_i,j-1| - |b_ij - b_i,j-1|)
        return sum((abs(a[i][j] - a[i - 1][j]) - abs(b[i][j] - b[i - 1][j]))
                   * (abs(a[i][j] - a[i][j - 1]) - abs(b[i][j] - b[i][j - 1])) for i in (1,) for j in (1,))

    assert printed(x, x) == 0.0 and printed(x, x_hat) == -1.0
    t, o = torch.tensor([[x]]), torch.tensor([[x_hat]])
    assert gradient_loss(t, t).item() == 0.0
    # vertical: |0| - |1| twice -> 2; horizontal: |1| - |0| twice -> 2
    assert gradient_loss(t, o).item() == pytest.approx(4.0)


def test_flow_window_is_the_flows_into_the_observed_frames():
    # clip 0..7, the CVAE sees frames 4..7 and predicts 8; flow k goes from frame k to k + 1
    assert condition_flow_indices(0, 8, 4, 20).tolist() == [3, 4, 5, 6]
    assert 7 not in condition_flow_indices(0, 8, 4, 20)            # flow 7 -> 8 leads into the target
    assert condition_flow_indices(10, 8, 1, 20).tolist() == [16]
    assert condition_flow_indices(0, 8, 4, 3).tolist() == [2, 2, 2, 2]   # clamped to the store
    with pytest.raises(ValueError, match="history"):
        condition_flow_indices(0, 8, 8, 20)


T, S = 12, 16


def _stores(tmp_path, name, flow):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(T, S, S, 3), dtype=np.uint8)
    f = write_store(tmp_path / f"f_{name}.zarr", "frames", frames,
                    {"source": "toy", "fps": 25, "original_size": [S, S], "stored_size": [S, S]})
    o = write_store(tmp_path / f"o_{name}.zarr", "flow", flow, {"method": "exact", "parameters": {}})
    return str(f), str(o)


PARAMS = {"size": S, "clip_len": 8, "batch": 4, "widths": [2, 2, 2, 2], "train_stride": 1, "slots": 3,
          "cvae_widths": [4, 4], "latent": 2, "norm_windows": 4, "memae_epochs": 1, "cvae_epochs": 1}


def test_prediction_does_not_see_the_flow_into_the_target(tmp_path):
    p = mc.resolve(PARAMS, mc.DEFAULTS, mc.METHOD)
    torch.manual_seed(0)
    memae, cvae = mc._build(p)
    memae.eval()
    cvae.eval()
    flow = np.random.default_rng(1).normal(size=(T - 1, S, S, 2)).astype(np.float16)
    start = 2                                   # clip 2..9, CVAE frames 6..9, target 10, flows 5..8

    def prediction(name, changed):
        f = flow.copy()
        if changed is not None:
            f[changed] = 50.0
        data = mc._Data(*([x] for x in _stores(tmp_path, name, f)), p, desc=None)
        clips, flows, nxt = data.batch(0, [start], 1.0, "cpu")
        return mc._window_components(memae, cvae, clips, flows, nxt)["prediction"], flows

    base, flows = prediction("base", None)
    assert torch.equal(flows[0, :, 0], torch.from_numpy(flow[5:9, :, :, 0].astype(np.float32)))
    target_flow, _ = prediction("target", 9)    # flow 9 -> 10: into the predicted frame
    assert np.array_equal(base, target_flow)
    observed_flow, _ = prediction("observed", 8)   # flow 8 -> 9: into the last observed frame
    assert not np.array_equal(base, observed_flow)


def test_end_to_end_prediction_loss_trains_the_memae():
    torch.manual_seed(0)
    memae = MultiLevelMemAE(3, (2, 2, 2, 2), slots=3)
    cvae = FlowCVAE(3, 4, (4, 4), 2)
    clips = torch.rand(2, 3, 8, 16, 16) * 2 - 1
    out = memae(clips)
    pred, kl = cvae(mc._observed(out.recon, 4), torch.randn(2, 4, 2, 16, 16))
    loss, _ = cvae_objective(pred, kl, clips[:, :, 0])
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in memae.ae.encoder[0].parameters())


def _toy(tmp_path, n):
    paths = []
    for i in range(n):
        flow = np.zeros((T - 1, S, S, 2), dtype=np.float16)
        paths.append(_stores(tmp_path, f"v{i}", flow))
    return [f for f, _ in paths], [o for _, o in paths]


def test_training_modes_and_scores_normalised_per_video(tmp_path):
    frames, flows = _toy(tmp_path, 2)
    joint = mc.train_memae_cvae(frames, flows, str(tmp_path / "e2e.pt"), PARAMS, "cpu")
    assert set(joint) == {"joint", "memae", "cvae"}
    assert joint["joint"][0]["loss"] == pytest.approx(joint["memae"][0]["loss"] + joint["cvae"][0]["loss"], rel=1e-5)
    staged = mc.train_memae_cvae(frames, flows, str(tmp_path / "two.pt"), {**PARAMS, "training": "two_stage"}, "cpu")
    assert set(staged) == {"memae", "cvae"}
    test_frames = {"a": frames[0], "b": frames[1]}
    test_flows = {"a": flows[0], "b": flows[1]}
    rows = mc.score_memae_cvae(str(tmp_path / "e2e.pt"), test_frames, test_flows, str(tmp_path / "s.npz"),
                               PARAMS, "cpu")
    meta = load_scores(tmp_path / "s.npz")[1]
    assert set(meta["normalisation"]) == set(rows) and "min-max" in meta["normalisation"]["combined"]
    for videos in rows.values():
        for scores in videos.values():
            assert scores.shape == (T,) and scores.min() >= 0 and scores.max() <= 1
            assert scores.max() == 1 or scores.max() == 0   # min-max per video (0 when constant)


def test_bad_values_name_their_field(tmp_path):
    frames, flows = _toy(tmp_path, 1)
    for bad, field in (({"training": "joint"}, "training"), ({"memae_epochs": 2}, "memae_epochs"),
                       ({"history": 8}, "history"), ({"rescaling": "zscore"}, "rescaling"),
                       ({"tau": 0.0}, "tau")):
        with pytest.raises(ValueError, match=field):
            mc.train_memae_cvae(frames, flows, str(tmp_path / "x.pt"), {**PARAMS, **bad}, "cpu")
    with pytest.raises(ConfigError, match="memae_cvae.weights.flow"):
        mc.train_memae_cvae(frames, flows, str(tmp_path / "x.pt"), {**PARAMS, "weights": {"flow": 1.0}}, "cpu")


def test_rows_minmax_by_hand():
    raw = {"reconstruction": np.array([1.0, 2.0, 3.0]), "prediction": np.array([0.0, 0.0, 4.0]),
           "compactness": np.array([2.0, 2.0, 2.0])}
    rows = mc.combine_rows(raw, {"reconstruction": 1.0, "prediction": 0.5, "compactness": 1.0}, "minmax")
    assert rows["reconstruction"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert rows["prediction"].tolist() == pytest.approx([0.0, 0.0, 1.0])
    assert rows["compactness"].tolist() == [0.0, 0.0, 0.0]          # constant: no evidence
    # weighted sum [0, 0.5, 1.5], min-max normalised again
    assert rows["combined"].tolist() == pytest.approx([0.0, 1 / 3, 1.0])


def test_rows_training_stats_by_hand():
    raw = {"reconstruction": np.array([1.0, 3.0]), "prediction": np.array([2.0, 2.0]),
           "compactness": np.array([0.0, 1.0])}
    stats = {"reconstruction": {"mean": 1.0, "std": 2.0}, "prediction": {"mean": 0.0, "std": 0.0},
             "compactness": {"mean": 1.0, "std": 0.5}}
    rows = mc.combine_rows(raw, {"reconstruction": 1.0, "prediction": 0.1, "compactness": 1.0},
                           "training_stats", copy.deepcopy(stats))
    assert rows["reconstruction"].tolist() == pytest.approx([0.0, 1.0])
    assert rows["prediction"].tolist() == pytest.approx([2.0, 2.0])    # std 0: divided by 1
    assert rows["compactness"].tolist() == pytest.approx([-2.0, 0.0])
    assert rows["combined"].tolist() == pytest.approx([0.0 + 0.2 - 2.0, 1.0 + 0.2 + 0.0])
