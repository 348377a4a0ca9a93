"""LaMa mask generator, object masks and the masks stage."""

from __future__ import annotations

import numpy as np
import pytest

from vadlib.masks import LamaMaskGenerator, check_masks_for_frames, lama_config, make_masks
from vadlib.masks.objects import foreground, median_background
from vadlib.params import ConfigError
from vadlib.stores import StoreError, open_store, write_store

FRAME_ATTRS = {"source": "test", "fps": 25, "original_size": [0, 0], "stored_size": [0, 0]}


def _frames(path, frames):
    return write_store(path, "frames", frames, FRAME_ATTRS)


def _square_video(t=24, h=48, w=64, size=10, seed=0):
    """A gray textured background with a bright square moving right 2 px per frame."""
    rng = np.random.default_rng(seed)
    background = rng.integers(60, 90, (h, w, 3))
    frames = np.empty((t, h, w, 3), np.uint8)
    truth = np.zeros((t, h, w), bool)
    for i in range(t):
        frame = background + rng.integers(-3, 4, (h, w, 3))
        y, x = 15, 4 + 2 * i
        frame[y:y + size, x:x + size] = 220
        truth[i, y:y + size, x:x + size] = True
        frames[i] = frame.clip(0, 255)
    return frames, truth


def test_generator_is_deterministic_and_seed_dependent():
    gen = LamaMaskGenerator(128, 160, lama_config("thick"))
    first, again = gen.draw(np.random.default_rng(3)), gen.draw(np.random.default_rng(3))
    assert first.shape == (128, 160) and first.dtype == bool
    assert np.array_equal(first, again)
    many = [gen.draw(np.random.default_rng(s)) for s in range(5)]
    assert len({m.tobytes() for m in many}) == 5


@pytest.mark.parametrize("preset", ["thick", "medium", "thin"])
def test_area_filter_and_coverage(preset):
    gen = LamaMaskGenerator(256, 256, lama_config(preset))
    rng = np.random.default_rng(0)
    areas = np.array([gen.draw(rng).mean() for _ in range(150)])
    assert areas.min() > 0 and areas.max() <= 0.5
    # LaMa's eval sets cover roughly a fifth to a third of the image on average.
    assert 0.12 < areas.mean() < 0.4


def test_sizes_scale_with_the_frame():
    rng = np.random.default_rng(1)
    small = np.mean([LamaMaskGenerator(64, 64, lama_config("thick")).draw(rng).mean() for _ in range(300)])
    large = np.mean([LamaMaskGenerator(512, 512, lama_config("thick")).draw(rng).mean() for _ in range(300)])
    assert abs(small - large) < 0.05
    assert LamaMaskGenerator(240, 320, lama_config("thick")).factor == pytest.approx(240 / 256)


def test_single_box_respects_sizes_and_margin():
    config = lama_config("thick", {"box": {"min_times": 1, "max_times": 1}})
    gen = LamaMaskGenerator(256, 256, config)
    rng = np.random.default_rng(0)
    for _ in range(50):
        mask = gen.box(rng)
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert mask.sum() == h * w  # one rectangle
        assert 30 <= h < 150 and 30 <= w < 150
        assert rows[0] >= 10 and cols[0] >= 10 and rows[-1] < 246 and cols[-1] < 246


def test_mixing_probabilities():
    class Marked(LamaMaskGenerator):
        def irregular(self, rng):
            return np.ones((self.height, self.width), bool) & (np.arange(self.width) < 1)

        def box(self, rng):
            return np.ones((self.height, self.width), bool) & (np.arange(self.width) < 2)

    gen = Marked(8, 8, lama_config("thick"))
    rng = np.random.default_rng(0)
    boxes = np.mean([gen.draw(rng).sum() == 16 for _ in range(4000)])
    assert boxes == pytest.approx(0.3 / 1.3, abs=0.025)
    assert lama_config("train")["box_proba"] == lama_config("train")["irregular_proba"]


def test_overrides_are_checked():
    assert lama_config("thin", {"irregular": {"max_width": 3}})["irregular"]["max_width"] == 3
    with pytest.raises(ConfigError, match="masks.overrides.irregular.max_widht"):
        lama_config("thin", {"irregular": {"max_widht": 3}})
    with pytest.raises(ConfigError, match="masks.preset"):
        lama_config("huge")


def test_make_masks_lama_store(tmp_path):
    frames = np.zeros((20, 40, 56, 3), np.uint8)
    _frames(tmp_path / "a.zarr", frames)
    _frames(tmp_path / "b.zarr", frames)
    params = {"kind": "lama", "preset": "medium", "seed": 5}
    make_masks(tmp_path / "a.zarr", tmp_path / "ma.zarr", params)
    make_masks(tmp_path / "a.zarr", tmp_path / "ma2.zarr", params)
    make_masks(tmp_path / "b.zarr", tmp_path / "mb.zarr", params)
    store = check_masks_for_frames(tmp_path / "ma.zarr", tmp_path / "a.zarr")
    masks = store.read()
    assert masks.shape == (20, 40, 56) and masks.dtype == bool
    assert masks.any(axis=(1, 2)).all()
    assert store.attrs["generator"] == "lama" and "seed" in store.attrs
    assert store.attrs["parameters"]["lama"]["irregular"]["min_times"] == 4
    assert np.array_equal(masks, open_store(tmp_path / "ma2.zarr", "masks").read())
    assert not np.array_equal(masks, open_store(tmp_path / "mb.zarr", "masks").read())


def test_frame_prob_and_hold(tmp_path):
    _frames(tmp_path / "v.zarr", np.zeros((64, 32, 32, 3), np.uint8))
    make_masks(tmp_path / "v.zarr", tmp_path / "m.zarr", {"kind": "lama", "frame_prob": 0.5, "hold": 4, "seed": 1})
    masks = open_store(tmp_path / "m.zarr", "masks").read()
    blocks = masks.reshape(16, 4, 32, 32)
    assert all((b == b[0]).all() for b in blocks)  # one mask held over each block of 4 frames
    masked = blocks.any(axis=(1, 2, 3))
    assert 3 <= masked.sum() <= 13


def test_object_masks_from_ground_truth(tmp_path):
    frames, truth = _square_video(t=12, h=48, w=64)
    _frames(tmp_path / "v.zarr", frames)
    objects = np.repeat(np.repeat(truth, 2, axis=1), 2, axis=2)  # source resolution twice the frames'
    objects[5:] = False
    np.savez(tmp_path / "v.npz", objects=objects)
    make_masks(tmp_path / "v.zarr", tmp_path / "o.zarr", {"kind": "objects", "object_dilate": 0},
               object_masks_path=tmp_path / "v.npz")
    masks = open_store(tmp_path / "o.zarr", "masks").read()
    assert np.array_equal(masks[:5], truth[:5]) and not masks[5:].any()
    make_masks(tmp_path / "v.zarr", tmp_path / "x.zarr", {"kind": "mixed", "object_dilate": 0, "min_object_area": 50},
               object_masks_path=tmp_path / "v.npz")
    mixed = open_store(tmp_path / "x.zarr", "masks").read()
    assert np.array_equal(mixed[:5], truth[:5])  # object-shaped where there are objects
    assert mixed[5:].any(axis=(1, 2)).all()  # LaMa masks elsewhere
    assert open_store(tmp_path / "x.zarr", "masks").attrs["parameters"]["object_source"].startswith("ground_truth")


def test_object_masks_from_a_user_store(tmp_path):
    frames, truth = _square_video(t=8)
    _frames(tmp_path / "v.zarr", frames)
    write_store(tmp_path / "user.zarr", "masks", truth, {"generator": "user", "parameters": {}})
    make_masks(tmp_path / "v.zarr", tmp_path / "o.zarr", {"kind": "objects", "object_dilate": 0},
               object_masks_path=tmp_path / "user.zarr")
    assert np.array_equal(open_store(tmp_path / "o.zarr", "masks").read(), truth)
    write_store(tmp_path / "short.zarr", "masks", truth[:5], {"generator": "user", "parameters": {}})
    with pytest.raises(StoreError, match="5 frames"):
        make_masks(tmp_path / "v.zarr", tmp_path / "p.zarr", {"kind": "objects"},
                   object_masks_path=tmp_path / "short.zarr")


def test_background_subtraction_finds_the_moving_square(tmp_path):
    frames, truth = _square_video()
    _frames(tmp_path / "v.zarr", frames)
    store = open_store(tmp_path / "v.zarr", "frames")
    found = foreground(frames, median_background(store, 24), threshold=30, open_size=3, close_size=3, min_area=20)
    iou = (found & truth).sum(axis=(1, 2)) / (found | truth).sum(axis=(1, 2))
    assert iou.min() > 0.8
    make_masks(tmp_path / "v.zarr", tmp_path / "o.zarr", {"kind": "objects", "object_dilate": 0})
    masks = open_store(tmp_path / "o.zarr", "masks")
    assert masks.attrs["parameters"]["object_source"] == "background_subtraction"
    iou = (masks.read() & truth).sum(axis=(1, 2)) / (masks.read() | truth).sum(axis=(1, 2))
    assert np.median(iou) > 0.7


def test_wrong_shaped_masks_fail_with_the_video_name(tmp_path):
    _frames(tmp_path / "cam07_v3.zarr", np.zeros((10, 16, 16, 3), np.uint8))
    write_store(tmp_path / "m.zarr", "masks", np.zeros((9, 16, 16), bool), {"generator": "x", "parameters": {}})
    with pytest.raises(StoreError, match="cam07_v3"):
        check_masks_for_frames(tmp_path / "m.zarr", tmp_path / "cam07_v3.zarr")


def test_bad_params_fail(tmp_path):
    _frames(tmp_path / "v.zarr", np.zeros((4, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="masks.kind"):
        make_masks(tmp_path / "v.zarr", tmp_path / "m.zarr", {"kind": "segmentation"})
    with pytest.raises(ConfigError, match="masks.frame_probability"):
        make_masks(tmp_path / "v.zarr", tmp_path / "m.zarr", {"frame_probability": 1})
