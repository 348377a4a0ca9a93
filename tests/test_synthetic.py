"""The built-in synthetic surveillance dataset: plan, rendering, files, determinism, anomaly signal."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vadlib.data.synthetic import (
    ANOMALY_TYPES,
    SyntheticConfigError,
    check_config,
    output_paths,
    plan_videos,
    render_all,
    render_arrays,
    render_video,
)
from vadlib.data.synthetic.camera import Camera
from vadlib.data.synthetic.figures import person, random_look
from vadlib.data.synthetic.paint import draw
from vadlib.data.synthetic.render import intervals
from vadlib.data.synthetic.scene import KINDS, build_scene

DEFAULT = {"seed": 0, "scenes": 4, "size": [240, 320], "fps": 25, "frames": [192, 320], "train_normal": 40,
           "train_abnormal": 21, "test_normal": 20, "test_abnormal": 28, "anomaly_types": list(ANOMALY_TYPES)}
TINY = {"seed": 0, "scenes": 3, "size": [64, 80], "fps": 25, "frames": [32, 48], "train_normal": 2,
        "train_abnormal": 1, "test_normal": 3, "test_abnormal": 7, "anomaly_types": list(ANOMALY_TYPES)}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("synthetic")
    plans = render_all(TINY, root)
    return root, plans


def _annotation(root: Path, video: str) -> dict:
    return json.loads(output_paths(root, video)["annotation"].read_text())


def _masks(root: Path, video: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(output_paths(root, video)["masks"]) as data:
        return data["masks"], data["objects"]


# ------------------------------------------------------------------------------------------- plan

def test_plan_default_config_splits_and_labels():
    plans = plan_videos(DEFAULT)
    assert len(plans) == 40 + 21 + 20 + 28
    ids = [p.video for p in plans]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"s\d+_(train|test)_\d{4}", v) for v in ids)
    oc_train = [p for p in plans if p.split_oneclass == "train"]
    assert len(oc_train) == 40 and all(p.label == 0 and p.anomaly is None for p in oc_train)
    weak_only = [p for p in plans if p.split_oneclass == ""]
    assert len(weak_only) == 21 and all(p.label == 1 and p.split_weak == "train" for p in weak_only)
    test = [p for p in plans if p.split_weak == "test"]
    assert all(p.split_oneclass == "test" for p in test) and len(test) == 48
    assert sorted(p.anomaly for p in test if p.label) == sorted(ANOMALY_TYPES * 4)
    assert all((p.anomaly is None) == (p.label == 0) for p in plans)
    assert all(192 <= p.n_frames <= 320 for p in plans)
    assert {p.scene_index for p in oc_train} == {0, 1, 2, 3}           # every scene has normal training
    assert all(p.scene == f"s{p.scene_index}" and p.video.startswith(p.scene + "_") for p in plans)
    assert len({p.seed for p in plans}) == len(plans)


def test_plan_is_fast_and_deterministic():
    cfg = dict(DEFAULT, train_normal=30, train_abnormal=20, test_normal=22, test_abnormal=28)  # 100 videos
    best = min(_timed(plan_videos, cfg) for _ in range(5))
    assert best < 0.05, f"plan_videos took {best:.3f} s for 100 videos"
    assert plan_videos(cfg) == plan_videos(cfg)
    assert plan_videos(cfg) != plan_videos(dict(cfg, seed=1))


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


@pytest.mark.parametrize("change, field", [
    ({"scenez": 3}, "scenez"),
    ({"size": [64]}, "synthetic.size"),
    ({"frames": [48, 32]}, "synthetic.frames"),
    ({"frames": [8, 32]}, "synthetic.frames"),
    ({"test_abnormal": 3}, "synthetic.test_abnormal"),
    ({"anomaly_types": ["running", "juggling"]}, "juggling"),
    ({"train_normal": -1}, "synthetic.train_normal"),
])
def test_config_errors_name_the_field(change, field):
    with pytest.raises(SyntheticConfigError, match=re.escape(field)):
        check_config(dict(TINY, **change))


# ----------------------------------------------------------------------------------------- scenes

def test_scenes_differ_and_have_both_kinds_of_walkway():
    scenes = [build_scene(0, i, (64, 80)) for i in range(4)]
    assert [s.kind for s in scenes] == list(KINDS)
    for s in scenes:
        assert any(w.oneway for w in s.walkways) and any(not w.oneway for w in s.walkways)
        assert s.z_near < s.z_far
        assert all(w.s_out > w.s_in for w in s.walkways)
    for a in range(4):
        for b in range(a + 1, 4):
            diff = np.abs(scenes[a].background.astype(int) - scenes[b].background.astype(int)).mean()
            assert diff > 10
    again = build_scene.__wrapped__(0, 2, (64, 80))
    assert np.array_equal(again.background, scenes[2].background)


def _silhouette(cam: Camera, base, heading, phase, gait="walk", fall=0.0) -> np.ndarray:
    look = random_look(np.random.default_rng(0))
    label = np.zeros((cam.height, cam.width), np.uint8)
    draw(label, person(cam, np.asarray(base, float), np.asarray(heading, float), look, gait, phase, fall), 1)
    return label > 0


def test_figures_walk_shrink_with_distance_and_fall():
    cam = Camera(240, 320, -20.0, 220.0, 8.0)
    near = _silhouette(cam, (0.0, 10.0), (1.0, 0.0), 0.0)
    far = _silhouette(cam, (0.0, 20.0), (1.0, 0.0), 0.0)
    assert 2.5 < near.sum() / far.sum() < 6.0                         # area scales about as 1 / Z^2
    ys, xs = np.nonzero(near)
    foot_y = cam.project(np.array([0.0, 0.0, 10.0]))[1]
    assert abs(ys.max() - foot_y) <= 2                                # the feet touch the ground
    assert (ys.max() - ys.min()) / (xs.max() - xs.min()) > 2          # upright
    stride = _silhouette(cam, (0.0, 10.0), (1.0, 0.0), np.pi / 2)
    assert (near ^ stride).sum() > 0.2 * near.sum()                   # the legs swing with the phase
    lying = _silhouette(cam, (0.0, 10.0), (1.0, 0.0), 0.0, "stand", np.pi / 2)
    ys, xs = np.nonzero(lying)
    assert (xs.max() - xs.min()) > 2 * (ys.max() - ys.min())          # fallen: lying along the heading
    assert xs.min() >= cam.project(np.array([0.0, 0.0, 10.0]))[0] - 5  # ... forward of the feet


def test_intervals():
    flags = np.array([0, 1, 1, 0, 0, 1, 0, 1], bool)
    assert intervals(flags) == [(1, 3), (5, 6), (7, 8)]
    assert intervals(np.zeros(4, bool)) == []
    assert intervals(np.ones(3, bool)) == [(0, 3)]


# -------------------------------------------------------------------------------------- rendering

def test_files_and_plan_agree(tiny):
    root, plans = tiny
    assert [p.video for p in plans] == [p.video for p in plan_videos(TINY)]
    for p in plans:
        paths = output_paths(root, p.video)
        assert all(path.exists() for path in paths.values())
        a = _annotation(root, p.video)
        assert a == {**a, "video": p.video, "scene": p.scene, "label": p.label, "split_oneclass": p.split_oneclass,
                     "split_weak": p.split_weak, "n_frames": p.n_frames, "fps": 25, "size": [64, 80]}
    leftovers = [f for f in root.rglob("*") if ".tmp-" in f.name]
    assert not leftovers


def test_video_decodes_to_the_rendered_frames(tiny):
    decord = pytest.importorskip("decord")
    root, plans = tiny
    for p in plans[:4]:
        path = str(output_paths(root, p.video)["video"])
        reader = decord.VideoReader(path)
        assert len(reader) == p.n_frames
        decoded = reader.get_batch(list(range(p.n_frames))).asnumpy()
        assert decoded.shape == (p.n_frames, 64, 80, 3)
        frames = render_arrays(p, TINY)[0]
        assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 6     # lossy, but the same video
        cap = cv2.VideoCapture(path)
        count = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (64, 80, 3)
            count += 1
        cap.release()
        assert count == p.n_frames


def test_normal_videos_have_no_anomaly_but_have_walkers(tiny):
    root, plans = tiny
    for p in plans:
        if p.label:
            continue
        a = _annotation(root, p.video)
        masks, objects = _masks(root, p.video)
        assert a["anomalies"] == [] and a["label"] == 0
        assert masks.shape == objects.shape == (p.n_frames, 64, 80) and masks.dtype == bool
        assert not masks.any()
        assert objects.any(axis=(1, 2)).mean() > 0.9                  # pedestrians in (almost) every frame


def test_every_anomaly_type_in_the_test_split_with_masks_inside_intervals(tiny):
    root, plans = tiny
    seen = set()
    for p in plans:
        if not p.label:
            continue
        a = _annotation(root, p.video)
        masks, objects = _masks(root, p.video)
        assert len(a["anomalies"]) >= 1
        inside = np.zeros(p.n_frames, bool)
        for event in a["anomalies"]:
            assert event["type"] == p.anomaly
            assert 0 <= event["start"] < event["stop"] <= p.n_frames
            inside[event["start"]:event["stop"]] = True
        per_frame = masks.sum(axis=(1, 2))
        assert (per_frame[inside] > 0).all() and (per_frame[~inside] == 0).all()
        assert inside.mean() < 1.0 and not inside[0]                  # each video starts normal
        visible = masks & objects                                     # anomalous pixels are object pixels,
        assert visible.sum() >= 0.95 * masks.sum()                    # but for outlines of hidden ones
        if p.split_weak == "test":
            seen.add(p.anomaly)
    assert seen == set(ANOMALY_TYPES)


def test_abandoned_bag_stays_and_vehicle_is_large(tiny):
    root, plans = tiny
    by_type = {p.anomaly: p for p in plans if p.split_weak == "test" and p.label}
    masks, _ = _masks(root, by_type["abandoned_object"].video)
    event = _annotation(root, by_type["abandoned_object"].video)["anomalies"][0]
    assert event["stop"] == by_type["abandoned_object"].n_frames     # the bag stays to the end
    first, last = masks[event["start"]], masks[event["stop"] - 1]
    assert np.abs(np.argwhere(first).mean(0) - np.argwhere(last).mean(0)).max() < 2.0
    car, _ = _masks(root, by_type["vehicle"].video)
    runner, _ = _masks(root, by_type["running"].video)
    assert car.sum(axis=(1, 2)).max() > 2 * runner.sum(axis=(1, 2)).max()


def test_same_config_same_bytes_other_seed_other_video(tmp_path, tiny):
    root, plans = tiny
    p = next(q for q in plans if q.anomaly == "fighting")
    render_video(p, TINY, tmp_path)
    for kind in ("annotation", "masks", "video"):
        assert output_paths(tmp_path, p.video)[kind].read_bytes() == output_paths(root, p.video)[kind].read_bytes()
    a, b = render_arrays(p, TINY), render_arrays(p, TINY)
    assert all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3])) and a[3] == b[3]
    other = plan_videos(dict(TINY, seed=1))[0]
    assert not np.array_equal(render_arrays(other, dict(TINY, seed=1))[0][:4], a[0][:4])


def test_render_all_rejects_unknown_videos(tmp_path):
    with pytest.raises(KeyError, match="s9_test_9999"):
        render_all(TINY, tmp_path, videos=["s9_test_9999"])


def test_motion_energy_separates_anomalous_frames(tiny):
    """Mean absolute frame difference (lightly smoothed) of the decoded test videos ranks anomalous
    frames above normal ones: above chance over all types, clearly for the fast ones."""
    decord = pytest.importorskip("decord")
    root, plans = tiny
    scores, labels, fast_scores, fast_labels = [], [], [], []
    for p in plans:
        if p.split_weak != "test":
            continue
        frames = decord.VideoReader(str(output_paths(root, p.video)["video"])).get_batch(
            list(range(p.n_frames))).asnumpy().astype(np.float32).mean(axis=-1)
        energy = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
        energy = np.concatenate([energy[:1], energy])
        smooth = np.convolve(np.pad(energy, 2, mode="edge"), np.ones(5) / 5, mode="valid")
        y = _masks(root, p.video)[0].any(axis=(1, 2))
        scores.append(smooth)
        labels.append(y)
        if p.anomaly in ("vehicle", "cyclist"):
            fast_scores.append(smooth)
            fast_labels.append(y)
    auc = roc_auc_score(np.concatenate(labels), np.concatenate(scores))
    fast = roc_auc_score(np.concatenate(fast_labels), np.concatenate(fast_scores))
    assert 0.5 < auc < 0.95, auc
    assert fast > 0.8, fast
