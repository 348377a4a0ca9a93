import json

import numpy as np
import pytest

from vadlib.data.manifest import VideoEntry, save_ground_truth, write_manifest
from vadlib.evaluate.metrics import EvaluationError
from vadlib.evaluate.report import evaluate
from vadlib.evaluate.table import format_table
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


def run(tmp_path, scores_files):
    return evaluate(str(tmp_path / "manifest.csv"), str(tmp_path / "gt.npz"), scores_files,
                    str(tmp_path / "auc.json"), str(tmp_path / "roc.png"), str(tmp_path / "tl.png"), "toy",
                    {"seed": 1})


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
