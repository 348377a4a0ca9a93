"""Ground truth rebuilt from the field's own label files (``../shared/data/labels``, see its README):
ShanghaiTech's RTFM lists and ``gt-sh.npy`` through the adapter ``features``, UCF-Crime's temporal
annotation and true frame counts through the adapter ``ucf_crime``, RTFM's UCF-Crime lists through the
adapter ``features`` with ``config/datasets/ucf_crime_i3d.yaml``.

No feature or video is stored anywhere, so none is read: feature files are written with a valid
``.npy`` header and a data region that is never written (the importer reads headers only, when it
lists), and video files are empty, their frame counts being the ones ``UCF_Annotation.txt`` states.
The tests that need the label files skip where they are absent; the annotation layouts are also
checked on a tiny release written here."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import yaml

from vadlib.data.adapters import build, prepare, ucf_crime
from vadlib.data.manifest import load_ground_truth, read_manifest
from vadlib.features.importer import import_ground_truth
from vadlib.snippets import SNIPPET_LEN, n_snippets, snippet_frame_indices

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT.parent / "shared" / "data" / "labels"
SH = LABELS / "shanghaitech"
UCF = LABELS / "ucf_crime"
TRAIN_SNIPPETS = 3   # any small count: the training videos have no frame labels to line up with


def need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"the field's label files are not here: {missing} (../shared/data/labels from the "
                    f"project's root, see its README)")


def dataset_file(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / "datasets" / f"{name}.yaml").read_text())


def list_names(path: Path) -> list[str]:
    """File names of a list's lines, in order (the authors' paths, Windows or POSIX, dropped)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [PurePosixPath(line.strip().replace("\\", "/")).name for line in lines if line.strip()]


def stem(name: str, suffix: str) -> str:
    assert name.endswith(suffix), name
    return name[: -len(suffix)]


def write_empty_features(path: Path, snippets: int, crops: int = 10, dim: int = 2048) -> None:
    """A valid ``.npy`` of ``[snippets, crops, dim]`` float32 whose data is never written: the file is
    extended with truncate, so it reads as zeros and, on a file system with sparse files, takes a few
    bytes however many snippets it declares."""
    shape = (snippets, crops, dim)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
        fh.truncate(fh.tell() + np.dtype("<f4").itemsize * math.prod(shape))


def write_feature_folder(folder: Path, snippets: dict[str, int]) -> None:
    """One empty feature file per ``name -> snippets``; skips where the file system would store them in
    full (the UCF-Crime test files declare 5.7 GB)."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / "probe.npy"
    write_empty_features(probe, 1024)                   # 80 MiB declared
    allocated = probe.stat().st_blocks * 512
    probe.unlink()
    if allocated > 1 << 20:
        pytest.skip(f"{folder}: the file system does not keep sparse files ({allocated} bytes allocated "
                    f"for an unwritten 80 MiB), and the release's feature files would be written in full")
    for name, count in snippets.items():
        write_empty_features(folder / name, count)


def rtfm_release(tmp_path_factory, dataset: str, train_list: Path, test_list: Path, test_snippets,
                 **paths: str) -> tuple[dict, list[str], list[str]]:
    """An RTFM feature release as config/datasets/{dataset}.yaml reads it: the real lists, one empty
    feature file per listed video in the folder of its split (training videos ``TRAIN_SNIPPETS`` long,
    test video ``v`` ``test_snippets(v)``), and the dataset config pointed at it, its ``imported`` paths
    overridden by ``paths``. Returns the config and the training and test ids in list order."""
    train = [stem(n, "_i3d.npy") for n in list_names(train_list)]
    test = [stem(n, "_i3d.npy") for n in list_names(test_list)]
    root = tmp_path_factory.mktemp(dataset)
    cfg = dataset_file(dataset)
    train_dir, test_dir = cfg["imported"]["features_dir"]
    write_feature_folder(root / train_dir, {f"{v}_i3d.npy": TRAIN_SNIPPETS for v in train})
    write_feature_folder(root / test_dir, {f"{v}_i3d.npy": test_snippets(v) for v in test})
    cfg = {**cfg, "root": str(root), "imported": {
        **cfg["imported"], "train_list": str(train_list), "test_list": str(test_list), **paths}}
    return cfg, train, test


# --- ShanghaiTech: RTFM's lists and gt-sh.npy ----------------------------------------------------

SH_FILES = ("shanghai-i3d-train-10crop.list", "shanghai-i3d-test-10crop.list", "gt-sh.npy",
            "shanghaitech_ground_truth.testing.json", "SH_Train.txt", "SH_Test.txt")


def clip_digits(video: str) -> int:
    """Digits of a ShanghaiTech id's clip number: four for the clips of the one-class test set (all
    of them hold anomalies; the weak split moves 63 into training), three for the normal training videos."""
    return len(video.split("_")[1])


@pytest.fixture(scope="module")
def shanghai(tmp_path_factory):
    """RTFM's ShanghaiTech release as config/datasets/shanghai_i3d.yaml reads it: the real lists and
    gt-sh.npy (from ../shared), and one empty feature file per listed video in the folder its list names,
    each test video with the snippets of its frame count in the S3R json (frames = 16 x snippets)."""
    need(*(SH / f for f in SH_FILES))
    per_video = json.loads((SH / "shanghaitech_ground_truth.testing.json").read_text())
    cfg, train, test = rtfm_release(tmp_path_factory, "shanghai_i3d", SH / "shanghai-i3d-train-10crop.list",
                                    SH / "shanghai-i3d-test-10crop.list",
                                    lambda v: per_video[v]["num_frames"] // SNIPPET_LEN,
                                    ground_truth=str(SH / "gt-sh.npy"))
    return cfg, train, test, per_video


def test_shanghaitech_label_files_agree(shanghai):
    """The files the fixture is made of tell one story: the lists hold the split files' videos (238 and
    199, disjoint), the json follows the test list with whole snippets, and its labels are gt-sh.npy."""
    _, train, test, per_video = shanghai
    assert (len(train), len(test)) == (238, 199) and not set(train) & set(test)
    assert set(train) == set((SH / "SH_Train.txt").read_text().split())
    assert set(test) == set((SH / "SH_Test.txt").read_text().split())
    assert list(per_video) == test
    assert all(v["num_frames"] % SNIPPET_LEN == 0 and len(v["labels"]) == v["num_frames"]
               for v in per_video.values())
    gt = np.load(SH / "gt-sh.npy")
    assert gt.shape == (142_912,) and int(gt.sum()) == 8_028
    np.testing.assert_array_equal(np.concatenate([per_video[v]["labels"] for v in test]), gt)


def test_shanghaitech_ground_truth_through_the_features_adapter(shanghai):
    """build on RTFM's release: every listed video in list order with its split, 16 x snippets frames
    and camera; training labels from the list order (63 abnormal first: exactly the four-digit clips),
    test labels from the ground truth (44 abnormal: again the four-digit clips); the per-video ground
    truth, concatenated in test-list order, is gt-sh.npy frame for frame."""
    cfg, train, test, per_video = shanghai
    entries, truth = build(cfg)
    assert [e.video for e in entries] == train + test
    assert [e.split_weak for e in entries] == ["train"] * 238 + ["test"] * 199
    assert all(e.split_oneclass == "" and e.source_kind == "features" and e.fps == 24 for e in entries)
    assert all(e.scene == e.video.split("_")[0] for e in entries)
    by_id = {e.video: e for e in entries}
    root = Path(cfg["root"])
    assert by_id["01_0014"].source == str(root / "SH_Train_ten_crop_i3d" / "01_0014_i3d.npy")
    assert by_id["01_0015"].source == str(root / "SH_Test_ten_crop_i3d" / "01_0015_i3d.npy")
    assert [by_id[v].n_frames for v in train] == [SNIPPET_LEN * TRAIN_SNIPPETS] * 238
    assert [by_id[v].n_frames for v in test] == [per_video[v]["num_frames"] for v in test]

    assert [by_id[v].label for v in train] == [1] * 63 + [0] * 175
    assert [v for v in train if by_id[v].label] == [v for v in train if clip_digits(v) == 4]
    assert [v for v in test if by_id[v].label] == [v for v in test if clip_digits(v) == 4]
    assert sum(by_id[v].label for v in test) == 44

    assert sorted(truth) == sorted(test)
    assert all(truth[v].dtype == np.uint8 for v in test)
    concatenated = np.concatenate([truth[v] for v in test])
    assert concatenated.shape == (142_912,) and int(concatenated.sum()) == 8_028
    np.testing.assert_array_equal(concatenated, np.load(SH / "gt-sh.npy"))
    for v in test:
        np.testing.assert_array_equal(truth[v], per_video[v]["labels"])


def test_shanghaitech_manifest_and_import_ground_truth(shanghai, tmp_path):
    """What the workflow writes (prepare: manifest.csv and ground_truth.npz) holds the same rows and
    labels, and the importer's stage, splitting gt-sh.npy by the written manifest, gives them again."""
    cfg, train, test, per_video = shanghai
    prepare(cfg, tmp_path / "manifest.csv", tmp_path / "ground_truth.npz")
    manifest = read_manifest(tmp_path / "manifest.csv").set_index("video")
    assert manifest.index.tolist() == train + test          # ids stay strings, leading zeros kept
    assert manifest.loc[test, "n_frames"].tolist() == [per_video[v]["num_frames"] for v in test]
    assert int(manifest.loc[train, "label"].sum()) == 63 and int(manifest.loc[test, "label"].sum()) == 44
    written = load_ground_truth(tmp_path / "ground_truth.npz")

    root = Path(cfg["root"])
    section = {**cfg["imported"], "features_dir": [str(root / d) for d in cfg["imported"]["features_dir"]]}
    import_ground_truth({"imported": section}, tmp_path / "manifest.csv", tmp_path / "imported.npz")
    imported = load_ground_truth(tmp_path / "imported.npz")
    assert sorted(written) == sorted(imported) == sorted(test)
    gt = np.load(SH / "gt-sh.npy")
    np.testing.assert_array_equal(np.concatenate([written[v] for v in test]), gt)
    np.testing.assert_array_equal(np.concatenate([imported[v] for v in test]), gt)


# --- UCF-Crime: the temporal annotation and the true frame counts ---------------------------------

UCF_FILES = ("Temporal_Anomaly_Annotation.txt", "UCF_Annotation.txt", "Anomaly_Train.txt", "Anomaly_Test.txt",
             "ucf-i3d.list", "ucf-i3d-test.list")
UCF_FRAMES = 1_111_808      # the 290 test videos' true frame counts (UCF_Annotation.txt), summed
# 156 intervals (140 abnormal videos, 16 of them with a second one) hold sum(e - s + 1) = 84,345 frames;
# five end past their video's last frame, by 1, 1, 1, 2 and 2 frames, which clipping drops: 84,345 - 7
UCF_ANOMALOUS = 84_338


def frames_in(n_frames: int, intervals: list[tuple[int, int]]) -> np.ndarray:
    """Labels of frames 1 .. n_frames: 1 where the frame number lies in some [s, e], both ends included."""
    number = np.arange(1, n_frames + 1)
    inside = [(number >= s) & (number <= e) for s, e in intervals]
    return np.any(inside, axis=0).astype(np.uint8) if inside else np.zeros(n_frames, np.uint8)


@pytest.fixture(scope="module")
def ucf_annotations():
    need(*(UCF / f for f in UCF_FILES))
    return (ucf_crime.read_annotations(UCF / "Temporal_Anomaly_Annotation.txt"),
            ucf_crime.read_annotations(UCF / "UCF_Annotation.txt"))


def ucf_release(root: Path) -> Path:
    """Empty video files at every line of the official split lists, under ``root/Videos``."""
    for name in ("Anomaly_Train.txt", "Anomaly_Test.txt"):
        for rel in (UCF / name).read_text().split():
            path = root / "Videos" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return root


def counted(counts: dict[str, int], train_frames: int = SNIPPET_LEN):
    """A stand-in for the decoder's frame counts (the videos are not here): the test videos' true counts,
    ``train_frames`` for the training videos, which have no frame labels."""
    def fill(entries, desc):
        return [replace(e, n_frames=counts.get(e.video, train_frames)) for e in entries]
    return fill


TINY_ANNOTATIONS = {  # one test video of 8 frames, one of 4, in each layout the field's files use
    "release": ["Arrest001_x264.mp4  Arrest  2  3  5  9", "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1"],
    "bare": ["Arrest001_x264  Arrest  2  3  5  9", "Normal_Videos_003_x264  Normal  -1  -1  -1  -1"],
    "with_counts": ["Arrest/Arrest001_x264.mp4 8 Arrest 2 3 5 9",
                    "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4 4 Normal -1 -1 -1 -1"],
}


@pytest.mark.parametrize("layout", list(TINY_ANNOTATIONS))
@pytest.mark.parametrize("test_list", [True, False])
def test_ucf_crime_annotation_layouts_on_a_tiny_release(layout, test_list, tmp_path, monkeypatch):
    """Every layout of the annotation file, with or without the test list: the video is named by its file
    name less ".mp4" wherever it is written, found where the release keeps it, and labelled frame for
    frame ("5 9" on 8 frames is clipped to frames 5-8)."""
    root = tmp_path / "ucf_crime"
    for rel in ("Abuse/Abuse001_x264.mp4", "Arrest/Arrest001_x264.mp4",
                "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4"):
        (root / "Videos" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "Videos" / rel).touch()
    (root / "train.txt").write_text("Abuse/Abuse001_x264.mp4\n")
    (root / "test.txt").write_text("Arrest/Arrest001_x264.mp4\n"
                                   "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4\n")
    (root / "annotations.txt").write_text("\n".join(TINY_ANNOTATIONS[layout]) + "\n")
    annotations = ucf_crime.read_annotations(root / "annotations.txt")
    assert list(annotations) == ["Arrest001_x264", "Normal_Videos_003_x264"]
    assert annotations["Arrest001_x264"].intervals == [(2, 3), (5, 9)]
    assert annotations["Arrest001_x264"].n_frames == (8 if layout == "with_counts" else None)

    cfg = {"adapter": "ucf_crime", "root": str(root), "train_list": "train.txt", "annotations": "annotations.txt",
           "test_list": "test.txt" if test_list else None, "video_dirs": "Videos"}
    counts = {"Arrest001_x264": 8, "Normal_Videos_003_x264": 4}
    monkeypatch.setattr(ucf_crime, "fill_frame_counts", counted(counts))
    entries, truth = build(cfg)
    assert [(e.video, e.split_weak, e.label) for e in entries] == [
        ("Abuse001_x264", "train", 1), ("Arrest001_x264", "test", 1), ("Normal_Videos_003_x264", "test", 0)]
    assert entries[1].source == str(root / "Videos" / "Arrest" / "Arrest001_x264.mp4")
    np.testing.assert_array_equal(truth["Arrest001_x264"], [0, 1, 1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(truth["Normal_Videos_003_x264"], [0, 0, 0, 0])


def test_ucf_crime_annotation_lines_that_do_not_parse(tmp_path):
    """A line of neither layout fails by file and line, naming both; one video under two spellings is
    one video annotated twice."""
    path = tmp_path / "annotations.txt"
    path.write_text("Arrest/Arrest001_x264.mp4 8 Arrest 2 3 5\n")
    with pytest.raises(ucf_crime.AdapterError, match=r"annotations\.txt:1: expected 'video class start end "
                                                     r"\[start end\]' or 'video frames class start end"):
        ucf_crime.read_annotations(path)
    path.write_text("Arrest001_x264  Arrest  2  3  -1  -1\nArrest001_x264.mp4  Arrest  4  5  -1  -1\n")
    with pytest.raises(ucf_crime.AdapterError, match=r"annotations\.txt:2: video 'Arrest001_x264' is annotated "
                                                     r"twice \(also \S+annotations\.txt:1\)"):
        ucf_crime.read_annotations(path)


@pytest.fixture(scope="module")
def ucf_built(tmp_path_factory, ucf_annotations):
    """build of the adapter ``ucf_crime`` on the release's lists and RTFM's annotation file, with the
    true frame counts."""
    _, with_counts = ucf_annotations
    root = ucf_release(tmp_path_factory.mktemp("ucf_crime"))
    cfg = {"adapter": "ucf_crime", "root": str(root), "protocols": ["weak"], "video_dirs": ["Videos"],
           "train_list": str(UCF / "Anomaly_Train.txt"), "test_list": str(UCF / "Anomaly_Test.txt"),
           "annotations": str(UCF / "Temporal_Anomaly_Annotation.txt")}
    counts = {v: a.n_frames for v, a in with_counts.items()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ucf_crime, "fill_frame_counts", counted(counts))
        entries, truth = build(cfg)
    return cfg, entries, truth, counts


def test_ucf_crime_annotation_files_agree(ucf_annotations):
    """The adapter's parser reads both layouts of the real files: the official annotation (names without
    ".mp4" in this copy) and UCF_Annotation.txt (class folder, frame count). They name the same 290 test
    videos, the official test split's, with the same class and intervals for every one."""
    official, with_counts = ucf_annotations
    assert len(official) == len(with_counts) == 290
    assert set(official) == set(with_counts) == {ucf_crime.video_id(r) for r in
                                                 (UCF / "Anomaly_Test.txt").read_text().split()}
    for video, a in official.items():
        b = with_counts[video]
        assert (a.class_name, a.intervals) == (b.class_name, b.intervals), video
        assert a.n_frames is None and b.n_frames > 0 and a.path == f"{video}.mp4"
        folder = "Testing_Normal_Videos_Anomaly" if a.label == 0 else a.class_name
        assert b.path == f"{folder}/{video}.mp4", b.where
    assert sum(a.label for a in official.values()) == 140
    assert sum(len(a.intervals) for a in official.values()) == 156
    assert sum(b.n_frames for b in with_counts.values()) == UCF_FRAMES
    # the second interval, where there is one, starts after the first ends: the intervals never overlap
    assert all(i[0][1] < i[1][0] for i in (a.intervals for a in official.values()) if len(i) == 2)


def test_ucf_crime_ground_truth_has_the_true_frames_and_the_annotated_ones(ucf_built, ucf_annotations):
    """Each test video's ground truth has its true frame count, and its anomalous frames are those whose
    1-based number lies in an annotated interval, both ends included, clipped to the video: the reading
    of the authors' Evaluate_Anomaly_Detector.m, GT(max(s,1):min(e,n)) = 1 (see vadlib.data.adapters.
    ucf_crime for why the file fits it, and how RTFM's gt-ucf.npy differs by one frame)."""
    _, entries, truth, counts = ucf_built
    official, _ = ucf_annotations
    tests = [e for e in entries if e.split_weak == "test"]
    assert len(entries) == 1900 and [e.video for e in tests] == list(official)
    assert sorted(truth) == sorted(official)
    for e in tests:
        labels, annotation = truth[e.video], official[e.video]
        assert e.n_frames == counts[e.video] == len(labels) and labels.dtype == np.uint8
        assert e.label == annotation.label == int(labels.any())
        np.testing.assert_array_equal(labels, frames_in(e.n_frames, annotation.intervals), err_msg=e.video)
    assert sum(len(t) for t in truth.values()) == UCF_FRAMES
    assert sum(int(t.sum()) for t in truth.values()) == UCF_ANOMALOUS

    # the convention at its edges, one frame at a time (frame f is index f - 1)
    abuse = truth["Abuse028_x264"]                      # 165 240, of 1412 frames
    assert abuse[163] == 0 and abuse[164] == 1 and abuse[239] == 1 and abuse[240] == 0
    assert abuse.sum() == 240 - 165 + 1
    assert truth["Burglary035_x264"][0] == 1            # 1 1740: the first frame
    assert truth["Assault006_x264"][-1] == 1            # ends on frame n
    arson = truth["Arson011_x264"]                      # 1266 frames; its second interval 680 1267
    assert counts["Arson011_x264"] == 1266 and arson[679:].all() and arson[678] == 0


@pytest.mark.parametrize("variant", ["release_names", "with_counts", "no_test_list"])
def test_ucf_crime_every_spelling_of_the_annotation_gives_the_same_ground_truth(variant, ucf_built, tmp_path):
    """The release's spelling (names with ".mp4"), UCF_Annotation.txt as the annotation file, and RTFM's
    copy with no test list at all (each video then found by its class folder and the ".mp4" the line
    lacks) locate the same files and build the same ground truth."""
    cfg, entries, truth, counts = ucf_built
    if variant == "release_names":
        lines = (UCF / "Temporal_Anomaly_Annotation.txt").read_text().splitlines()
        spelled = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
        spelled.write_text("".join(f"{line.split(maxsplit=1)[0]}.mp4  {line.split(maxsplit=1)[1]}\n"
                                   for line in lines))
        cfg = {**cfg, "annotations": str(spelled)}
    elif variant == "with_counts":
        cfg = {**cfg, "annotations": str(UCF / "UCF_Annotation.txt")}
    else:
        cfg = {**cfg, "test_list": str(tmp_path / "absent.txt")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ucf_crime, "fill_frame_counts", counted(counts))
        again, truth_again = build(cfg)
    assert sorted((e.video, e.source, e.label, e.split_weak) for e in again) == \
        sorted((e.video, e.source, e.label, e.split_weak) for e in entries)
    assert sorted(truth_again) == sorted(truth)
    for video, labels in truth.items():
        np.testing.assert_array_equal(truth_again[video], labels, err_msg=video)


def test_ucf_crime_snippets_of_the_true_frame_counts(ucf_annotations):
    """The snippet rule (vadlib.snippets) on the true counts: ceil(n / 16) snippets, the last partial
    one padded with the last frame, so 16 x snippets covers each video with fewer than 16 frames to
    spare. Summed: 69,634 snippets (the total reported for RTFM's published test features) and
    1,114,144 frames; the floor rule would give 69,364 and 1,109,824. RTFM's published gt-ucf.npy is
    reported at 1,109,680 frames (69,355 snippets), which neither rule gives for these counts."""
    _, with_counts = ucf_annotations
    snippets = {}
    for video, a in with_counts.items():
        n = a.n_frames
        snippets[video] = n_snippets(n)
        assert snippets[video] == -(-n // SNIPPET_LEN) and 0 <= SNIPPET_LEN * snippets[video] - n < SNIPPET_LEN
        idx = snippet_frame_indices(n)
        assert idx.shape == (snippets[video], SNIPPET_LEN) and idx[-1, -1] == n - 1
    assert sum(snippets.values()) == 69_634 and SNIPPET_LEN * sum(snippets.values()) == 1_114_144
    assert sum(a.n_frames // SNIPPET_LEN for a in with_counts.values()) == 69_364
    # videos of whole snippets need no padding (20 of the 290; Assault006_x264: 8,096 = 16 x 506 frames)
    whole = [v for v, a in with_counts.items() if a.n_frames % SNIPPET_LEN == 0]
    assert len(whole) == 20 and snippets["Assault006_x264"] == 506


@pytest.fixture(scope="module")
def ucf_i3d(tmp_path_factory, ucf_built):
    """RTFM's UCF-Crime release as config/datasets/ucf_crime_i3d.yaml reads it: the real lists (Windows
    paths), one empty feature file per listed video, each test video with the snippets the snippet rule
    gives its true count, and as ground truth the adapter's, per video (an .npz), padded to 16 x snippets
    with the last frame's label, as the extractor pads the last snippet with the last frame."""
    _, _, truth, counts = ucf_built
    cfg, train, test = rtfm_release(tmp_path_factory, "ucf_crime_i3d", UCF / "ucf-i3d.list", UCF / "ucf-i3d-test.list",
                                    lambda v: n_snippets(counts[v]), ground_truth="ground_truth_from_annotation.npz")
    padded = {v: np.pad(truth[v], (0, SNIPPET_LEN * n_snippets(counts[v]) - counts[v]), mode="edge")
              for v in test}
    np.savez(Path(cfg["root"]) / "ground_truth_from_annotation.npz", **padded)
    return cfg, train, test, padded


def test_ucf_crime_rtfm_lists_import_with_the_dataset_file(ucf_i3d, ucf_annotations):
    """The dataset file's settings on RTFM's real lists: 1,610 training videos in list order, the first
    810 abnormal by name (the order RTFM's loader slices at 810), the official training split's videos;
    290 test videos, exactly the annotation file's, 140 abnormal first, labelled by their ground truth,
    which lines up with 16 x snippets of each video's true frame count."""
    cfg, train, test, padded = ucf_i3d
    official, with_counts = ucf_annotations
    assert (len(train), len(test)) == (1610, 290)
    assert set(train) == {ucf_crime.video_id(r) for r in (UCF / "Anomaly_Train.txt").read_text().split()}
    assert set(test) == set(official) and len(set(test)) == 290

    entries, truth = build(cfg)
    by_id = {e.video: e for e in entries}
    assert [e.video for e in entries] == train + test
    assert [by_id[v].label for v in train] == [1] * 810 + [0] * 800
    by_order = {**cfg, "imported": {**cfg["imported"], "train_labels": {"from": "list_order",
                                                                        "abnormal_first": 810}}}
    assert [e.label for e in build(by_order)[0]] == [e.label for e in entries]
    assert [by_id[v].label for v in test] == [1] * 140 + [0] * 150
    assert all(by_id[v].label == official[v].label for v in test)
    root = Path(cfg["root"])
    assert by_id["Abuse001_x264"].source == str(root / "UCF_Train_ten_crop_i3d" / "Abuse001_x264_i3d.npy")
    assert by_id["Abuse028_x264"].source == str(root / "UCF_Test_ten_crop_i3d" / "Abuse028_x264_i3d.npy")
    assert all(by_id[v].fps == 30 and by_id[v].split_weak == "test" for v in test)

    frames = [by_id[v].n_frames for v in test]
    assert frames == [SNIPPET_LEN * n_snippets(with_counts[v].n_frames) for v in test]
    assert sum(frames) == 1_114_144
    for v in test:
        n = with_counts[v].n_frames
        np.testing.assert_array_equal(truth[v], padded[v], err_msg=v)
        np.testing.assert_array_equal(truth[v][:n], frames_in(n, official[v].intervals), err_msg=v)
    assert sum(int(truth[v][: with_counts[v].n_frames].sum()) for v in test) == UCF_ANOMALOUS
