"""Dataset adapters: tiny fixtures in each public layout -> manifests and ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from vadlib.data.adapters import ADAPTERS, AdapterError, build, list_videos, manifest_inputs, prepare
from vadlib.data.adapters.ucsd_avenue import read_ucsd_m, ucsd_m_labels
from vadlib.data.manifest import load_ground_truth, read_manifest

import ucf_layout

# --- fixture writers ----------------------------------------------------------------------------


def write_frames(folder: Path, n: int, suffix: str = ".jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}{suffix}"), np.full((16, 16, 3), (20 * i) % 256, np.uint8))


def write_video(path: Path, n: int, fps: float = 10.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = "mp4v" if path.suffix == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (16, 16))
    assert writer.isOpened(), path
    for i in range(n):
        writer.write(np.full((16, 16, 3), (20 * i) % 256, np.uint8))
    writer.release()


def write_text(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def by_id(entries):
    return {e.video: e for e in entries}


# --- ShanghaiTech -------------------------------------------------------------------------------

SH_TRAIN = {"01_001": 5, "01_002": 6, "02_001": 4}
SH_TEST = {"01_0014": [0, 0, 1, 1, 0, 0], "01_0015": [0, 0, 0, 0, 0], "02_0010": [0, 1, 1, 1]}


@pytest.fixture()
def shanghai(tmp_path):
    root = tmp_path / "shanghaitech"
    for video, n in SH_TRAIN.items():
        write_video(root / "training" / "videos" / f"{video}.avi", n)
    for video, labels in SH_TEST.items():
        write_frames(root / "testing" / "frames" / video, len(labels))
        (root / "testing" / "test_frame_mask").mkdir(parents=True, exist_ok=True)
        np.save(root / "testing" / "test_frame_mask" / f"{video}.npy", np.array(labels, np.uint8))
    write_text(root / "SH_Train.txt", ["01_001", "01_0014", "02_001"])
    write_text(root / "SH_Test.txt", ["01_002", "01_0015", "02_0010"])
    return {"adapter": "shanghaitech", "root": str(root), "protocols": ["oneclass", "weak"]}


def test_shanghaitech_listing(shanghai):
    entries = list_videos(shanghai)
    assert [e.video for e in entries] == ["01_001", "01_002", "02_001", "01_0014", "01_0015", "02_0010"]
    e = by_id(entries)
    assert e["01_001"].source_kind == "video" and e["01_001"].n_frames == -1
    assert e["01_0014"].source_kind == "frames" and e["01_0014"].n_frames == 6
    assert e["02_0010"].scene == "02" and e["01_002"].scene == "01"
    assert [e[v].split_oneclass for v in ("01_001", "01_0014")] == ["train", "test"]
    assert {v: x.split_weak for v, x in e.items()} == {
        "01_001": "train", "01_0014": "train", "02_001": "train", "01_002": "test", "01_0015": "test",
        "02_0010": "test"}
    # a test folder with anomalous frames is an abnormal video, also when it trains the weak protocol
    assert {v: x.label for v, x in e.items()} == {
        "01_001": 0, "01_002": 0, "02_001": 0, "01_0014": 1, "01_0015": 0, "02_0010": 1}


def test_shanghaitech_build_and_prepare(shanghai, tmp_path):
    entries, truth = build(shanghai)
    assert [e.video for e in entries] == [e.video for e in list_videos(shanghai)]
    assert {e.video: e.n_frames for e in entries} == {**SH_TRAIN, **{v: len(x) for v, x in SH_TEST.items()}}
    assert by_id(entries)["01_001"].fps == pytest.approx(10.0)
    # test videos of either protocol: the three test folders and the weak split's training video 01_002
    assert set(truth) == {"01_0014", "01_0015", "02_0010", "01_002"}
    np.testing.assert_array_equal(truth["01_0014"], SH_TEST["01_0014"])
    np.testing.assert_array_equal(truth["01_002"], np.zeros(6))
    assert all(t.dtype == np.uint8 for t in truth.values())

    prepare(shanghai, tmp_path / "out" / "manifest.csv", tmp_path / "out" / "ground_truth.npz")
    manifest = read_manifest(tmp_path / "out" / "manifest.csv")
    assert manifest["video"].tolist()[3] == "01_0014"  # ids stay strings with their leading zeros
    assert manifest.loc[manifest.video == "01_0014", "split_weak"].item() == "train"
    loaded = load_ground_truth(tmp_path / "out" / "ground_truth.npz")
    np.testing.assert_array_equal(loaded["02_0010"], SH_TEST["02_0010"])


def test_shanghaitech_oneclass_only_needs_no_weak_lists(shanghai):
    for name in ("SH_Train.txt", "SH_Test.txt"):
        (Path(shanghai["root"]) / name).unlink()
    entries, truth = build({**shanghai, "protocols": ["oneclass"]})
    assert all(e.split_weak == "" for e in entries)
    assert set(truth) == set(SH_TEST)


def test_shanghaitech_errors(shanghai):
    root = Path(shanghai["root"])
    write_text(root / "SH_Train.txt", ["01_001", "01_0099"])
    with pytest.raises(AdapterError, match=r"SH_Train\.txt:2: video '01_0099' .*weak_train_list"):
        list_videos(shanghai)
    write_text(root / "SH_Train.txt", ["01_001"])
    write_text(root / "SH_Test.txt", ["# nothing here"])
    with pytest.raises(AdapterError, match="test split of the weak protocol is empty"):
        list_videos(shanghai)
    write_text(root / "SH_Test.txt", ["01_0015"])
    np.save(root / "testing" / "test_frame_mask" / "01_0014.npy", np.zeros(5, np.uint8))
    with pytest.raises(AdapterError, match=r"01_0014\.npy: 5 frame labels, but video '01_0014' has 6 frames"):
        build(shanghai)
    with pytest.raises(AdapterError, match=r"nowhere.*no such folder.*'root'"):
        list_videos({**shanghai, "root": str(root / "nowhere")})
    for video in SH_TRAIN:
        (root / "training" / "videos" / f"{video}.avi").unlink()
    with pytest.raises(AdapterError, match=r"training/videos: no video file .*'train_dir'"):
        list_videos(shanghai)


def test_shanghaitech_mask_of_a_test_video_file_is_checked_at_build(shanghai):
    """A test video given as a file has no count at listing; build checks its mask's length."""
    root = Path(shanghai["root"])
    write_video(root / "testing" / "videos" / "03_0001.avi", 4)
    np.save(root / "testing" / "test_frame_mask" / "03_0001.npy", np.array([0, 0, 1], np.uint8))
    cfg = {**shanghai, "test_dir": "testing/videos", "protocols": ["oneclass"]}
    assert by_id(list_videos(cfg))["03_0001"].n_frames == -1
    with pytest.raises(AdapterError, match=r"03_0001\.npy: 3 frame labels, but video '03_0001' has 4 frames"):
        build(cfg)


# --- UCSD Ped2 and CUHK Avenue -------------------------------------------------------------------

PED2_TEST = {"01": [0, 0, 1, 1, 0], "02": [1, 0, 0]}


@pytest.fixture()
def ped2(tmp_path):
    root = tmp_path / "ped2"
    write_frames(root / "training" / "frames" / "01", 4)
    write_frames(root / "training" / "frames" / "02", 3)
    for video, labels in PED2_TEST.items():
        write_frames(root / "testing" / "frames" / video, len(labels), ".tif")
    np.save(root / "frame_labels_ped2.npy", np.concatenate(list(PED2_TEST.values()))[None].astype(np.int64))
    return {"adapter": "ped2", "root": str(root), "protocols": ["oneclass"]}


def test_ped2_concatenated_labels(ped2):
    listed = list_videos(ped2)
    assert [e.video for e in listed] == ["train_01", "train_02", "test_01", "test_02"]
    assert [e.n_frames for e in listed] == [4, 3, 5, 3]  # frame folders are counted at listing
    assert [e.label for e in listed] == [0, 0, -1, -1]  # test labels sit in the label file
    assert [e.split_oneclass for e in listed] == ["train", "train", "test", "test"]
    entries, truth = build(ped2)
    assert [e.label for e in entries] == [0, 0, 1, 1]
    assert all(e.fps == 10.0 and e.split_weak == "" for e in entries)
    np.testing.assert_array_equal(truth["test_01"], PED2_TEST["01"])
    np.testing.assert_array_equal(truth["test_02"], PED2_TEST["02"])


def test_ped2_per_video_labels(ped2):
    root = Path(ped2["root"])
    (root / "testing" / "labels").mkdir()
    np.save(root / "testing" / "labels" / "01.npy", np.array([0, 0, 0, 0, 0]))
    np.save(root / "testing" / "labels" / "02.npy", np.array([False, True, True]))
    entries, truth = build({**ped2, "labels": "testing/labels", "label_format": "per_video"})
    np.testing.assert_array_equal(truth["test_02"], [0, 1, 1])
    assert by_id(entries)["test_01"].label == 0 and by_id(entries)["test_02"].label == 1


def test_ped2_errors(ped2):
    root = Path(ped2["root"])
    np.save(root / "frame_labels_ped2.npy", np.zeros((1, 7)))
    with pytest.raises(AdapterError, match=r"frame_labels_ped2\.npy: 7 frame labels, but the 2 test videos .* "
                                           r"have 8 frames together"):
        build(ped2)
    np.save(root / "frame_labels_ped2.npy", np.full((1, 8), 2))
    with pytest.raises(AdapterError, match=r"frame_labels_ped2\.npy: frame labels of video 'test_01' must be 0 or 1"):
        build(ped2)
    with pytest.raises(AdapterError, match=r"'label_format' is 'csv'"):
        build({**ped2, "label_format": "csv"})
    with pytest.raises(AdapterError, match=r"'protocols' asks for 'weak'.*supports only \['oneclass'\]"):
        list_videos({**ped2, "protocols": ["weak"]})
    (root / "testing" / "frames" / "03").mkdir()
    with pytest.raises(AdapterError, match=r"frames/03: the frame folder holds no image .*'test_dir'"):
        list_videos(ped2)


def _volume(n_frames: int, anomalous: list[int]) -> np.ndarray:
    """A MATLAB cell array (1 x n) of 12 x 16 masks, as Avenue's testing_label_mask holds."""
    cells = np.empty((1, n_frames), dtype=object)
    for i in range(n_frames):
        mask = np.zeros((12, 16), np.uint8)
        if i in anomalous:
            mask[3:5, 4:9] = 1
        cells[0, i] = mask
    return cells


@pytest.fixture()
def avenue(tmp_path):
    root = tmp_path / "avenue"
    write_video(root / "training_videos" / "01.avi", 4, fps=25)
    write_video(root / "testing_videos" / "01.avi", 5, fps=25)
    write_video(root / "testing_videos" / "02.avi", 3, fps=25)
    masks = root / "ground_truth_demo" / "testing_label_mask"
    masks.mkdir(parents=True)
    savemat(masks / "1_label.mat", {"volLabel": _volume(5, [2, 3])})
    savemat(masks / "2_label.mat", {"volLabel": _volume(3, [])})
    return {"adapter": "avenue", "root": str(root)}


def test_avenue_videos_and_mat_masks(avenue):
    listed = list_videos(avenue)
    assert [(e.video, e.source_kind, e.n_frames) for e in listed] == [
        ("train_01", "video", -1), ("test_01", "video", -1), ("test_02", "video", -1)]
    entries, truth = build(avenue)
    assert [e.n_frames for e in entries] == [4, 5, 3]
    assert entries[1].fps == pytest.approx(25.0)
    np.testing.assert_array_equal(truth["test_01"], [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(truth["test_02"], [0, 0, 0])
    assert [e.label for e in entries] == [0, 1, 0]


def test_avenue_errors(avenue):
    masks = Path(avenue["root"]) / "ground_truth_demo" / "testing_label_mask"
    savemat(masks / "1_label.mat", {"volLabel": _volume(4, [2])})
    with pytest.raises(AdapterError, match=r"1_label\.mat: 4 frame labels, but video 'test_01' has 5 frames"):
        build(avenue)
    savemat(masks / "1_label.mat", {"masks": _volume(5, [2])})
    with pytest.raises(AdapterError, match=r"1_label\.mat: no variable 'volLabel'"):
        build(avenue)
    (masks / "2_label.mat").unlink()
    savemat(masks / "1_label.mat", {"volLabel": _volume(5, [2])})
    with pytest.raises(AdapterError, match=r"2_label\.mat: no label masks for test video 'test_02'.*'labels'"):
        build(avenue)
    path = Path(avenue["root"]) / "testing_videos" / "02.avi"
    path.write_bytes(b"not a video")
    with pytest.raises(AdapterError, match=r"02\.avi.*video 'test_02'"):
        build(avenue)



def test_ped2_limit_keeps_the_first_videos_of_each_split(ped2):
    cfg = {**ped2, "limit": {"train": 1, "test": 1}}
    assert [e.video for e in list_videos(cfg)] == ["train_01", "test_01"]
    entries, truth = build(cfg)  # the concatenated labels are still placed by every test video's count
    assert [e.video for e in entries] == ["train_01", "test_01"] and list(truth) == ["test_01"]
    np.testing.assert_array_equal(truth["test_01"], PED2_TEST["01"])
    assert [e.video for e in list_videos({**ped2, "limit": {"test": 1}})] == ["train_01", "train_02", "test_01"]
    root = Path(ped2["root"])  # per-video labels: only the kept videos' files are read
    (root / "testing" / "labels").mkdir()
    np.save(root / "testing" / "labels" / "01.npy", np.array(PED2_TEST["01"]))
    _, truth = build({**cfg, "labels": "testing/labels", "label_format": "per_video"})
    assert list(truth) == ["test_01"]
    for limit, match in (({"tests": 1}, r"'limit' has unknown split\(s\) \['tests'\]"),
                         ({"train": 0}, r"'limit': 'train' must be a positive integer, got 0"),
                         (3, r"'limit' must be a mapping")):
        with pytest.raises(AdapterError, match=match):
            list_videos({**ped2, "limit": limit})


# --- the UCSD release layout (UCSDped2/Train/Train001/001.tif, Test/UCSDped2.m) --------------------

UCSD_TEST = {"001": 6, "002": 4, "003": 5}
UCSD_M = [
    "TestVideoFile = {};",
    "% anomalous frames, 1-based and inclusive",
    "TestVideoFile{end+1}.gt_frame = [2:4];",
    "TestVideoFile{end+1}.gt_frame = [1:1, 3 : 4];   % two ranges",
    "",
    "TestVideoFile{end+1}.gt_frame = [5];",
]
UCSD_TRUTH = {"test_001": [0, 1, 1, 1, 0, 0], "test_002": [1, 0, 1, 1], "test_003": [0, 0, 0, 0, 1]}


@pytest.fixture()
def ucsd(tmp_path):
    """A tiny UCSD release: TIFF frame folders, the pixel-mask folders beside the test folders, macOS
    .DS_Store files and the MATLAB label file, as UCSD_Anomaly_Dataset.v1p2 unpacks."""
    root = tmp_path / "UCSDped2"
    write_frames(root / "Train" / "Train001", 4, ".tif")
    write_frames(root / "Train" / "Train002", 3, ".tif")
    for name, n in UCSD_TEST.items():
        write_frames(root / "Test" / f"Test{name}", n, ".tif")
        write_frames(root / "Test" / f"Test{name}_gt", n, ".bmp")
    for folder in (root / "Train", root / "Test", root / "Test" / "Test001"):
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    write_text(root / "Test" / "UCSDped2.m", UCSD_M)
    return {"adapter": "ped2", "root": str(root), "train_dir": "Train", "test_dir": "Test",
            "video_regex": r"(?:Train|Test)(\d+)", "labels": "Test/UCSDped2.m", "label_format": "ucsd_m"}


def test_ucsd_release_layout(ucsd, tmp_path):
    listed = list_videos(ucsd)
    assert [(e.video, e.n_frames) for e in listed] == [
        ("train_001", 4), ("train_002", 3), ("test_001", 6), ("test_002", 4), ("test_003", 5)]
    assert all(not e.source.endswith("_gt") for e in listed)
    entries, truth = build(ucsd)
    assert {v: t.tolist() for v, t in truth.items()} == UCSD_TRUTH
    assert [e.label for e in entries] == [0, 0, 1, 1, 1]
    prepare(ucsd, tmp_path / "out" / "manifest.csv", tmp_path / "out" / "ground_truth.npz")
    assert list(read_manifest(tmp_path / "out" / "manifest.csv")["video"]) == [e.video for e in listed]
    assert load_ground_truth(tmp_path / "out" / "ground_truth.npz")["test_002"].tolist() == UCSD_TRUTH["test_002"]
    assert manifest_inputs(ucsd) == [str(Path(ucsd["root"]) / "Test" / "UCSDped2.m")]
    # without video_regex the mask folders would be taken as videos; without its group ids keep the prefix
    assert "test_Test001_gt" in {e.video for e in list_videos({**ucsd, "video_regex": None})}
    assert [e.video for e in list_videos({**ucsd, "video_regex": r"Test\d+|Train\d+"})][:1] == ["train_Train001"]
    assert [e.video for e in list_videos({**ucsd, "limit": {"train": 1, "test": 2}})] == [
        "train_001", "test_001", "test_002"]


def test_ucsd_m_syntax(tmp_path):
    path = write_text(tmp_path / "labels.m", [
        "TestVideoFile{2}.gt_frame = [3:4];",        # numbered entries, in any order
        "TestVideoFile{1}.gt_frame = [1:2 5:6];",    # ranges separated by a space
        "TestVideoFile{end+1}.gt_frame = [];",       # a normal test video
    ])
    assert read_ucsd_m(path) == [(2, [(1, 2), (5, 6)]), (1, [(3, 4)]), (3, [])]
    assert [x.tolist() for x in ucsd_m_labels(path, [6, 4, 2])] == [[1, 1, 0, 0, 1, 1], [0, 0, 1, 1], [0, 0]]
    write_text(path, ["TestDataset.gt_frame{1} = [61:62];"])  # the field-indexed form
    assert read_ucsd_m(path) == [(1, [(61, 62)])]


@pytest.mark.parametrize("line, match", [
    ("TestVideoFile{end+1}.gt_frame = 61:180;", r"line 4: cannot read 'TestVideoFile\{end\+1\}\.gt_frame = 61:180;'"),
    ("TestVideoFile{end+1}.gt_frame = [5:x];", r"line 4: cannot read the frame range '5:x'"),
    ("TestVideoFile{end+1}.gt_frame = [4:2];", r"line 4: the frame range '4:2' of test video 2 is empty"),
    ("TestVideoFile{end+1}.gt_frame = [0:2];", r"line 4: the frame range '0:2' .* starts before frame 1"),
    ("TestVideoFile{1}.gt_frame = [1:2];", r"line 4: a second entry for test video 1 \(the first is on line 3\)"),
    ("TestVideoFile{end+1}.gt_frame = [1:9];",
     r"line 4: frames 1:9 \(1-based\) of test video 'test_002' run past its 4 frames"),
    ("Other{end+1}.gt_frame = [1:2];", r"line 4: an entry of 'Other', but the lines above fill 'TestVideoFile'"),
])
def test_ucsd_m_errors_name_the_file_and_line(ucsd, line, match):
    lines = [*UCSD_M[:3], line, UCSD_M[5]]
    write_text(Path(ucsd["root"]) / "Test" / "UCSDped2.m", lines)
    with pytest.raises(AdapterError, match=r"UCSDped2\.m, " + match):
        build(ucsd)


def test_ucsd_m_entry_count_and_gaps(ucsd):
    path = Path(ucsd["root"]) / "Test" / "UCSDped2.m"
    write_text(path, UCSD_M[:4])
    with pytest.raises(AdapterError, match=r"UCSDped2\.m: 2 entries of frame ranges, but there are 3 test videos"):
        build(ucsd)
    write_text(path, ["TestVideoFile{1}.gt_frame = [1:2];", "TestVideoFile{3}.gt_frame = [1:2];"])
    with pytest.raises(AdapterError, match=r"UCSDped2\.m: no entry for test video\(s\) \[2\]"):
        build(ucsd)
    write_text(path, ["% nothing"])
    with pytest.raises(AdapterError, match=r"UCSDped2\.m: no gt_frame entry"):
        build(ucsd)
    path.unlink()
    with pytest.raises(AdapterError, match=r"UCSDped2\.m: no such file or folder \(dataset field 'labels'"):
        build(ucsd)
    with pytest.raises(AdapterError, match=r"field 'video_regex' '\(Test' is not a regular expression"):
        list_videos({**ucsd, "video_regex": "(Test"})
    with pytest.raises(AdapterError, match=r"Train: no video file .* no frame folder whose name matches "
                                           r"'Nope\\d\+' \(dataset field 'train_dir'\)"):
        list_videos({**ucsd, "video_regex": r"Nope\d+"})


# --- UCF-Crime ----------------------------------------------------------------------------------

UCF_ANNOTATIONS = [
    "Abuse028_x264.mp4  Abuse  2  4  -1  -1",
    "Arrest001_x264.mp4  Arrest  1  2  6  9",  # the second interval runs past the 8 frames: clipped
    "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1",
]


@pytest.fixture()
def ucf(tmp_path):
    """The release's layout: part folders, the split folder and the annotation file."""
    root = tmp_path / "ucf_crime"
    write_video(root / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse001_x264.mp4", 6, fps=30)
    write_video(root / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse028_x264.mp4", 5, fps=30)
    write_video(root / "Anomaly-Videos-Part-2" / "Arrest" / "Arrest001_x264.mp4", 8, fps=30)
    write_video(root / "Training-Normal-Videos-Part-1" / "Normal_Videos308_x264.mp4", 4, fps=30)
    write_video(root / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4", 3, fps=30)
    splits = root / "UCF_Crimes-Train-Test-Split" / "Anomaly_Detection_splits"
    write_text(splits / "Anomaly_Train.txt",
               ["Abuse/Abuse001_x264.mp4", "Training_Normal_Videos_Anomaly/Normal_Videos308_x264.mp4"])
    write_text(root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt", UCF_ANNOTATIONS)
    return {"adapter": "ucf_crime", "root": str(root), "protocols": ["weak"]}


def test_ucf_crime_release_layout(ucf):
    listed = list_videos(ucf)
    assert [(e.video, e.label, e.split_weak, e.split_oneclass, e.n_frames) for e in listed] == [
        ("Abuse001_x264", 1, "train", "", -1), ("Normal_Videos308_x264", 0, "train", "", -1),
        ("Abuse028_x264", 1, "test", "", -1), ("Arrest001_x264", 1, "test", "", -1),
        ("Normal_Videos_003_x264", 0, "test", "", -1)]
    assert by_id(listed)["Normal_Videos308_x264"].source.endswith(
        "Training-Normal-Videos-Part-1/Normal_Videos308_x264.mp4")
    entries, truth = build(ucf)
    assert [e.n_frames for e in entries] == [6, 4, 5, 8, 3]
    assert entries[0].fps == pytest.approx(30.0)
    assert set(truth) == {"Abuse028_x264", "Arrest001_x264", "Normal_Videos_003_x264"}
    # 1-based inclusive frame numbers: "2 4" marks the 2nd to 4th frames, "6 9" is clipped to frame 8
    np.testing.assert_array_equal(truth["Abuse028_x264"], [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(truth["Arrest001_x264"], [1, 1, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(truth["Normal_Videos_003_x264"], [0, 0, 0])


def test_ucf_crime_videos_tree_with_test_list(tmp_path):
    """The other common layout: Videos/<Class>/ with both split lists next to the annotations."""
    root = tmp_path / "UCF_Crimes"
    write_video(root / "Videos" / "Abuse" / "Abuse001_x264.mp4", 3)
    write_video(root / "Videos" / "Training_Normal_Videos_Anomaly" / "Normal_Videos308_x264.mp4", 3)
    write_video(root / "Videos" / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4", 3)
    write_video(root / "Videos" / "Arrest" / "Arrest001_x264.mp4", 4)
    write_text(root / "Anomaly_Train.txt",
               ["Abuse/Abuse001_x264.mp4", "Training_Normal_Videos_Anomaly/Normal_Videos308_x264.mp4"])
    write_text(root / "Anomaly_Test.txt", ["Arrest/Arrest001_x264.mp4",
                                           "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4"])
    write_text(root / "annotations.txt", ["Arrest001_x264.mp4  Arrest  3  4  -1  -1",
                                          "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1"])
    cfg = {"adapter": "ucf_crime", "root": str(root), "train_list": "Anomaly_Train.txt",
           "test_list": "Anomaly_Test.txt", "annotations": "annotations.txt", "video_dirs": "Videos"}
    entries, truth = build(cfg)
    assert [e.video for e in entries] == ["Abuse001_x264", "Normal_Videos308_x264", "Arrest001_x264",
                                         "Normal_Videos_003_x264"]
    assert by_id(entries)["Arrest001_x264"].source == str(root / "Videos" / "Arrest" / "Arrest001_x264.mp4")
    np.testing.assert_array_equal(truth["Arrest001_x264"], [0, 0, 1, 1])


def test_ucf_crime_errors(ucf):
    root = Path(ucf["root"])
    train = root / "UCF_Crimes-Train-Test-Split" / "Anomaly_Detection_splits" / "Anomaly_Train.txt"
    annotations = root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    write_text(train, ["Abuse/Abuse001_x264.mp4", "Abuse/Abuse002_x264.mp4"])
    with pytest.raises(AdapterError, match=r"Anomaly_Train\.txt:2: video 'Abuse/Abuse002_x264\.mp4' is not found "
                                           r"in .*'video_dirs'"):
        list_videos(ucf)
    write_text(train, ["Abuse/Abuse001_x264.mp4"])
    write_text(annotations, UCF_ANNOTATIONS[:2] + ["Normal_Videos_003_x264.mp4  Normal  -1  -1  -1"])
    with pytest.raises(AdapterError, match=r"Testing_Videos\.txt:3: expected 'video class start end"):
        list_videos(ucf)
    write_text(annotations, ["Abuse028_x264.mp4  Abuse  -1  -1  -1  -1"])
    with pytest.raises(AdapterError, match=r"Testing_Videos\.txt:1: class 'Abuse' .* has 0 anomaly interval"):
        list_videos(ucf)
    write_text(annotations, ["Abuse028_x264.mp4  Abuse  7  9  -1  -1"])  # the video has 5 frames
    with pytest.raises(AdapterError, match=r"Testing_Videos\.txt:1: anomaly interval 7 \.\. 9 .* 'Abuse028_x264' "
                                           r"lies outside its 5 frames"):
        build(ucf)
    with pytest.raises(AdapterError, match=r"'protocols' asks for 'oneclass'"):
        list_videos({**ucf, "protocols": ["oneclass", "weak"]})
    write_text(annotations, ["Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1"])
    (root / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4").write_bytes(b"")
    with pytest.raises(AdapterError, match=r"Normal_Videos_003_x264\.mp4: the video file is empty"):
        build(ucf)


def test_ucf_crime_release_at_full_size(tmp_path):
    """The release's 1,900 videos in its own layout: every list line is found, split and labelled (how
    fast this goes is part of the DAG benchmark, bench/bench_dag.py, which plans this layout)."""
    root = ucf_layout.write_ucf_crime_release(tmp_path / "UCF_Crimes", **ucf_layout.FULL_SIZE)
    entries = list_videos({"adapter": "ucf_crime", "root": str(root)})  # the adapter's defaults: the release
    assert len(entries) == 1900 and len({e.video for e in entries}) == 1900
    assert sum(e.split_weak == "train" for e in entries) == 1610
    assert sum(e.label for e in entries if e.split_weak == "train") == 810
    assert sum(e.label for e in entries if e.split_weak == "test") == 140
    by = by_id(entries)
    assert by["Abuse0000_x264"].source == str(root / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse0000_x264.mp4")
    assert by["Normal_Videos_0149_x264"].split_weak == "test" and by["Normal_Videos_0149_x264"].label == 0


# --- synthetic ----------------------------------------------------------------------------------

SYNTHETIC = {  # video -> (label, split_oneclass, split_weak, n_frames, anomalies)
    "s0_train_0000": (0, "train", "train", 5, []),
    "s1_train_0001": (1, "", "train", 6, [{"type": "running", "start": 1, "stop": 3}]),
    "s0_test_0000": (1, "test", "test", 6, [{"type": "falling", "start": 0, "stop": 2},
                                              {"type": "cyclist", "start": 4, "stop": 6}]),
    "s1_test_0001": (0, "test", "test", 4, []),
}


def write_synthetic(root: Path, videos: dict) -> None:
    for video, (label, split_oneclass, split_weak, n_frames, anomalies) in videos.items():
        write_video(root / "videos" / f"{video}.mp4", n_frames, fps=25)
        write_text(root / "annotations" / f"{video}.json", [json.dumps({
            "video": video, "scene": video.split("_")[0], "label": label, "split_oneclass": split_oneclass,
            "split_weak": split_weak, "n_frames": n_frames, "fps": 25, "size": [16, 16],
            "anomalies": anomalies})])


def test_synthetic_build_from_annotations(tmp_path):
    root = tmp_path / "source"
    write_synthetic(root, SYNTHETIC)
    cfg = {"adapter": "synthetic", "root": str(root), "protocols": ["oneclass", "weak"]}
    entries, truth = build(cfg)
    assert {e.video: (e.label, e.split_oneclass, e.split_weak, e.n_frames) for e in entries} == {
        v: x[:4] for v, x in SYNTHETIC.items()}
    assert by_id(entries)["s1_test_0001"].scene == "s1"
    assert by_id(entries)["s0_test_0000"].source == str(root / "videos" / "s0_test_0000.mp4")
    assert set(truth) == {"s0_test_0000", "s1_test_0001"}
    np.testing.assert_array_equal(truth["s0_test_0000"], [1, 1, 0, 0, 1, 1])  # stop is exclusive
    np.testing.assert_array_equal(truth["s1_test_0001"], [0, 0, 0, 0])
    # the one-class protocol alone has no use for the abnormal training video
    oneclass, _ = build({**cfg, "protocols": ["oneclass"]})
    assert "s1_train_0001" not in by_id(oneclass) and all(e.split_weak == "" for e in oneclass)


def test_synthetic_errors(tmp_path):
    root = tmp_path / "source"
    write_synthetic(root, SYNTHETIC)
    cfg = {"adapter": "synthetic", "root": str(root)}
    path = root / "annotations" / "s1_test_0001.json"
    annotation = json.loads(path.read_text())
    path.write_text(json.dumps({**annotation, "n_frames": 5}))
    with pytest.raises(AdapterError, match=r"s1_test_0001\.json: field 'n_frames' is 5, but .* has 4 frames"):
        build(cfg)
    path.write_text(json.dumps({**annotation, "anomalies": [{"type": "running", "start": 2, "stop": 9}],
                                "label": 1}))
    with pytest.raises(AdapterError, match=r"s1_test_0001\.json: field 'anomalies': .*\[2, 9\).* 4 frames"):
        build(cfg)
    path.write_text(json.dumps({k: v for k, v in annotation.items() if k != "split_weak"}))
    with pytest.raises(AdapterError, match=r"s1_test_0001\.json: field\(s\) \['split_weak'\] are missing"):
        build(cfg)
    with pytest.raises(AdapterError, match="field 'synthetic'"):
        list_videos(cfg)


def _plan_videos():
    module = pytest.importorskip("vadlib.data.synthetic")
    if not hasattr(module, "plan_videos"):
        pytest.skip("vadlib.data.synthetic does not export plan_videos")
    return module.plan_videos


TINY_SYNTHETIC = {"seed": 3, "scenes": 2, "size": [32, 32], "fps": 25, "frames": [16, 18], "train_normal": 2,
                  "train_abnormal": 1, "test_normal": 1, "test_abnormal": 2, "anomaly_types": ["running", "falling"]}


def test_synthetic_listing_follows_the_plan_and_build_agrees(tmp_path):
    plan_videos = _plan_videos()
    root = tmp_path / "not_rendered_yet"
    cfg = {"adapter": "synthetic", "root": str(root), "protocols": ["oneclass", "weak"],
           "synthetic": TINY_SYNTHETIC}
    listed = list_videos(cfg)  # nothing exists on disk yet
    plans = plan_videos(TINY_SYNTHETIC)
    assert [e.video for e in listed] == [p.video for p in plans]
    assert [(e.label, e.split_oneclass, e.split_weak, e.n_frames) for e in listed] == [
        (p.label, p.split_oneclass, p.split_weak, p.n_frames) for p in plans]
    assert all(e.source == str(root / "videos" / f"{e.video}.mp4") for e in listed)

    # render stand-ins for the planned videos, plus a stale one left over from another config
    stand_ins = {p.video: (p.label, p.split_oneclass, p.split_weak, p.n_frames,
                           [{"type": p.anomaly, "start": 2, "stop": 5}] if p.label else []) for p in plans}
    write_synthetic(root, {**stand_ins, "s0_test_0099": (0, "test", "test", 4, [])})
    entries, truth = build(cfg)
    assert [e.video for e in entries] == [e.video for e in listed]
    assert set(truth) == {p.video for p in plans if p.split_weak == "test"}
    oneclass, _ = build({**cfg, "protocols": ["oneclass"]})
    assert [e.video for e in oneclass] == [p.video for p in plans if p.split_oneclass]
    first = plans[0].video
    path = root / "annotations" / f"{first}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "split_weak": "test" if plans[0].split_weak ==
                                "train" else "train"}))
    with pytest.raises(AdapterError, match=rf"{first}\.json: field 'split_weak' .* plans .*stale"):
        build(cfg)


# --- registry -----------------------------------------------------------------------------------


def test_registry_names_and_unknown_adapter():
    assert set(ADAPTERS) == {"synthetic", "shanghaitech", "ped2", "avenue", "ucf_crime", "features"}
    with pytest.raises(AdapterError, match=r"field 'adapter' is 'shanghai'"):
        list_videos({"adapter": "shanghai", "root": "."})
    with pytest.raises(AdapterError, match=r"field 'root' is missing"):
        list_videos({"adapter": "ped2"})
