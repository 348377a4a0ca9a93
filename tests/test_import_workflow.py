"""Published features (the RTFM and XD-Violence layouts) through the workflow: adapter ``features``, rule
import_features, the weak detectors and the report, on tiny fixtures laid out as
config/datasets/*_i3d.yaml expect."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_xd_violence import ANNOTATION_LINES, XD_TEST, XD_TRAIN, intervals, make_gt, safe, write_xd

from vadlib.data.adapters import AdapterError, build, list_videos, manifest_inputs
from vadlib.data.manifest import load_ground_truth, read_manifest
from vadlib.stores import open_store

from conftest import ROOT, copy_workflow, snakemake

WEAK_ROWS = {"mlp", "mlp_mtvae", "rtfm", "rtfm_mtvae", "lanet"}
DIM = 2048   # the configs' width (the weak models' feature_dim); few snippets keep the files small

# ShanghaiTech-like ids: abnormal training videos first (RTFM's list order), snippets per video
SH_TRAIN = {"01_0014": 5, "03_0035": 4, "12_0143": 6, "01_002": 5, "04_001": 4, "13_002": 6}
SH_TEST = {"01_0015": 5, "12_0142": 4, "01_001": 4, "05_004": 6}
SH_ANOMALOUS = {"01_0015": slice(32, 64), "12_0142": slice(16, 48)}   # frames


def write_rtfm(root: Path, lists: dict[str, str], folders: dict[str, str], videos: dict[str, dict[str, int]],
               gt_name: str, anomalous: dict[str, slice], author_dir: str = "/home/someone/",
               sep: str = "/") -> dict[str, np.ndarray]:
    """RTFM's release under ``root``: list files of the authors' paths, one ``{video}_i3d.npy``
    ``[snippets, 10, DIM]`` per video in the split's folder, and the concatenated test ground truth.
    Anomalous snippets are shifted, so the detectors have something to find. Returns the arrays."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, snippets in videos.items():
        (root / folders[split]).mkdir(parents=True, exist_ok=True)
        lines = []
        for video, n in snippets.items():
            x = rng.normal(size=(n, 10, DIM)).astype(np.float32)
            if video in anomalous:
                x[anomalous[video].start // 16: anomalous[video].stop // 16] += 2.0
            np.save(root / folders[split] / f"{video}_i3d.npy", x)
            arrays[video] = x
            lines.append(f"{author_dir}{folders[split]}{sep}{video}_i3d.npy")
        (root / lists[split]).parent.mkdir(parents=True, exist_ok=True)
        (root / lists[split]).write_text("\n".join(lines) + "\n")
    labels = []
    for video, n in videos["test"].items():
        frames = np.zeros(16 * n, np.float32)      # RTFM's gt files are float arrays of 0/1
        frames[anomalous.get(video, slice(0, 0))] = 1
        labels.append(frames)
    np.save(root / gt_name, np.concatenate(labels))
    return arrays


def dataset_file(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / "datasets" / f"{name}.yaml").read_text())


@pytest.fixture
def shanghai_i3d(tmp_path):
    """ShanghaiTech's RTFM release as config/datasets/shanghai_i3d.yaml names its files."""
    section = dataset_file("shanghai_i3d")["imported"]
    root = tmp_path / "data" / "shanghai_i3d"
    train_abnormal = [v for v in SH_TRAIN if len(v) == 7]
    arrays = write_rtfm(root, {"train": section["train_list"], "test": section["test_list"]},
                        dict(zip(("train", "test"), section["features_dir"])),
                        {"train": SH_TRAIN, "test": SH_TEST}, section["ground_truth"],
                        {**SH_ANOMALOUS, **{v: slice(0, 32) for v in train_abnormal}})
    # the fixture holds 3 abnormal training videos where the release holds 63
    override = {"root": str(root), "imported": {"train_labels": {"from": "list_order",
                                                                 "abnormal_first": len(train_abnormal)}}}
    return root, override, arrays


def test_shanghai_i3d_runs_the_weak_detectors_on_imported_features(shanghai_i3d, tmp_path):
    root, override, arrays = shanghai_i3d
    workdir = copy_workflow(tmp_path / "wf")
    out = workdir / "results/test/shanghai_i3d"
    config = {"datasets": {"shanghai_i3d": override}}
    snakemake(workdir, targets=("results/test/shanghai_i3d/auc.json",), config=config)

    report = json.loads((out / "auc.json").read_text())
    rows = {r["label"]: r for r in report["rows"]}
    assert set(rows) == WEAK_ROWS       # no frames: the reference scorer (enabled) does not apply
    test_frames = 16 * sum(SH_TEST.values())
    for row in rows.values():
        assert row["protocol"] == "weak" and row["videos"] == len(SH_TEST) and row["frames"] == test_frames, row
        assert math.isfinite(row["auc"]) and 0.0 <= row["auc"] <= 1.0, row
    assert not (out / "frames").exists() and not (out / "features" / "i3d").exists()

    manifest = read_manifest(out / "manifest.csv").set_index("video")
    assert list(manifest.index) == list(SH_TRAIN) + list(SH_TEST)
    assert manifest["n_frames"].to_dict() == {v: 16 * n for v, n in {**SH_TRAIN, **SH_TEST}.items()}
    assert manifest.loc[list(SH_TRAIN), "label"].tolist() == [1, 1, 1, 0, 0, 0]
    assert manifest.loc[list(SH_TEST), "label"].tolist() == [1, 1, 0, 0]
    assert manifest.loc["12_0143", "scene"] == "12" and set(manifest["source_kind"]) == {"features"}
    truth = load_ground_truth(out / "ground_truth.npz")
    assert sorted(truth) == sorted(SH_TEST)
    for video, n in SH_TEST.items():
        expected = np.zeros(16 * n, np.uint8)
        expected[SH_ANOMALOUS.get(video, slice(0, 0))] = 1
        np.testing.assert_array_equal(truth[video], expected)
    for video, x in arrays.items():
        store = open_store(out / "features" / "imported" / f"{video}.zarr", "features", feature=DIM, crop=10)
        np.testing.assert_array_equal(store.read(), x)
        assert store.attrs["extractor"] == "imported" and store.attrs["source"] == manifest.loc[video, "source"]

    # an edit of a list file rebuilds the manifest (one of its inputs), and imports nothing again
    test_list = root / "list" / "shanghai-i3d-test-10crop.list"
    test_list.write_text(test_list.read_text() + "\n")
    planned = snakemake(workdir, "-n", "--quiet", "rules", targets=("results/test/shanghai_i3d/auc.json",),
                        config=config).stdout
    assert "manifest" in planned and "import_features" not in planned and "evaluate" in planned, planned

    # bad input afterwards: refused before any job, with the video's name; the report stays as it was
    before = (out / "auc.json").stat().st_mtime_ns
    gt = root / "list" / "gt-sh.npy"
    np.save(gt, np.load(gt)[:-16])
    result = snakemake(workdir, targets=("results/test/shanghai_i3d/auc.json",), config=config, check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "dataset 'shanghai_i3d'" in text and "after the last video" not in text
    assert "ends at frame" in text and "inside test video 05_004" in text, text[-2000:]
    assert "Traceback" not in text
    assert (out / "auc.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("damage, message", [
    ("missing", r"video 05_004: feature file 05_004_i3d.npy is in none of the folders \[\S+SH_Train_ten_crop_i3d', "
                r"'\S+SH_Test_ten_crop_i3d'\]"),
    ("width", r"video 04_001 \(\S+04_001_i3d.npy\): features are 1024-d, expected imported.dim = 2048"),
    ("gt_long", r"gt-sh.npy: \d+ frames, but the 4 test videos cover \d+ .* after the last video 05_004"),
])
def test_mismatches_stop_the_workflow_naming_the_video(shanghai_i3d, tmp_path, damage, message):
    root, override, _ = shanghai_i3d
    if damage == "missing":
        (root / "SH_Test_ten_crop_i3d" / "05_004_i3d.npy").unlink()
    elif damage == "width":
        np.save(root / "SH_Train_ten_crop_i3d" / "04_001_i3d.npy", np.zeros((4, 10, 1024), np.float32))
    else:
        gt = root / "list" / "gt-sh.npy"
        np.save(gt, np.r_[np.load(gt), np.zeros(16, np.float32)])
    workdir = copy_workflow(tmp_path / "wf")
    result = snakemake(workdir, "-n", targets=("results/test/shanghai_i3d/auc.json",),
                       config={"datasets": {"shanghai_i3d": override}}, check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "dataset 'shanghai_i3d'" in text and "Traceback" not in text, text[-3000:]
    assert re.search(message, text), text[-3000:]


def test_real_layout_configs_without_data_say_where_they_looked(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    for name in ("shanghai_i3d", "ucf_crime_i3d", "xd_violence_i3d"):
        result = snakemake(workdir, "-n", targets=(f"results/test/{name}/auc.json",), check=False)
        text = result.stdout + result.stderr
        assert result.returncode != 0
        assert f"dataset '{name}': data not found at ../shared/data/{name}" in text, text[-2000:]
        assert "Traceback" not in text and "Exception" not in text, text[-2000:]


def test_xd_violence_i3d_runs_the_weak_detectors_on_the_five_crop_files(tmp_path):
    """XD-Violence's release (five crop files per video, names with '#', '=' and '@', gt.npy) through the
    workflow as config/datasets/xd_violence_i3d.yaml reads it: auc.json scores it by AP. The detectors
    without pseudo videos (the MT-VAE chain on imported features is ShanghaiTech's test's)."""
    root = tmp_path / "data" / "xd_violence_i3d"
    stacks = write_xd(root)
    workdir = copy_workflow(tmp_path / "wf")
    out = workdir / "results/test/xd_violence_i3d"
    config = {"datasets": {"xd_violence_i3d": {"root": str(root)}},
              "methods": {"mlp_mtvae": False, "rtfm_mtvae": False}}
    target = ("results/test/xd_violence_i3d/auc.json",)
    snakemake(workdir, targets=target, config=config)

    report = json.loads((out / "auc.json").read_text())
    assert report["metric"] == "ap" and report["dataset"] == "xd_violence_i3d"
    rows = {r["label"]: r for r in report["rows"]}
    assert set(rows) == {"mlp", "rtfm", "lanet"}
    for row in rows.values():
        assert row["videos"] == len(XD_TEST) and row["frames"] == 16 * sum(XD_TEST.values()), row
        assert all(math.isfinite(row[k]) and 0.0 <= row[k] <= 1.0 for k in ("auc", "ap", "pr_auc", "macro_auc")), row
        assert row["macro_videos"] == 2 and row["pr_auc"] != row["ap"], row
    assert "the dataset is scored by AP" in (out / "auc.html").read_text()

    manifest = read_manifest(out / "manifest.csv").set_index("video")
    names = [*XD_TRAIN, *XD_TEST]
    assert list(manifest.index) == [safe(v) for v in names]
    assert manifest["n_frames"].tolist() == [16 * n for n in [*XD_TRAIN.values(), *XD_TEST.values()]]
    assert manifest["label"].tolist() == [1, 1, 1, 0, 0, 0, 1, 1, 0, 0]
    truth = load_ground_truth(out / "ground_truth.npz")
    pairs = intervals(ANNOTATION_LINES)
    for name, n in XD_TEST.items():
        np.testing.assert_array_equal(truth[safe(name)], make_gt(pairs.get(name, []), n, extra=0).astype(np.uint8))
    for name in names:
        store = open_store(out / "features" / "imported" / f"{safe(name)}.zarr", "features", feature=1024, crop=5)
        np.testing.assert_array_equal(store.read(), stacks[name])

    # a crop file other than crop 0 is an input of its video's import: an edit of it re-imports that video
    # only (a new mtime alone would not: Snakemake compares the checksums of small inputs)
    crop3 = root / "RGBTest" / f"{next(iter(XD_TEST))}__3.npy"
    np.save(crop3, np.load(crop3) + 1.0)
    planned = snakemake(workdir, "-n", "--quiet", "rules", targets=target, config=config).stdout
    assert re.search(r"import_features\s+1\b", planned) and "manifest" not in planned, planned


# --- the adapter (no workflow) -------------------------------------------------------------------

UCF_TRAIN = {"Abuse001_x264": 3, "Arson011_x264": 2, "Normal_Videos308_x264": 2, "Normal_Videos309_x264": 3}
UCF_TEST = {"Abuse028_x264": 3, "Normal_Videos_003_x264": 2}


@pytest.fixture
def ucf_i3d(tmp_path):
    """UCF-Crime's RTFM release as config/datasets/ucf_crime_i3d.yaml names its files, with the
    release's Windows paths in the lists."""
    cfg = dataset_file("ucf_crime_i3d")
    section = cfg["imported"]
    root = tmp_path / "ucf_crime_i3d"
    arrays = write_rtfm(root, {"train": section["train_list"], "test": section["test_list"]},
                        dict(zip(("train", "test"), section["features_dir"])),
                        {"train": UCF_TRAIN, "test": UCF_TEST}, section["ground_truth"],
                        {"Abuse028_x264": slice(16, 32)}, author_dir="G:\\", sep="\\")
    return {**cfg, "root": str(root)}, arrays


def test_ucf_crime_i3d_config_reads_the_release(ucf_i3d):
    cfg, arrays = ucf_i3d
    listed = list_videos(cfg)
    assert [e.video for e in listed] == list(UCF_TRAIN) + list(UCF_TEST)
    assert [e.label for e in listed] == [1, 1, 0, 0, 1, 0]        # names for training, gt for test
    assert all(e.split_weak and not e.split_oneclass and e.source_kind == "features" for e in listed)
    assert listed[0].source == str(Path(cfg["root"]) / "UCF_Train_ten_crop_i3d" / "Abuse001_x264_i3d.npy")
    entries, truth = build(cfg)
    assert [e.n_frames for e in entries] == [16 * n for n in {**UCF_TRAIN, **UCF_TEST}.values()]
    assert sorted(truth) == sorted(UCF_TEST) and truth["Abuse028_x264"][16:32].all()
    assert truth["Abuse028_x264"].sum() == 16 and truth["Abuse028_x264"].dtype == np.uint8
    root = Path(cfg["root"])
    assert manifest_inputs(cfg) == [str(root / "list" / n) for n in ("ucf-i3d.list", "ucf-i3d-test.list",
                                                                      "gt-ucf.npy")]


def test_adapter_errors_name_the_video_and_the_root(ucf_i3d):
    cfg, _ = ucf_i3d
    root = Path(cfg["root"])
    np.save(root / "UCF_Test_ten_crop_i3d" / "Abuse001_x264_i3d.npy", np.zeros((3, 10, DIM), np.float32))
    with pytest.raises(AdapterError, match=r"Abuse001_x264_i3d.npy is in several feature folders"):
        list_videos(cfg)
    (root / "UCF_Test_ten_crop_i3d" / "Abuse001_x264_i3d.npy").unlink()
    with pytest.raises(AdapterError, match=r"supports only \['weak'\]"):
        list_videos({**cfg, "protocols": ["oneclass"]})
    with pytest.raises(AdapterError, match=r"section 'imported' is missing"):
        list_videos({k: v for k, v in cfg.items() if k != "imported"})
    no_gt = {**cfg, "imported": {**cfg["imported"], "ground_truth": None,
                                 "test_labels": {"from": "name", "normal_contains": "Normal"}}}
    assert len(list_videos(no_gt)) == 6             # listing needs no ground truth, building does
    with pytest.raises(AdapterError, match=r"ground_truth is required: the test videos need frame labels"):
        build(no_gt)
    np.save(root / "UCF_Train_ten_crop_i3d" / "Arson011_x264_i3d.npy", np.zeros((2, 5, DIM), np.float32))
    with pytest.raises(AdapterError, match=rf"video Arson011_x264 .* 5 crops .* expected imported.crops = 10 "
                                           rf"\(adapter 'features', root {re.escape(str(root))}\)"):
        build(cfg)


def test_a_feature_dim_that_disagrees_with_the_imported_features_stops_the_plan(shanghai_i3d, tmp_path):
    """The weak models take the features' width (imported.dim) by default; a weak.feature_dim set to
    something else is refused before any job, naming both keys."""
    root, override, _ = shanghai_i3d
    workdir = copy_workflow(tmp_path / "wf")
    result = snakemake(workdir, "-n", targets=("results/test/shanghai_i3d/auc.json",), check=False,
                       config={"datasets": {"shanghai_i3d": override}, "weak": {"feature_dim": 1024}})
    text = result.stdout + result.stderr
    assert result.returncode != 0 and not (workdir / "results").exists()
    assert f"dataset 'shanghai_i3d': weak.feature_dim is 1024, but its imported.dim is {DIM}" in text, text[-3000:]
    assert "Traceback" not in text
