import json

import numpy as np
import pytest

from vadlib.data.manifest import VideoEntry, save_ground_truth, write_manifest
from vadlib.evaluate.metrics import EvaluationError, frame_metrics, macro_auc, pr_auc
from vadlib.evaluate.report import evaluate
from vadlib.evaluate.table import format_table, html_table
from vadlib.reference import motion_energy
from vadlib.scores import save_scores


@pytest.fixture
def dataset(tmp_path):
    entries = [VideoEntry("tr", "x", "video", 0, split_oneclass="train", split_weak="train"),
               VideoEntry("a", "x", "video", 1, split_oneclass="test", split_weak="test"),
               VideoEntry("b", "x", "video", 0, split_oneclass="test", split_weak="test")]
    write_manifest(tmp_path / "manifest.csv", entries)
    save_ground_truth(tmp_path / "gt.npz", {"a": np.array([0, 0, 1, 1]), "b": np.array([0, 0, 0])})
    return tmp_path


def run(tmp_path, scores_files, **kwargs):
    return evaluate(str(tmp_path / "manifest.csv"), str(tmp_path / "gt.npz"), scores_files,
                    str(tmp_path / "auc.json"), str(tmp_path / "roc.png"), str(tmp_path / "tl.png"), "toy",
                    {"seed": 1}, **kwargs)


def test_micro_auc_over_concatenated_frames(dataset):
    # frames a: [.1 .2 .9 .4], b: [.3 .5 .0]; positives .9 and .4; negatives .1 .2 .3 .5 .0
    # pairs won: .9 beats all 5, .4 beats 4 of 5 -> AUC = 9/10
    save_scores(dataset / "m.npz", {"m": {"a": [.1, .2, .9, .4], "b": [.3, .5, 0]},
                                    "part": {"a": [0, 0, 1, 1], "b": [0, 0, 0]}},
                {"method": "m", "protocol": "oneclass", "pretrained": False})
    report = run(dataset, [str(dataset / "m.npz")])
    rows = {r["label"]: r for r in report["rows"]}
    assert rows["m"]["auc"] == pytest.approx(0.9)
    assert rows["m/part"]["auc"] == pytest.approx(1.0)
    assert rows["m"]["frames"] == 7 and rows["m"]["videos"] == 2 and rows["m"]["abnormal_frames"] == 2
    saved = json.loads((dataset / "auc.json").read_text())
    assert saved["config"] == {"seed": 1} and saved["rows"][0]["pretrained"] is False
    assert (dataset / "roc.png").stat().st_size > 1000 and (dataset / "tl.png").stat().st_size > 1000
    assert "m/part" in format_table(saved)


def test_ap_and_the_pr_curve_area_by_hand():
    """y = 1 0 1 scored .9 .8 .7: the precision-recall curve holds (R, P) = (0, 1), (.5, 1), (.5, .5),
    (1, 2/3). AP (step sum, precision at each step's higher recall): .5 * 1 + 0 * .5 + .5 * 2/3 = 5/6.
    Trapezoids: .5 * (1 + 1) / 2 + 0 + .5 * (.5 + 2/3) / 2 = 1/2 + 7/24 = 19/24."""
    y, s = np.array([1, 0, 1]), np.array([.9, .8, .7])
    metrics = frame_metrics(s, y, videos=1)
    assert metrics.ap == pytest.approx(5 / 6) and metrics.pr_auc == pytest.approx(19 / 24)
    assert pr_auc(s, y) == pytest.approx(19 / 24) and metrics.ap - metrics.pr_auc == pytest.approx(1 / 24)
    # tied scores (the 16 frames of a snippet share one) can make the trapezoids the larger: y = 1 0 1 1
    # scored .9 .5 .5 .1 gives (0, 1), (1/3, 1), (2/3, 2/3), (1, 3/4): AP = 1/3 + 1/3 * 2/3 + 1/3 * 3/4
    # = 58/72, trapezoids 1/3 + 1/3 * (1 + 2/3) / 2 + 1/3 * (2/3 + 3/4) / 2 = (24 + 20 + 17) / 72 = 61/72
    metrics = frame_metrics(np.array([.9, .5, .5, .1]), np.array([1, 0, 1, 1]), videos=1)
    assert metrics.ap == pytest.approx(58 / 72) and metrics.pr_auc == pytest.approx(61 / 72)


def test_macro_auc_by_hand(tmp_path):
    """a: labels 0 1 1, scores .2 .9 .1 -> .9 beats .2, .1 does not: AUC 1/2. b: 0 0 1, .3 .05 .6 -> 1.
    c: all normal, no AUC. Macro = (1/2 + 1) / 2 = 3/4 over 2 videos. Micro: positives .9 .1 .6 against
    negatives .2 .3 .05 .8 .7 win 5 + 1 + 3 of 15 pairs = 0.6."""
    entries = [VideoEntry("tr", "x", "video", 0, split_weak="train")]
    entries += [VideoEntry(v, "x", "video", int(v != "c"), split_weak="test") for v in "abc"]
    write_manifest(tmp_path / "manifest.csv", entries)
    save_ground_truth(tmp_path / "gt.npz", {"a": np.array([0, 1, 1]), "b": np.array([0, 0, 1]), "c": np.array([0, 0])})
    save_scores(tmp_path / "w.npz", {"w": {"a": [.2, .9, .1], "b": [.3, .05, .6], "c": [.8, .7]}},
                {"method": "w", "protocol": "weak"})
    row = run(tmp_path, [str(tmp_path / "w.npz")])["rows"][0]
    assert row["macro_auc"] == pytest.approx(0.75) and row["macro_videos"] == 2
    assert row["auc"] == pytest.approx(0.6) and row["videos"] == 3
    saved = json.loads((tmp_path / "auc.json").read_text())["rows"][0]
    assert (saved["macro_auc"], saved["macro_videos"]) == (row["macro_auc"], 2) and saved["pr_auc"] == row["pr_auc"]
    # no video of both classes: macro AUC undefined while micro AUC is not
    assert macro_auc(np.array([.9, .8, .1, .2]), np.array([1, 1, 0, 0]), [2, 2]) == (None, 0)
    assert frame_metrics(np.array([.9, .8, .1, .2]), np.array([1, 1, 0, 0]), 2, [2, 2]).auc == 1.0
    with pytest.raises(EvaluationError, match=r"video lengths add up to 3 frames, the scores hold 4"):
        macro_auc(np.zeros(4), np.array([1, 0, 1, 0]), [1, 2])


def test_table_names_the_metric_and_shows_every_column(dataset):
    save_scores(dataset / "m.npz", {"m": {"a": [.1, .2, .9, .4], "b": [.3, .5, 0]}},
                {"method": "m", "protocol": "oneclass", "pretrained": False})
    report = run(dataset, [str(dataset / "m.npz")], metric="ap")
    row = report["rows"][0]
    # positives .9 .4 among .5 .3 .2 .1 0: AP = 5/6, trapezoids 19/24 (as above); video a alone has both classes
    assert row["ap"] == pytest.approx(5 / 6) and row["pr_auc"] == pytest.approx(19 / 24)
    assert row["macro_auc"] == 1.0 and row["macro_videos"] == 1
    text = format_table(report)
    assert text.startswith("toy: frame-level AUC and AP (%); the dataset is scored by AP")
    assert "  90.00  100.00    1   83.33   79.17        7      2  False" in text, text
    page = html_table(report)
    assert "<th class=num>macro AUC</th>" in page and "<td class=num>79.17</td>" in page and "PR-AUC: the" in page
    assert report["metric"] == "ap" and "scored by micro AUC" in format_table({**report, "metric": "auc"})
    new_keys = ("pr_auc", "macro_auc", "macro_videos")
    old = {"dataset": "old", "rows": [{k: v for k, v in row.items() if k not in new_keys}]}
    assert "  90.00       -    -   83.33       -" in format_table(old)        # an auc.json of before
    with pytest.raises(EvaluationError, match=r"dataset 'toy': field 'metric' must be one of \['auc', 'ap'\]"):
        run(dataset, [str(dataset / "m.npz")], metric="f1")


def test_protocol_list_gives_a_row_per_protocol(dataset):
    save_scores(dataset / "r.npz", {"reference": {"a": [0, 0, 1, 1], "b": [0, 1, 0]}},
                {"method": "reference", "protocol": ["oneclass", "weak"], "pretrained": None})
    report = run(dataset, [str(dataset / "r.npz")])
    assert [(r["label"], r["protocol"]) for r in report["rows"]] == [("reference", "oneclass"), ("reference", "weak")]
    assert report["rows"][0]["auc"] == pytest.approx(0.9)


def test_length_mismatch_names_the_video(dataset):
    save_scores(dataset / "m.npz", {"m": {"a": [.1, .2, .9], "b": [.3, .5, 0]}},
                {"method": "m", "protocol": "oneclass"})
    with pytest.raises(EvaluationError, match=r"video 'a' has 3 frame scores but its ground truth has 4"):
        run(dataset, [str(dataset / "m.npz")])


def test_motion_energy_on_a_known_clip():
    frames = np.zeros((4, 2, 2), np.uint8)
    frames[2] = 100  # a flash at frame 2
    np.testing.assert_allclose(motion_energy(frames[..., None].repeat(3, -1)), [0, 0, 100, 100], atol=1e-3)
    np.testing.assert_allclose(motion_energy(frames[..., None].repeat(3, -1), smooth=3), [0, 100 / 3, 200 / 3, 100],
                               atol=1e-3)


def test_notes_of_a_scores_file_reach_its_rows(dataset):
    """A note for every row (weights selected on the test labels) and one for a single row (a collapsed
    discriminator) are carried into auc.json beside the evaluation's own notes, with the selection."""
    save_scores(dataset / "s.npz", {"combined": {"a": [.1, .2, .9, .4], "b": [.3, .5, 0]},
                                    "discriminator": {"a": [.5] * 4, "b": [.5] * 3}},
                {"method": "stpa", "protocol": "oneclass", "notes": {"discriminator": "constant output"}})
    save_scores(dataset / "r.npz", {"rtfm": {"a": [.1, .2, .9, .4], "b": [.3, .5, 0]}},
                {"method": "rtfm", "protocol": "weak", "selection": "best_test", "note": "selected on the test labels"})
    rows = {r["label"]: r for r in run(dataset, [str(dataset / "s.npz"), str(dataset / "r.npz")])["rows"]}
    assert rows["stpa/discriminator"]["note"] == "constant output" and rows["stpa/combined"]["note"] == ""
    assert rows["rtfm"]["note"] == "selected on the test labels" and rows["rtfm"]["selection"] == "best_test"
    assert "selection" not in rows["stpa/combined"]
    assert "constant output" in format_table(json.loads((dataset / "auc.json").read_text()))


def test_published_numbers_fill_a_paper_column(dataset):
    save_scores(dataset / "l.npz", {"combined": {"a": [.1, .2, .9, .4], "b": [.3, .5, 0]},
                                    "prp": {"a": [0, 0, 1, 1], "b": [0, 0, 0]}},
                {"method": "luss", "protocol": "oneclass"})
    report = run(dataset, [str(dataset / "l.npz")], published={"luss/combined": 98.52, "luss/prp": {"value": 90.0}})
    rows = {r["label"]: r for r in report["rows"]}
    assert rows["luss/combined"]["paper"] == 98.52 and rows["luss/prp"]["paper"] == 90.0
    text = format_table(report)
    assert "paper" in text.splitlines()[1] and "98.52" in text
    page = html_table(report)
    assert "<th class=num>paper</th>" in page and "<td class=num>98.52</td>" in page
    unpublished = {**report, "rows": [{**r, "paper": None} for r in report["rows"]]}
    assert "paper" not in format_table(unpublished).splitlines()[1]
    with pytest.raises(EvaluationError, match="row 'luss/prp' must be a number"):
        run(dataset, [str(dataset / "l.npz")], published={"luss/prp": "high"})
