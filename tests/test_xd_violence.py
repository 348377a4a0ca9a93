"""XD-Violence's released I3D RGB features (the XDVioDet layout: five ``{video}__{k}.npy`` files per
video, list files of one line per crop file, ``gt.npy``) through the importer and the evaluation, on a
tiny fixture in that layout; and the release's test annotation, where ``../shared`` holds it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import auc, average_precision_score, precision_recall_curve

from vadlib.data.adapters import AdapterError, build, list_videos, manifest_inputs, prepare
from vadlib.evaluate.report import evaluate
from vadlib.evaluate.table import format_table, html_table
from vadlib.features.importer import (
    FeatureImportError,
    annotation_ground_truth,
    crop_paths,
    import_params,
    import_video,
    read_annotations,
)
from vadlib.scores import save_scores
from vadlib.snippets import snippets_to_frames
from vadlib.stores import open_store

from conftest import ROOT

ANNOTATIONS = ROOT.parent / "shared" / "data" / "labels" / "xd_violence" / "annotations.txt"
needs_annotations = pytest.mark.skipif(not ANNOTATIONS.is_file(),
                                       reason=f"XD-Violence's test annotation is not at {ANNOTATIONS} "
                                              f"(../shared/data/labels/xd_violence/annotations.txt)")

DIM, CROPS = 1024, 5
AUTHOR_DIR = "/media/peng/Samsung_T5/i3d-features/"   # the prefix of the release's list lines
# real video names of the release (violent first, then the normal ones, as its lists order them), with
# '#', '=' and '@'; snippets per video
XD_TRAIN = {"Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0": 5, "v=-22tna7KHzI__#1_label_G-0-0": 4,
            "v=-8O0_tG44IM__#1_label_B6-0-0": 6, "A.Beautiful.Mind.2001__#00-01-45_00-02-50_label_A": 5,
            "NewAdd.NBA-2017.12.25_CLE@GSW__#00-00-00_00-21-00_label_A": 4,
            "A.Beautiful.Mind.2001__#00-03-00_00-04-05_label_A": 6}
XD_TEST = {"v=u5SF4SlqNDQ__#00-00-00_00-01-00_label_G-0-0": 64, "v=U6MC8JJJZSY__#1_label_G-0-0": 50,
           "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A": 6,
           "A.Beautiful.Mind.2001__#00-40-52_00-42-01_label_A": 4}
# lines 2 and 199 of the release's annotations.txt (the second names its video with .mp4, as 14 lines do)
ANNOTATION_LINES = ["v=u5SF4SlqNDQ__#00-00-00_00-01-00_label_G-0-0 624 912 950 1441",
                    "v=U6MC8JJJZSY__#1_label_G-0-0.mp4 150 779"]
TRAIN_ANOMALOUS = {"Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0": [(16, 48)],
                   "v=-22tna7KHzI__#1_label_G-0-0": [(0, 32)], "v=-8O0_tG44IM__#1_label_B6-0-0": [(32, 96)]}


def safe(name: str) -> str:
    """The video id of a release name under the dataset file's id_replace ('#' dropped, '=' and '@' as '_')."""
    return name.replace("#", "").replace("=", "_").replace("@", "_")


def intervals(lines: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Release name -> anomalous (start, end) pairs of annotation lines, read plainly (no .mp4)."""
    out = {}
    for line in lines:
        name, *numbers = line.split()
        out[name.removesuffix(".mp4")] = list(zip(map(int, numbers[::2]), map(int, numbers[1::2])))
    return out


def make_gt(pairs: list[tuple[int, int]], snippets: int, extra: int) -> np.ndarray:
    """One test video's part of gt.npy as the release's list/make_gt.py writes it: float 0/1 over the
    video's ``16 * snippets + 1 + extra`` frames, ``[start:end]`` set, then the last frame dropped and
    the remainder of ``(frames - 1) % 16`` cut (the features' snippets cover the rest)."""
    frames = 16 * snippets + 1 + extra
    labels = np.zeros(frames, np.float32)
    for start, end in pairs:
        labels[start:end] = 1.0
    labels = labels[:-1]
    mod = (frames - 1) % 16
    return labels[:-mod] if mod else labels


def write_xd(root: Path, train: dict[str, int] = XD_TRAIN, test: dict[str, int] = XD_TEST,
             annotation: list[str] = ANNOTATION_LINES, train_anomalous=TRAIN_ANOMALOUS) -> dict[str, np.ndarray]:
    """XD-Violence's release under ``root``: ``RGB/`` and ``RGBTest/`` with five ``{name}__{k}.npy``
    ``[snippets, 1024]`` float32 per video (each crop its own values), ``list/rgb.list`` and
    ``list/rgb_test.list`` of the authors' absolute paths, one line per crop file in crop order,
    ``list/gt.npy`` (make_gt.py's concatenation in test-list order) and ``annotations.txt``. Anomalous
    snippets are shifted, so the detectors have something to find. Returns release name -> the
    ``[snippets, 5, 1024]`` stack of its crops."""
    rng = np.random.default_rng(0)
    anomalous = {**intervals(annotation), **train_anomalous}
    stacks = {}
    for folder, listing, videos in (("RGB", "rgb.list", train), ("RGBTest", "rgb_test.list", test)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        lines = []
        for name, n in videos.items():
            x = rng.normal(size=(n, CROPS, DIM)).astype(np.float32)
            for start, end in anomalous.get(name, ()):
                x[start // 16: -(-min(end, 16 * n) // 16)] += 2.0
            for k in range(CROPS):
                np.save(root / folder / f"{name}__{k}.npy", x[:, k])
                lines.append(f"{AUTHOR_DIR}{folder}/{name}__{k}.npy")
            stacks[name] = x
        (root / "list").mkdir(parents=True, exist_ok=True)
        (root / "list" / listing).write_text("\n".join(lines) + "\n")
    pairs = intervals(annotation)
    gt = [make_gt(pairs.get(name, []), n, extra=i % 16) for i, (name, n) in enumerate(test.items())]
    np.save(root / "list" / "gt.npy", np.concatenate(gt))
    (root / "annotations.txt").write_text("\n".join(annotation) + "\n")
    return stacks


def xd_config(root: Path, **imported) -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "datasets" / "xd_violence_i3d.yaml").read_text())
    return {**cfg, "root": str(root), "imported": {**cfg["imported"], **imported}}


@pytest.fixture
def xd(tmp_path):
    root = tmp_path / "xd_violence_i3d"
    return root, write_xd(root)


def test_the_dataset_file_follows_the_release_and_the_paper():
    cfg = yaml.safe_load((ROOT / "config" / "datasets" / "xd_violence_i3d.yaml").read_text())
    section = cfg["imported"]
    assert cfg["adapter"] == "features" and cfg["root"] == "../shared/data/xd_violence_i3d" and cfg["metric"] == "ap"
    assert (section["train_list"], section["test_list"], section["ground_truth"]) == (
        "list/rgb.list", "list/rgb_test.list", "list/gt.npy")
    assert (section["dim"], section["crops"], section["layout"]) == (1024, 5, "snippet_feature")
    assert re.search(section["crop_files"], "Riot__3").group(1) == "3"
    assert cfg["params"]["lanet"] == {"hidden": 128, "sigma": 6.0, "kernel": 5, "lambda1": 2.0}


def test_release_layout_imports_into_the_features_contract(xd):
    root, stacks = xd
    cfg = xd_config(root)
    listed = list_videos(cfg)
    assert [e.video for e in listed] == [safe(v) for v in [*XD_TRAIN, *XD_TEST]]
    assert listed[4].video == "NewAdd.NBA-2017.12.25_CLE_GSW__00-00-00_00-21-00_label_A"
    assert [e.label for e in listed[:6]] == [1, 1, 1, 0, 0, 0]            # _label_A: normal
    assert [e.n_frames for e in listed] == [16 * n for n in [*XD_TRAIN.values(), *XD_TEST.values()]]
    first = next(iter(XD_TEST))
    assert listed[6].source == str(root / "RGBTest" / f"{first}__0.npy")
    assert all(e.split_weak and not e.split_oneclass and e.source_kind == "features" for e in listed)
    assert manifest_inputs(cfg) == [str(root / "list" / n) for n in ("rgb.list", "rgb_test.list", "gt.npy")]

    entries, truth = build(cfg)
    assert sorted(truth) == sorted(safe(v) for v in XD_TEST)
    assert [e.label for e in entries[6:]] == [1, 1, 0, 0]                  # test labels from the ground truth
    v1, v2 = (safe(v) for v in list(XD_TEST)[:2])
    expected = np.zeros(1024, np.uint8)
    expected[624:912] = 1
    expected[950:] = 1                                                     # 950-1441, cut at 16 x 64 frames
    np.testing.assert_array_equal(truth[v1], expected)
    assert truth[v2].sum() == 779 - 150 and truth[v2][150:779].all() and len(truth[v2]) == 800
    # the annotation gives the same labels as gt.npy, from the snippet counts alone
    _, from_annotation = build(xd_config(root, ground_truth="annotations.txt"))
    assert sorted(from_annotation) == sorted(truth)
    for video in truth:
        np.testing.assert_array_equal(from_annotation[video], truth[video])

    params = import_params(cfg["imported"])
    for entry, name in zip(entries, [*XD_TRAIN, *XD_TEST]):
        files = crop_paths(entry.source, params)
        assert [f.name for f in files] == [f"{name}__{k}.npy" for k in range(CROPS)]
        out = root.parent / "stores" / f"{entry.video}.zarr"
        import_video(entry.source, out, params)               # crop 0 stands for the five
        store = open_store(out, "features", feature=DIM, crop=CROPS)
        np.testing.assert_array_equal(store.read(), stacks[name])
        assert store.attrs["source"] == entry.source and store.attrs["video"] == entry.video
        assert store.attrs["preprocessing"]["files"] == [f.name for f in files]
    again = root.parent / "again.zarr"
    import_video([str(f) for f in crop_paths(entries[0].source, params)], again, params)   # the rule's inputs
    np.testing.assert_array_equal(open_store(again, "features").read(), stacks[next(iter(XD_TRAIN))])


def test_annotation_ground_truth_by_hand(tmp_path):
    path = tmp_path / "annotations.txt"
    path.write_text("Riot__#1_label_B1-0-0.mp4 3 20 40 41\nv=Fight__#2_label_B2-0-0 0 5\n\n")
    assert read_annotations(path, {"#": "", "=": "_"}) == {"Riot__1_label_B1-0-0": [(3, 20), (40, 41)],
                                                           "v_Fight__2_label_B2-0-0": [(0, 5)]}
    truth = annotation_ground_truth(path, [("Riot__1_label_B1-0-0", 32), ("v_Fight__2_label_B2-0-0", 16),
                                           ("Calm__1_label_A", 16)], {"#": "", "=": "_"})
    np.testing.assert_array_equal(np.flatnonzero(truth["Riot__1_label_B1-0-0"]), np.arange(3, 20))  # 40-41 cut
    np.testing.assert_array_equal(truth["v_Fight__2_label_B2-0-0"], [1] * 5 + [0] * 11)
    assert not truth["Calm__1_label_A"].any() and truth["Calm__1_label_A"].dtype == np.uint8
    longer = annotation_ground_truth(path, [("Riot__1_label_B1-0-0", 48), ("v_Fight__2_label_B2-0-0", 16)],
                                     {"#": "", "=": "_"})
    assert np.flatnonzero(longer["Riot__1_label_B1-0-0"]).tolist() == [*range(3, 20), 40]
    with pytest.raises(FeatureImportError, match=r"annotated videos are no test video, e.g. \['v_Fight"):
        annotation_ground_truth(path, [("Riot__1_label_B1-0-0", 32)], {"#": "", "=": "_"})
    for text, message in (("A 3 20 40\n", r":1: video A has 3 frame numbers"),
                          ("A 1 2\nB 20 3\n", r":2: video B: anomalous interval 20-3 ends before it starts"),
                          ("A 1 2\nA.mp4 3 4\n", r":2: video A is annotated twice \(first on line 1\)"),
                          ("A 1 x2\n", r":1: video A: frame numbers \['1', 'x2'\] are not all integers")):
        path.write_text(text)
        with pytest.raises(FeatureImportError, match=re.escape(str(path)) + message):
            read_annotations(path)


@needs_annotations
def test_the_release_annotation():
    ids = {"#": "", "=": "_", "@": "_"}
    parsed = read_annotations(ANNOTATIONS, ids)
    lines = ANNOTATIONS.read_text().splitlines()
    assert len(parsed) == len(lines) == 500                                # the 500 violent test videos
    assert sum(len(pairs) for pairs in parsed.values()) == 1238
    assert sum(line.split()[0].endswith(".mp4") for line in lines) == 14
    for number in (1, 2, 199, 500):                                        # a few lines, against the file
        name, *numbers = lines[number - 1].split()
        pairs = list(zip(map(int, numbers[::2]), map(int, numbers[1::2])))
        assert parsed[safe(name.removesuffix(".mp4"))] == pairs, number
    assert parsed["v_S-7rRLrxnVQ__1_label_B4-0-0"] == [(0, 1517), (1970, 3038)]
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", video) for video in parsed)
    assert set(ANNOTATION_LINES) <= set(lines)                             # the fixture's lines are the release's


@needs_annotations
def test_the_release_annotation_builds_gt_npy_of_a_fixture(tmp_path):
    """For a fixture of the release's names and snippet counts, the ground truth built from the real
    annotation's lines equals the concatenation make_gt.py writes."""
    lines = ANNOTATIONS.read_text().splitlines()
    names = {"v=S-7rRLrxnVQ__#1_label_B4-0-0": 120, "v=U6MC8JJJZSY__#1_label_G-0-0": 50,
             "City.of.God.2002__#01-24-10_01-25-10_label_B2-0-0": 40}
    mine = [line for line in lines if line.split()[0].removesuffix(".mp4") in names]
    assert len(mine) == 3
    root = tmp_path / "xd"
    test = {**names, "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A": 3}
    write_xd(root, test=test, annotation=mine)
    _, from_gt = build(xd_config(root))
    _, from_annotation = build(xd_config(root, ground_truth="annotations.txt"))
    gt = np.load(root / "list" / "gt.npy")
    assert len(gt) == 16 * sum(test.values())
    np.testing.assert_array_equal(np.concatenate([from_annotation[safe(v)] for v in test]), gt)
    np.testing.assert_array_equal(np.concatenate([from_gt[safe(v)] for v in test]), gt)
    # 340-1090, cut at 640
    assert from_annotation[safe("City.of.God.2002__#01-24-10_01-25-10_label_B2-0-0")][340:].all()


def _drop_lines(path: Path, needle: str) -> None:
    path.write_text("".join(line for line in path.read_text().splitlines(True) if needle not in line))


def test_crop_file_mismatches_name_the_file(xd):
    root, _ = xd
    cfg = xd_config(root)
    name = next(iter(XD_TRAIN))
    video = safe(name)
    rgb = root / "RGB"
    listing = root / "list" / "rgb.list"
    original = listing.read_text()

    _drop_lines(listing, f"{name}__3.npy")
    with pytest.raises(AdapterError, match=rf"video {re.escape(video)}: \S+rgb.list lists its crop files .*"
                                           rf"imported.crops = 5 needs crops 0-4, crops \[3\] are missing"):
        list_videos(cfg)
    listing.write_text(original + f"{AUTHOR_DIR}RGB/{name}__5.npy\n")
    with pytest.raises(AdapterError, match=r"crops \[5\] are beyond them"):
        list_videos(cfg)
    listing.write_text(original + f"/elsewhere/{name}__2.npy\n")
    with pytest.raises(AdapterError, match=rf"video {re.escape(video)} has crop 2 twice"):
        list_videos(cfg)
    listing.write_text(original)

    (rgb / f"{name}__2.npy").rename(rgb / "moved.npy")
    with pytest.raises(AdapterError, match=rf"video {re.escape(video)}: feature file {re.escape(name)}__2.npy "
                                           rf"is in none of the folders"):
        list_videos(cfg)
    (rgb / "moved.npy").rename(rgb / f"{name}__2.npy")
    tested = next(iter(XD_TEST))                                  # a test video's file: RGBTest, not RGB
    (root / "RGBTest" / f"{tested}__4.npy").unlink()
    with pytest.raises(AdapterError, match=rf"feature file {re.escape(tested)}__4.npy is in none of the folders"):
        list_videos(cfg)
    np.save(root / "RGBTest" / f"{tested}__4.npy", np.zeros((XD_TEST[tested], DIM), np.float32))

    np.save(rgb / f"{name}__4.npy", np.zeros((4, DIM), np.float32))       # the others have 5 snippets
    with pytest.raises(AdapterError, match=rf"video {re.escape(video)}: its crop files differ in length "
                                           rf"\({re.escape(name)}__0.npy: 5, .*{re.escape(name)}__4.npy: 4 snippets\)"):
        list_videos(cfg)
    params = import_params(cfg["imported"])
    with pytest.raises(FeatureImportError, match=r"its crop files differ in length"):
        import_video(rgb / f"{name}__0.npy", root / "x.zarr", params)
    assert not (root / "x.zarr").exists()

    np.save(rgb / f"{name}__4.npy", np.zeros((5, 2048), np.float32))
    with pytest.raises(AdapterError, match=rf"video {re.escape(video)} \(\S+{re.escape(name)}__4.npy\): "
                                           rf"features are 2048-d, expected imported.dim = 1024"):
        list_videos(cfg)
    np.save(rgb / f"{name}__4.npy", np.zeros((5, CROPS, DIM), np.float32))
    with pytest.raises(AdapterError, match=r"__4.npy\): shape \[5, 5, 1024\] has 3 axes, layout snippet_feature"):
        list_videos(cfg)

    with pytest.raises(FeatureImportError, match=r"not its 5 crop files in crop order"):
        import_video([rgb / f"{name}__1.npy", rgb / f"{name}__0.npy"], root / "x.zarr", params)
    with pytest.raises(FeatureImportError, match=r"has no crop index matching imported.crop_files"):
        crop_paths(rgb / "no_index.npy", params)
    with pytest.raises(FeatureImportError, match=r"imported.crop_files: each file holds one crop, so imported.layout "
                                                 r"must be snippet_feature"):
        import_params({**cfg["imported"], "layout": "snippet_crop_feature"})


def test_ids_that_id_replace_merges_are_refused(tmp_path):
    root = tmp_path / "xd"
    write_xd(root, train={"Riot__#1_label_B1": 4, "Riot__1_label_B1": 4, "Calm__#1_label_A": 4})
    with pytest.raises(AdapterError, match=r"video Riot__1_label_B1 has crop 0 twice .* \(imported.id_replace "
                                           r"maps both names to this id\)"):
        list_videos(xd_config(root))


def test_imported_fixture_scores_end_to_end(xd):
    """Import, score by feature magnitude and evaluate: auc.json holds AP both ways and macro AUC."""
    root, _ = xd
    cfg = xd_config(root)
    out = root.parent / "results"
    out.mkdir()
    prepare(cfg, out / "manifest.csv", out / "ground_truth.npz")
    params = import_params(cfg["imported"])
    entries, truth = build(cfg)
    scores = {}
    for entry in entries:
        if entry.split_weak != "test":
            continue
        import_video(entry.source, out / f"{entry.video}.zarr", params)
        features = open_store(out / f"{entry.video}.zarr", "features", feature=DIM, crop=CROPS).read()
        scores[entry.video] = snippets_to_frames(features.mean(axis=(1, 2)), entry.n_frames)
    save_scores(out / "magnitude.npz", {"magnitude": scores}, {"method": "magnitude", "protocol": "weak"})
    report = evaluate(str(out / "manifest.csv"), str(out / "ground_truth.npz"), [str(out / "magnitude.npz")],
                      str(out / "auc.json"), str(out / "roc.png"), str(out / "tl.png"), "xd_violence_i3d",
                      {"seed": 0}, metric="ap")
    saved = json.loads((out / "auc.json").read_text())
    assert saved["metric"] == "ap" and saved["rows"] == json.loads(json.dumps(report["rows"]))
    row = saved["rows"][0]
    test = [safe(v) for v in XD_TEST]
    y = np.concatenate([truth[v] for v in test])
    s = np.concatenate([scores[v] for v in test])
    precision, recall, _ = precision_recall_curve(y, s)
    assert row["ap"] == pytest.approx(average_precision_score(y, s))
    assert row["pr_auc"] == pytest.approx(auc(recall, precision)) and row["pr_auc"] != row["ap"]
    assert row["ap"] > 0.9 and row["frames"] == len(y) == 16 * sum(XD_TEST.values())
    assert row["macro_videos"] == 2 and 0.9 < row["macro_auc"] <= 1.0     # the two violent test videos
    assert "the dataset is scored by AP" in format_table(saved) and "PR-AUC" in html_table(saved)
