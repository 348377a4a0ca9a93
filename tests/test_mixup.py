"""Flow mixup pseudo-anomalies on known flow fields."""

from __future__ import annotations

import numpy as np
import pytest

from vadlib.flow.mixup import bounding_box, draw_mixup, mix_patch, mixup_flow
from vadlib.stores import StoreError, open_store, write_store


def _ramp(h=24, w=32):
    """Flow (u, v) = (x, 10 + 2 y): a patch moved by (dy, dx) differs by the constant (dx, 2 dy)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([x, 10 + 2 * y], axis=-1)


def _box_mask(h=24, w=32, box=(5, 11, 8, 20)):
    mask = np.zeros((h, w), bool)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = True
    mask[y0 + 1, x0 + 1] = False  # a hole: the box, not the mask, is what is mixed by default
    return mask


def test_bounding_box():
    assert bounding_box(_box_mask()) == (5, 11, 8, 20)
    assert bounding_box(np.zeros((4, 4), bool)) is None


def test_mix_is_the_convex_combination_of_the_two_patches():
    flow, mask = _ramp(), _box_mask()
    lam, (ry, rx) = 0.3, (14, 2)
    out = mix_patch(flow, mask, lam, (ry, rx))
    # p' = (x, 10 + 2y), p_r = (x + dx, 10 + 2(y + dy)) with dy = ry - 5, dx = rx - 8.
    expected = flow[5:11, 8:20] + (1 - lam) * np.array([rx - 8, 2 * (ry - 5)], np.float32)
    np.testing.assert_allclose(out[5:11, 8:20], expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(out[5:11, 8:20], lam * flow[5:11, 8:20] + (1 - lam) * flow[14:20, 2:14])
    outside = np.ones(mask.shape, bool)
    outside[5:11, 8:20] = False
    np.testing.assert_array_equal(out[outside], flow[outside])


def test_constant_fields_and_the_extremes_of_lambda():
    flow = np.zeros((16, 16, 2), np.float32)
    flow[:, :8] = (2.0, -1.0)
    flow[:, 8:] = (-4.0, 3.0)
    mask = np.zeros((16, 16), bool)
    mask[2:6, 1:5] = True  # inside the left half; the donor patch at x >= 8 is in the right half
    out = mix_patch(flow, mask, 0.25, (9, 10))
    np.testing.assert_array_equal(out[2:6, 1:5], np.broadcast_to([0.25 * 2 - 0.75 * 4, -0.25 + 0.75 * 3], (4, 4, 2)))
    np.testing.assert_array_equal(mix_patch(flow, mask, 1.0, (9, 10)), flow)
    np.testing.assert_array_equal(mix_patch(flow, mask, 0.0, (9, 10))[2:6, 1:5], flow[9:13, 10:14])


def test_region_mask_mixes_inside_the_mask_only():
    flow, mask = _ramp(), _box_mask()
    out = mix_patch(flow, mask, 0.5, (0, 0), region="mask")
    assert np.array_equal(out[6, 9], flow[6, 9])  # the hole in the mask
    changed = np.any(out != flow, axis=-1)
    assert not changed[~mask].any() and changed[mask].all()


def test_draws_fit_the_frame_and_follow_beta():
    rng = np.random.default_rng(0)
    mask = _box_mask()
    draws = [draw_mixup(mask, 0.4, rng) for _ in range(3000)]
    lams = np.array([d[0] for d in draws])
    assert lams.min() >= 0 and lams.max() <= 1
    assert lams.mean() == pytest.approx(0.5, abs=0.03)
    assert lams.var() == pytest.approx(0.25 / (2 * 0.4 + 1), abs=0.01)  # Beta(a, a) variance 1 / (4 (2a + 1))
    assert max(d[1][0] for d in draws) == 24 - 6 and max(d[1][1] for d in draws) == 32 - 12
    assert draw_mixup(np.zeros((4, 4), bool), 0.4, rng) is None


def _stores(tmp_path, name="vid", t=12, h=24, w=32):
    flow = np.repeat(_ramp(h, w)[None], t - 1, axis=0).astype(np.float16)
    masks = np.zeros((t, h, w), bool)
    masks[::2, 4:10, 6:15] = True
    write_store(tmp_path / f"flow_{name}.zarr", "flow", flow, {"method": "tvl1", "parameters": {}})
    write_store(tmp_path / f"{name}.zarr", "masks", masks, {"generator": "lama", "parameters": {}})
    return flow, masks


def test_mixup_stage(tmp_path):
    flow, masks = _stores(tmp_path)
    params = {"alpha": 0.4, "seed": 3}
    mixup_flow(tmp_path / "flow_vid.zarr", tmp_path / "vid.zarr", tmp_path / "out.zarr", params)
    mixup_flow(tmp_path / "flow_vid.zarr", tmp_path / "vid.zarr", tmp_path / "out2.zarr", params)
    store = open_store(tmp_path / "out.zarr", "flow", time=11, y=24, x=32)
    out = store.read()
    assert store.attrs["method"] == "mixup" and store.attrs["parameters"]["alpha"] == 0.4
    assert np.array_equal(out, open_store(tmp_path / "out2.zarr", "flow").read())
    lambdas, sources = store.attrs["lambdas"], store.attrs["sources"]
    assert len(lambdas) == 11 and all((lam is None) == (i % 2 == 1) for i, lam in enumerate(lambdas))
    for i in range(11):
        if lambdas[i] is None:
            np.testing.assert_array_equal(out[i], flow[i])
        else:
            expected = mix_patch(flow[i].astype(np.float32), masks[i], lambdas[i], tuple(sources[i]))
            np.testing.assert_array_equal(out[i], expected.astype(np.float16))
            assert store.attrs["boxes"][i] == [4, 10, 6, 15]


def test_mixup_shape_mismatch_names_the_video(tmp_path):
    _stores(tmp_path, name="cam2_v5", t=12)
    write_store(tmp_path / "short.zarr", "masks", np.zeros((11, 24, 32), bool), {"generator": "x", "parameters": {}})
    with pytest.raises(StoreError, match="cam2_v5"):
        mixup_flow(tmp_path / "flow_cam2_v5.zarr", tmp_path / "short.zarr", tmp_path / "o.zarr", {})


def test_masks_at_frame_size_are_resized_to_the_flow(tmp_path):
    """Flow computed at half the frames' size: the mask of frame t is resized (nearest) before mixing."""
    flow = np.repeat(_ramp(12, 16)[None], 5, axis=0).astype(np.float16)
    masks = np.zeros((6, 24, 32), bool)
    masks[0, 4:12, 8:20] = True  # at half size: rows 2..5, columns 4..9
    write_store(tmp_path / "flow_v.zarr", "flow", flow, {"method": "tvl1", "parameters": {}})
    write_store(tmp_path / "v.zarr", "masks", masks, {"generator": "lama", "parameters": {}})
    mixup_flow(tmp_path / "flow_v.zarr", tmp_path / "v.zarr", tmp_path / "out.zarr", {"seed": 1})
    store = open_store(tmp_path / "out.zarr", "flow", time=5, y=12, x=16)
    assert store.attrs["boxes"][0] == [2, 6, 4, 10]
    assert all(b is None for b in store.attrs["boxes"][1:])
