"""The evaluation's figures (ROC of the main rows, the score components, the timelines) and the training
curves, built from small synthetic scores and sidecars."""

from __future__ import annotations

import json

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex

from vadlib.data.manifest import VideoEntry, save_ground_truth, write_manifest
from vadlib.evaluate.figures import Curve, components_figure, method_colours, roc_figure, timeline_figure
from vadlib.evaluate.report import EvaluationError, evaluate, main_row, shown_videos
from vadlib.evaluate.training import read_curves, spans_decades, training_figure, training_report
from vadlib.scores import save_scores


def _labelled(ax: plt.Axes) -> list:
    """The lines of ``ax`` that have a legend entry (the chance diagonal has none)."""
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def _outside(fig, legend, axes) -> bool:
    """Whether the drawn ``legend`` overlaps none of ``axes``."""
    fig.draw_without_rendering()
    box = legend.get_window_extent()
    return not any(box.overlaps(ax.get_window_extent()) for ax in axes)


def _curve(label, protocol, main, auc):
    fpr = np.array([0.0, 1 - auc, 1.0])
    return Curve(label, label.split("/")[0], protocol, main, fpr, np.array([0.0, 1.0, 1.0]), auc)


CURVES = [_curve("reference", "oneclass", True, 0.70), _curve("reference", "weak", True, 0.60),
          _curve("mlp", "weak", True, 0.80), _curve("rtfm", "weak", True, 0.85),
          *[_curve(f"luss/{row}", "oneclass", row == "combined", 0.5 + i / 100)
            for i, row in enumerate(["vcr_mse", "vcr_pse", "ffp_mse", "prp", "combined", "combined_minmax"])],
          *[_curve(f"stpa/{row}", "oneclass", row == "combined", 0.6 + i / 100)
            for i, row in enumerate(["spatial", "temporal", "combined"])]]


def test_main_row_of_a_method():
    assert main_row("mlp", ["mlp"]) == "mlp"
    assert main_row("luss", ["vcr_mse", "combined_mse", "combined", "combined_minmax"]) == "combined"
    assert main_row("x", ["b", "a"]) == "b"
    with pytest.raises(EvaluationError, match="method 'x': its scores file holds no row"):
        main_row("x", [])


def test_roc_holds_the_main_rows_one_panel_per_protocol():
    colours = method_colours(["reference", "mlp", "rtfm", "luss", "stpa"])
    fig = roc_figure(CURVES, "toy", ["oneclass", "weak"], colours)
    one, weak = fig.axes
    assert (one.get_title(), weak.get_title()) == ("one-class", "weakly supervised")
    labels = {ax.get_title(): [line.get_label() for line in _labelled(ax)] for ax in fig.axes}
    # main rows only, by AUC, the AUC in the label
    assert labels == {"one-class": ["reference  0.700", "stpa/combined  0.620", "luss/combined  0.540"],
                      "weakly supervised": ["rtfm  0.850", "mlp  0.800", "reference  0.600"]}
    for ax in fig.axes:
        hexes = [to_hex(line.get_color()) for line in _labelled(ax)]
        assert len(set(hexes)) == len(hexes)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [line.get_label() for line in _labelled(ax)]
        assert _outside(fig, ax.get_legend(), fig.axes)
    # a method has one colour in every panel, the one it was given
    ref = [to_hex(line.get_color()) for ax in fig.axes for line in _labelled(ax) if line.get_label().startswith("ref")]
    assert ref == [to_hex(colours["reference"])] * 2
    plt.close(fig)


def test_method_colours_never_repeat():
    for n in (3, 10, 11, 20, 27):
        colours = method_colours([f"m{i}" for i in range(n)] + ["m0"])
        assert len(colours) == n and len({to_hex(c) for c in colours.values()}) == n


def test_components_figure_has_a_panel_per_method_with_components():
    fig = components_figure(CURVES, "toy")
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert [ax.get_title() for ax in panels] == ["luss (one-class)", "stpa (one-class)"]
    luss = _labelled(panels[0])
    assert len(luss) == 6 and len({to_hex(line.get_color()) for line in luss}) == 6
    widths = {line.get_label().split()[0]: line.get_linewidth() for line in luss}
    assert widths["combined"] > max(w for row, w in widths.items() if row != "combined")
    assert all(_outside(fig, ax.get_legend(), panels) for ax in panels)
    plt.close(fig)


def test_timelines_show_the_main_rows_with_a_legend_outside():
    truth = {"a": np.array([0, 0, 1, 1, 0]), "b": np.zeros(4, np.uint8)}
    scores = {"luss/combined": {"a": np.arange(5.0), "b": np.arange(4.0)}, "mlp": {"a": np.ones(5)}}
    methods = {"luss/combined": "luss", "mlp": "mlp"}
    colours = method_colours(["mlp", "luss"])
    fig = timeline_figure(["a", "b"], truth, scores, "toy", colours, methods, note="2 of 9 test videos")
    a, b = fig.axes[:2]
    assert [line.get_label() for line in _labelled(a)] == ["luss/combined", "mlp"]
    assert [line.get_label() for line in _labelled(b)] == ["luss/combined"]  # mlp has no scores for b
    assert [to_hex(line.get_color()) for line in _labelled(a)] == [to_hex(colours["luss"]), to_hex(colours["mlp"])]
    np.testing.assert_allclose(_labelled(a)[0].get_ydata(), [0, .25, .5, .75, 1])  # min-max scaled per video
    assert len(a.patches) == 1 and not b.patches  # the one anomalous interval of a is shaded
    assert "2 of 9 test videos" in fig._suptitle.get_text()
    legend, = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["luss/combined", "mlp", "ground-truth anomaly"]
    assert _outside(fig, legend, fig.axes)
    plt.close(fig)


def test_shown_videos_put_the_abnormal_ones_first():
    truth = {v: np.array([int(v in "bd"), 0]) for v in "abcd"}
    assert shown_videos(list("abcd"), truth, 3) == ["b", "d", "a"]
    assert shown_videos(list("abcd"), truth, 0) == ["b", "d", "a", "c"]


@pytest.fixture
def dataset(tmp_path):
    entries = [VideoEntry("tr", "x", "video", 0, split_oneclass="train", split_weak="train"),
               *[VideoEntry(v, "x", "video", int(v < "c"), split_oneclass="test", split_weak="test") for v in "abcd"]]
    write_manifest(tmp_path / "manifest.csv", entries)
    save_ground_truth(tmp_path / "gt.npz", {"a": np.array([0, 1, 1]), "b": np.array([1, 0, 0]),
                                            "c": np.zeros(3), "d": np.zeros(3)})
    rng = np.random.default_rng(0)
    videos = {v: rng.random(3) for v in "abcd"}
    save_scores(tmp_path / "luss.npz", {row: videos for row in ("prp", "combined", "combined_minmax")},
                {"method": "luss", "protocol": "oneclass"})
    save_scores(tmp_path / "mlp.npz", {"mlp": videos}, {"method": "mlp", "protocol": "weak"})
    save_scores(tmp_path / "reference.npz", {"reference": videos},
                {"method": "reference", "protocol": ["oneclass", "weak"]})
    return tmp_path


def test_evaluation_marks_the_main_rows_and_draws_them(dataset):
    files = [str(dataset / f"{m}.npz") for m in ("reference", "mlp", "luss")]
    report = evaluate(str(dataset / "manifest.csv"), str(dataset / "gt.npz"), files, str(dataset / "auc.json"),
                      str(dataset / "roc.png"), str(dataset / "tl.png"), "toy", {}, timeline_videos=3,
                      out_components=str(dataset / "components.png"))
    main = {(r["label"], r["protocol"]) for r in report["rows"] if r["main"]}
    assert main == {("reference", "oneclass"), ("reference", "weak"), ("mlp", "weak"), ("luss/combined", "oneclass")}
    assert json.loads((dataset / "auc.json").read_text())["rows"] == json.loads(json.dumps(report["rows"]))
    for name in ("roc.png", "tl.png", "components.png"):
        assert matplotlib.image.imread(dataset / name).shape[0] > 200


# --- training curves ------------------------------------------------------------------------------------

def _sidecars(folder):
    """One sidecar of each layout: a weak detector (steps, validation, a selection run), a one-class model
    of two stages and the embedded LDM (a model directory)."""
    folder.mkdir(exist_ok=True)
    weak = {"method": "mlp", "protocol": "weak",
            "history": [{"epoch": e, "step": 50 * (e + 1), "lr": 1e-3, "loss": 2.0 / (e + 1), "val_loss": 1.0}
                        for e in range(4)],
            "extra": {"selection": {"best_epoch": 1, "history": [{"epoch": e, "step": 40 * (e + 1), "loss": 1.0,
                                                                  "val_loss": 0.9} for e in range(6)]}}}
    (folder / "mlp.json").write_text(json.dumps(weak))
    spatial = [{"loss": 10.0 ** -e, "pseudo_fraction": .4} for e in range(3)]  # spans two decades
    oneclass = {"method": "stpa", "protocol": "oneclass",
                "history": {"spatial": spatial, "discriminator": [{"loss": .7, "bce": .7}] * 5}}
    (folder / "stpa.json").write_text(json.dumps(oneclass))
    (folder / "ldm").mkdir(exist_ok=True)
    (folder / "ldm/vadlib_ldm.json").write_text(json.dumps({"ae_losses": [.5, .4], "unet_losses": [.8, .6, .5]}))
    return [folder / "mlp.pt", folder / "stpa.pt", folder / "ldm"]


def test_sidecars_of_each_layout_give_their_recorded_losses(tmp_path):
    mlp, stpa, ldm = (read_curves(m) for m in _sidecars(tmp_path / "models"))
    assert (mlp.name, mlp.xlabel, [s.label for s in mlp.series]) == (
        "mlp", "step", ["training", "training, validation", "selection run", "selection run, validation"])
    assert mlp.series[0].x == [50, 100, 150, 200] and mlp.series[0].y == [2.0, 1.0, 2 / 3, 0.5]
    assert len(mlp.series[2].y) == 6 and mlp.series[2].dashed and not mlp.series[0].dashed
    assert (stpa.name, stpa.xlabel, [(s.label, s.x) for s in stpa.series]) == (
        "stpa", "epoch", [("spatial", [1, 2, 3]), ("discriminator", [1, 2, 3, 4, 5])])
    assert [(s.label, s.y) for s in ldm.series] == [("autoencoder", [.5, .4]), ("UNet", [.8, .6, .5])]
    assert spans_decades(stpa.series) and not spans_decades(ldm.series) and not spans_decades(mlp.series)


def test_training_figure_has_a_panel_per_model(tmp_path):
    models = [read_curves(m) for m in _sidecars(tmp_path / "models")]
    fig = training_figure(models, "toy")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["mlp", "stpa", "ldm"]
    for ax, model in zip(panels, models):
        assert [len(line.get_xdata()) for line in _labelled(ax)] == [len(s.y) for s in model.series]
    assert [ax.get_yscale() for ax in panels] == ["linear", "log", "linear"]
    assert panels[0].get_xlabel() == "step" and panels[1].get_xlabel() == "epoch"
    plt.close(fig)
    assert len(training_report(_sidecars(tmp_path / "m2"), tmp_path / "t.png", "toy")) == 3
    assert matplotlib.image.imread(tmp_path / "t.png").shape[0] > 200


def test_a_model_without_a_sidecar_fails_naming_it(tmp_path):
    (tmp_path / "lanet.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"lanet\.pt: no sidecar with its training losses"):
        read_curves(tmp_path / "lanet.pt")
    (tmp_path / "lanet.pt.json").write_text("{}")                      # the sidecar of the older layout
    with pytest.raises(FileNotFoundError, match=r"lanet\.pt\.json is the sidecar of an older checkpoint layout"):
        read_curves(tmp_path / "lanet.pt")
