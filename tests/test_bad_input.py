"""Bad input, one test per case: each error names the file (or video) and the field, and a finished output
next to the bad input (another video's store, a previous manifest, model, scores file or auc.json) is
byte-identical afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_adapters import write_frames, write_synthetic
from test_decode import jpeg_bytes, moving_square, textured_frame, write_video

from vadlib.data.adapters import AdapterError, build, prepare
from vadlib.data.decode import DecodeError, decode_to_store
from vadlib.data.manifest import EmptySplitError, ManifestError, VideoEntry, save_ground_truth, write_manifest
from vadlib.evaluate.report import evaluate
from vadlib.features.extract import extract_features
from vadlib.features.i3d import WeightsError
from vadlib.inpaint import inpaint_video
from vadlib.oneclass import train_luss
from vadlib.scores import save_scores
from vadlib.stores import StoreError, open_store, write_store
from vadlib.weak import score_detector, train_baseline

from conftest import copy_workflow, fingerprint, snakemake
from weak_synthetic import write_dataset

FRAME_ATTRS = {"source": "x.avi", "fps": 25.0, "original_size": [48, 64], "stored_size": [48, 64]}


@pytest.fixture
def decoded(tmp_path):
    """A finished frames store of a good video, next to which the bad sources are decoded."""
    write_video(tmp_path / "good.avi", moving_square())
    decode_to_store(tmp_path / "good.avi", "video", tmp_path / "good.zarr")
    return tmp_path, fingerprint(tmp_path / "good.zarr")


def _decode_fails(tmp_path, source, kind, match):
    with pytest.raises(DecodeError, match=match):
        decode_to_store(source, kind, tmp_path / "bad.zarr", fps=25)
    assert not (tmp_path / "bad.zarr").exists()
    assert not list(tmp_path.glob(".bad.zarr.tmp-*"))


# --- videos and frame folders ---------------------------------------------------------------------


def test_corrupt_video(decoded):
    tmp_path, before = decoded
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00\x01not a video" * 50)
    _decode_fails(tmp_path, bad, "video", r"bad\.avi: cannot open the video")
    assert fingerprint(tmp_path / "good.zarr") == before


def test_truncated_video(decoded):
    tmp_path, before = decoded
    data = (tmp_path / "good.avi").read_bytes()
    bad = tmp_path / "bad.avi"
    bad.write_bytes(data[: len(data) // 2])
    _decode_fails(tmp_path, bad, "video", r"bad\.avi: .*(truncated file\?|cut short)")
    assert fingerprint(tmp_path / "good.zarr") == before


@pytest.mark.parametrize("container", ["no bytes", "no frame"])
def test_zero_frame_video(decoded, container):
    """A 0-byte file, and a valid AVI container into which no frame was written."""
    tmp_path, before = decoded
    bad = tmp_path / "bad.avi"
    if container == "no bytes":
        bad.write_bytes(b"")
        match = r"bad\.avi: the video file is empty \(0 bytes\)"
    else:
        writer = cv2.VideoWriter(str(bad), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
        writer.release()
        assert bad.stat().st_size > 0
        match = r"bad\.avi: the video has no readable frame"
    _decode_fails(tmp_path, bad, "video", match)
    assert fingerprint(tmp_path / "good.zarr") == before


def test_frame_folder_with_a_gap(decoded):
    tmp_path, before = decoded
    folder = tmp_path / "bad"
    folder.mkdir()
    for i, frame in enumerate(moving_square(n=6)):
        if i != 3:
            cv2.imwrite(str(folder / f"{i:03d}.png"), frame)
    _decode_fails(tmp_path, folder, "frames", r"bad: frame numbering has a gap after 002\.png \(next is 004\.png\)")
    assert fingerprint(tmp_path / "good.zarr") == before


@pytest.mark.parametrize("damage, match", [
    ("truncated", r"bad/003\.jpg: the JPEG is cut short: no end-of-image marker \(FF D9\) after the image data"),
    ("no bytes", r"bad/003\.jpg: the image file is empty \(0 bytes\)"),
    ("not an image", r"bad/003\.jpg: not a JPEG, PNG, BMP or TIFF image \(the file starts with b'<!DOCTYPE html>"),
], ids=["truncated", "no bytes", "not an image"])
def test_frame_folder_with_a_corrupt_frame(decoded, damage, match):
    """One bad JPEG among good ones: the first 60% of its bytes (OpenCV's imread fills the rest of the
    picture with grey and raises nothing), a 0-byte file, or a web page saved under the frame's name."""
    tmp_path, before = decoded
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(6):
        data = jpeg_bytes(textured_frame(seed=i))
        if i == 3:
            data = {"truncated": data[: len(data) * 6 // 10], "no bytes": b"",
                    "not an image": b"<!DOCTYPE html><html><body>Not Found</body></html>"}[damage]
        (folder / f"{i:03d}.jpg").write_bytes(data)
    _decode_fails(tmp_path, folder, "frames", match)
    assert fingerprint(tmp_path / "good.zarr") == before


# --- ground truth against the video ---------------------------------------------------------------


@pytest.fixture
def ped2(tmp_path):
    """A Ped2-layout dataset with per-video label files, prepared once (the finished manifest and truth)."""
    root = tmp_path / "ped2"
    write_frames(root / "training" / "frames" / "01", 4)
    write_frames(root / "testing" / "frames" / "01", 5)
    write_frames(root / "testing" / "frames" / "02", 3)
    (root / "testing" / "labels").mkdir(parents=True)
    np.save(root / "testing" / "labels" / "01.npy", np.array([0, 0, 1, 1, 0]))
    np.save(root / "testing" / "labels" / "02.npy", np.array([0, 0, 0]))
    cfg = {"adapter": "ped2", "root": str(root), "protocols": ["oneclass"], "labels": "testing/labels",
           "label_format": "per_video"}
    out = tmp_path / "out"
    prepare(cfg, out / "manifest.csv", out / "ground_truth.npz")
    return cfg, root, out


@pytest.mark.parametrize("labels", [4, 6], ids=["shorter", "longer"])
def test_ground_truth_shorter_or_longer_than_the_video_in_the_adapter(ped2, labels):
    cfg, root, out = ped2
    before = fingerprint(out)
    np.save(root / "testing" / "labels" / "01.npy", np.zeros(labels, np.uint8))
    with pytest.raises(AdapterError, match=rf"01\.npy: {labels} frame labels, but video 'test_01' has 5 frames"):
        prepare(cfg, out / "manifest.csv", out / "ground_truth.npz")
    assert fingerprint(out) == before


@pytest.fixture
def toy(tmp_path):
    """A manifest (with frame counts), its ground truth, one method's scores and a finished auc.json."""
    entries = [VideoEntry("tr", "x", "video", 0, split_oneclass="train", n_frames=3),
               VideoEntry("a", "x", "video", 1, split_oneclass="test", n_frames=4),
               VideoEntry("b", "x", "video", 0, split_oneclass="test", n_frames=3)]
    write_manifest(tmp_path / "manifest.csv", entries)
    save_ground_truth(tmp_path / "gt.npz", {"a": np.array([0, 0, 1, 1]), "b": np.array([0, 0, 0])})
    save_scores(tmp_path / "m.npz", {"m": {"a": [.1, .2, .9, .4], "b": [.3, .5, 0]}},
                {"method": "m", "protocol": "oneclass"})
    run_evaluation(tmp_path)
    return tmp_path


def run_evaluation(folder: Path, scores: str = "m.npz") -> dict:
    return evaluate(str(folder / "manifest.csv"), str(folder / "gt.npz"), [str(folder / scores)],
                    str(folder / "auc.json"), str(folder / "roc.png"), str(folder / "tl.png"), "toy", {"seed": 0})


@pytest.mark.parametrize("labels", [3, 5], ids=["shorter", "longer"])
def test_ground_truth_shorter_or_longer_than_the_video_in_evaluation(toy, labels):
    before = {name: fingerprint(toy / name) for name in ("auc.json", "roc.png", "tl.png", "m.npz")}
    save_ground_truth(toy / "gt.npz", {"a": np.zeros(labels), "b": np.zeros(3)})
    with pytest.raises(ManifestError, match=rf"gt\.npz: test video 'a' has {labels} frame labels, but the manifest "
                                            r"gives it 4 frames \(field 'n_frames'\)"):
        run_evaluation(toy)
    assert {name: fingerprint(toy / name) for name in before} == before


# --- features -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    """16-d training and test features, a baseline trained on them and its scores (finished outputs)."""
    root = tmp_path_factory.mktemp("weak")
    train, labels, _ = write_dataset(root / "train", 4, 4, dim=16, seed=0)
    test, _, _ = write_dataset(root / "test", 2, 2, dim=16, seed=1, prefix="t")
    params = {"feature_dim": 16, "segments": 4, "hidden": [8], "epochs": 1, "batch_size": 4}
    model = root / "synthetic" / "models" / "mlp.pt"
    train_baseline(train, labels, str(model), params, device="cpu")
    n_frames = {v: 16 * len(open_store(p, "features")) for v, p in test.items()}
    score_detector(model, test, n_frames, root / "scores.npz", "mlp", device="cpu")
    return root, train, labels, test, n_frames, params


def _weak_outputs(root: Path) -> dict:
    return {name: fingerprint(root / name) for name in ("synthetic/models/mlp.pt", "synthetic/models/mlp.json",
                                                        "scores.npz")}


def _fails_in_training_and_scoring(weak, bad: Path, match: str) -> None:
    """Training with ``bad`` among the training videos and scoring it as a test video both fail with
    ``match``, and the finished model and scores are untouched."""
    root, train, labels, test, n_frames, params = weak
    before = _weak_outputs(root)
    with pytest.raises(StoreError, match=match):
        train_baseline({**train, "bad": str(bad)}, {**labels, "bad": 1}, str(root / "synthetic" / "models" / "mlp.pt"),
                       params, device="cpu")
    with pytest.raises(StoreError, match=match):
        score_detector(root / "synthetic" / "models" / "mlp.pt", {**test, "bad": str(bad)}, {**n_frames, "bad": 64},
                       root / "scores.npz", "mlp", device="cpu")
    assert _weak_outputs(root) == before


def _features_like(path: str, values: np.ndarray, out: Path) -> Path:
    return write_store(out, "features", values, {k: v for k, v in open_store(path, "features").attrs.items()
                                                 if k not in ("kind", "schema_version", "complete")})


def test_feature_store_of_the_wrong_width(weak, tmp_path):
    bad = _features_like(next(iter(weak[1].values())), np.zeros((4, 2, 8), np.float16), tmp_path / "narrow.zarr")
    _fails_in_training_and_scoring(weak, bad, r"narrow\.zarr: axis 'feature' has size 8, expected 16")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_features(weak, tmp_path, value):
    x = np.ones((5, 2, 16), np.float32)
    x[3, 1, 7] = value
    bad = _features_like(next(iter(weak[1].values())), x, tmp_path / "broken.zarr")
    _fails_in_training_and_scoring(weak, bad, r"broken\.zarr: array 'features' holds NaN or Inf at snippet \[3\]")


# --- configuration (through Snakemake) ------------------------------------------------------------


def _config_fails(tmp_path, override: dict) -> str:
    """Snakemake validates the config before planning anything: a dry run fails, and no job runs."""
    workdir = copy_workflow(tmp_path / "wf")
    result = snakemake(workdir, "-n", config=override, check=False)
    assert result.returncode != 0
    assert not (workdir / "results").exists()
    return result.stdout + result.stderr


def test_unknown_config_key(tmp_path):
    out = _config_fails(tmp_path, {"decod": {"size": 64}})
    assert "Additional properties are not allowed ('decod' was unexpected)" in out, out[-3000:]


def test_config_value_of_the_wrong_type(tmp_path):
    out = _config_fails(tmp_path, {"decode": {"chunk": "sixteen"}})
    assert "'sixteen' is not of type 'integer'" in out and "On instance['decode']['chunk']" in out, out[-3000:]


def test_the_config_is_validated_before_the_rule_files_read_it(tmp_path):
    """``datasets_dir`` is read by common.smk as it is included: the schema speaks first."""
    out = _config_fails(tmp_path, {"datasets_dir": 7})
    assert "7 is not of type 'string'" in out and "On instance['datasets_dir']" in out, out[-3000:]
    assert "TypeError" not in out, out[-3000:]


def test_a_misspelt_key_in_a_dataset_file_names_the_dataset_the_file_and_the_key(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    path = workdir / "config" / "datasets" / "ped2.yaml"
    path.write_text(path.read_text() + "\nlabel_fromat: ucsd_m\n")
    result = snakemake(workdir, "-n", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and not (workdir / "results").exists()
    assert ("dataset 'ped2' (config/datasets/ped2.yaml): (top level): Additional properties are not allowed "
            "('label_fromat' was unexpected)") in out, out[-3000:]
    # a typo in an override: named with both sources
    out = _config_fails(tmp_path / "override", {"datasets": {"ped2": {"rooot": "data"}}})
    assert ("dataset 'ped2' (config/datasets/ped2.yaml merged with the config's datasets.ped2): (top level): "
            "Additional properties are not allowed ('rooot' was unexpected)") in out, out[-3000:]


def test_a_real_dataset_without_i3d_weights_is_refused_unless_untrained_on_purpose(tmp_path):
    """Random I3D features on real data only when asked for: ``features.i3d.weights: null`` stops the plan
    of a real dataset whose methods read I3D features (STPA on Ped2 here), naming the key; ``untrained``
    plans the extraction."""
    root = tmp_path / "ped2"
    for split, folder in (("training", "01"), ("testing", "01")):
        write_frames(root / split / "frames" / folder, 20)
    np.save(root / "frame_labels_ped2.npy", np.zeros((1, 20), np.int64))
    override = {"datasets": {"ped2": {"root": str(root)}}}
    target = ("results/test/ped2/auc.json",)
    workdir = copy_workflow(tmp_path / "wf")
    result = snakemake(workdir, "-n", targets=target, config=override, check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and not (workdir / "results").exists()
    assert ("dataset 'ped2': features.i3d.weights is null, so its I3D features would come from a randomly "
            "initialised network") in out and "'untrained'" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    planned = snakemake(workdir, "-n", targets=target,
                        config={**override, "features": {"i3d": {"weights": "untrained"}}}).stdout
    assert "rule i3d:" in planned and "train_oneclass" in planned, planned[-3000:]


# --- weights --------------------------------------------------------------------------------------


@pytest.mark.parametrize("override, rule", [({"features": {"i3d": {"weights": "weights/missing"}}}, "i3d"),
                                             ({"inpaint": {"weights": "weights/missing"}}, "inpaint")],
                         ids=["features.i3d.weights", "inpaint.weights"])
def test_missing_weights_stop_the_run_before_any_job(tmp_path, override, rule):
    """Weights named in the config are inputs of the rules that load them: the plan itself fails."""
    out = _config_fails(tmp_path, override)
    assert f"Missing input files for rule {rule}" in out and "weights/missing" in out, out[-3000:]


@pytest.fixture
def frames(tmp_path):
    """Two videos' frames stores; the first already has its features (a finished output)."""
    rng = np.random.default_rng(0)
    paths = [write_store(tmp_path / f"v{i}.zarr", "frames", rng.integers(0, 255, (20, 48, 64, 3), dtype=np.uint8),
                         FRAME_ATTRS) for i in range(2)]
    write_store(tmp_path / "features" / "v0.zarr", "features", np.zeros((2, 1, 2048), np.float16),
                {"extractor": "i3d_r50", "weights": None, "pretrained": False, "snippet_len": 16, "preprocessing": {}})
    return tmp_path, paths


def test_missing_i3d_weights_file(frames):
    tmp_path, paths = frames
    before = fingerprint(tmp_path / "features")
    missing = tmp_path / "weights" / "I3D_8x8_R50.pyth"
    with pytest.raises(WeightsError, match=rf"{missing}: no such weights file \(config key features\.i3d\.weights\)"):
        extract_features(paths[1], tmp_path / "features" / "v1.zarr", {"weights": str(missing), "short_side": 40,
                                                                         "crop": 32, "crops": 1}, device="cpu")
    assert fingerprint(tmp_path / "features") == before


def test_missing_inpainting_weights(frames):
    tmp_path, paths = frames
    for i in range(2):
        write_store(tmp_path / "masks" / f"v{i}.zarr", "masks", np.ones((20, 48, 64), bool),
                    {"generator": "x", "parameters": {}})
    write_store(tmp_path / "inpainted" / "v0.zarr", "inpainted", np.zeros((20, 48, 64, 3), np.uint8),
                {"model": "x", "pretrained": False, "parameters": {}})
    before = fingerprint(tmp_path / "inpainted")
    missing = tmp_path / "ldm"
    with pytest.raises(FileNotFoundError, match=rf"{missing}: no such inpainting model directory "
                                                r"\(config key inpaint\.weights"):
        inpaint_video(paths[1], tmp_path / "masks" / "v1.zarr", tmp_path / "inpainted" / "v1.zarr", missing,
                      {"steps": 2}, device="cpu")
    assert fingerprint(tmp_path / "inpainted") == before


# --- splits ---------------------------------------------------------------------------------------


def test_empty_split_in_the_dataset(tmp_path):
    """A synthetic-layout dataset whose annotations list no test video: refused when it is built."""
    root = tmp_path / "synthetic" / "source"
    write_synthetic(root, {"s0_train_0000": (0, "train", "", 4, []), "s0_train_0001": (0, "train", "", 5, [])})
    with pytest.raises(AdapterError, match=rf"{root / 'annotations'} \(adapter 'synthetic'\): the test split of the "
                                           r"oneclass protocol is empty"):
        build({"adapter": "synthetic", "root": str(root), "protocols": ["oneclass"]})


def test_empty_training_split(weak):
    """Training stages see lists of stores; the output they were to write names the dataset."""
    root = weak[0]
    before = _weak_outputs(root)
    model = root / "synthetic" / "models" / "mlp.pt"
    with pytest.raises(EmptySplitError, match=rf"{model}: the training split is empty"):
        train_baseline({}, {}, str(model), weak[5], device="cpu")
    luss = root / "synthetic" / "models" / "luss.pt"
    with pytest.raises(EmptySplitError, match=rf"{luss}: the training split is empty"):
        train_luss([], str(luss), {"size": 32, "clip_len": 8, "widths": [4, 8, 8, 8]}, "cpu")
    assert not luss.exists()
    assert _weak_outputs(root) == before


def test_empty_test_split(weak, toy):
    root = weak[0]
    before = _weak_outputs(root)
    with pytest.raises(EmptySplitError, match=r"scores\.npz: the test split is empty"):
        score_detector(root / "synthetic" / "models" / "mlp.pt", {}, {}, root / "scores.npz", "mlp", device="cpu")
    assert _weak_outputs(root) == before
    # evaluation of a method whose protocol has no test split in the dataset: a note, not a crash
    save_scores(toy / "w.npz", {"w": {"a": [0, 0, 1, 1], "b": [0, 1, 0]}}, {"method": "w", "protocol": "weak"})
    row = run_evaluation(toy, "w.npz")["rows"][0]
    assert row["auc"] is None and row["note"] == "dataset 'toy' has no test split for protocol 'weak'"


def test_test_split_with_only_normal_frames(toy):
    """AUC is undefined when every test frame is normal: auc.json says so, and nothing crashes."""
    before = fingerprint(toy / "m.npz")
    save_ground_truth(toy / "gt.npz", {"a": np.zeros(4), "b": np.zeros(3)})
    row = run_evaluation(toy)["rows"][0]
    assert row["auc"] is None and row["ap"] is None and "every test frame is normal" in row["note"]
    saved = json.loads((toy / "auc.json").read_text())["rows"][0]
    assert saved["auc"] is None and saved["note"] == row["note"] and saved["frames"] == 7
    assert fingerprint(toy / "m.npz") == before
