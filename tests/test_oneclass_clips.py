"""Clip sampling from frames / flow / masks stores: resizing, value ranges, flow rescaling, playback-rate
sampling and the windows of an epoch."""

import numpy as np
import pytest

from vadlib.oneclass.clips import (
    FlowSource,
    FrameSource,
    Windows,
    clip_indices,
    flow_scale,
    mask_flags,
    parse_size,
    playback_clip,
)
from vadlib.stores import StoreError, write_store

FRAME_ATTRS = {"source": "test", "fps": 25, "original_size": [8, 12], "stored_size": [8, 12]}


@pytest.fixture
def frames_path(tmp_path):
    frames = np.zeros((5, 8, 12, 3), dtype=np.uint8)
    for t in range(5):
        frames[t] = 50 * t
    frames[..., 0] = 255                          # red channel saturated
    return str(write_store(tmp_path / "f.zarr", "frames", frames, FRAME_ATTRS))


def test_parse_size():
    assert parse_size(64) == (64, 64)
    assert parse_size([48, 64]) == (48, 64)
    with pytest.raises(ValueError):
        parse_size("64")


@pytest.mark.parametrize("preload", [True, False])
def test_frame_source_rgb_and_gray(frames_path, preload):
    rgb = FrameSource(frames_path, [4, 6], gray=False, preload=preload)
    clip = rgb.clip(np.array([0, 4]))
    assert clip.shape == (3, 2, 4, 6) and clip.dtype == np.float32
    assert clip[0].min() == pytest.approx(1.0)                      # 255 -> 1
    assert clip[1, 0].max() == pytest.approx(-1.0)                  # 0 -> -1
    assert clip[1, 1].mean() == pytest.approx(200 / 127.5 - 1)      # 200 -> 0.5686
    gray = FrameSource(frames_path, 4, gray=True, preload=preload).clip(np.array([2]))
    luma = round(0.299 * 255 + 0.587 * 100 + 0.114 * 100)           # ITU-R 601 of (255, 100, 100)
    assert gray.shape == (1, 1, 4, 4)
    assert gray.mean() == pytest.approx(luma / 127.5 - 1, abs=1 / 127.5)
    with pytest.raises(IndexError):
        rgb.clip(np.array([5]))


def test_flow_source_rescales_displacements(tmp_path):
    flow = np.zeros((3, 8, 12, 2), dtype=np.float16)
    flow[..., 0], flow[..., 1] = 6.0, 4.0                           # pixels of the 8x12 frames
    path = write_store(tmp_path / "o.zarr", "flow", flow, {"method": "test", "parameters": {}})
    src = FlowSource(str(path), [4, 6], time=3)
    clip = src.clip(np.array([1]))
    assert clip.shape == (2, 1, 4, 6)
    assert clip[0].mean() == pytest.approx(3.0) and clip[1].mean() == pytest.approx(2.0)   # halved with the size
    assert flow_scale([src], np.random.default_rng(0), samples=4) == pytest.approx(3.0)
    with pytest.raises(StoreError, match="o.zarr: axis 'time' has size 3, expected 4"):
        FlowSource(str(path), 4, time=4)


def test_mask_flags(tmp_path):
    masks = np.zeros((4, 6, 6), dtype=bool)
    masks[1, 2, 3] = masks[3] = True
    path = write_store(tmp_path / "m.zarr", "masks", masks, {"generator": "test", "parameters": {}})
    assert mask_flags(str(path), 4).tolist() == [False, True, False, True]
    with pytest.raises(StoreError, match="m.zarr"):
        mask_flags(str(path), 5)


def test_clip_indices_clamp_to_the_last_frame():
    assert clip_indices(2, 4, 4).tolist() == [2, 3, 3, 3]
    assert clip_indices(0, 3, 10, step=3).tolist() == [0, 3, 6]


def test_playback_rate_sampling():
    rng = np.random.default_rng(0)
    labels, strides = [], set()
    for _ in range(2000):
        idx, label = playback_clip(rng, 100, int(rng.integers(0, 84)), 17, (2, 3, 4, 5), 0.5)
        assert len(idx) == 17 and idx.min() >= 0 and idx.max() <= 99
        step = np.unique(np.diff(idx))
        assert len(step) == 1
        assert (step[0] == 1) == (label == 0)
        strides.add(int(step[0]))
        labels.append(label)
    assert strides == {1, 2, 3, 4, 5}
    assert np.mean(labels) == pytest.approx(0.5, abs=0.04)
    # only the strides that fit: 17 frames at stride 3 need 49 frames
    rng = np.random.default_rng(1)
    for _ in range(200):
        idx, label = playback_clip(rng, 40, 0, 17, (2, 3, 4, 5), 1.0)
        assert label == 1 and idx[1] - idx[0] == 2
    # no stride fits: the normal-rate clip
    assert playback_clip(np.random.default_rng(0), 20, 3, 17, (2,), 1.0)[1] == 0
    # deterministic by seed
    a = [playback_clip(np.random.default_rng(7), 100, 10, 9)[0].tolist() for _ in range(2)]
    assert a[0] == a[1]


def test_windows_epoch_covers_every_window_once():
    win = Windows([10, 3], span=4, stride=3)
    assert win.pairs.tolist() == [[0, 0], [0, 3], [0, 6], [1, 0]]
    batches = list(win.epoch(np.random.default_rng(0), 3))
    assert [len(b) for b in batches] == [3, 1] and win.n_batches(3) == 2
    seen = sorted(map(tuple, np.concatenate(batches).tolist()))
    assert seen == sorted(map(tuple, win.pairs.tolist()))
