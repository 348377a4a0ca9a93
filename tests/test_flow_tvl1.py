"""TV-L1 optical flow: the PyTorch implementation against OpenCV's Dual TV-L1 and against known motion,
batching, and the flow stage (store layout, failures naming the video)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vadlib.flow.compute import check_flow_for_frames, check_params, compute_flow, flow_size
from vadlib.flow.synthetic import end_point_error, moving_figures, rotated_pair, translated_pair
from vadlib.flow.tvl1_opencv import tvl1_opencv
from vadlib.flow.tvl1_params import TVL1Params
from vadlib.flow.tvl1_torch import (
    DualTVL1,
    centered_gradient,
    median_filter,
    pyramid_sizes,
    resize_linear,
    warp_bicubic,
)
from vadlib.params import ConfigError
from vadlib.stores import StoreError, open_store, write_store

AGREEMENT = 0.05  # mean |flow_torch - flow_opencv| <= 5% of the mean true motion magnitude
EXACT = 0.002     # the same, on motions with no near-tie decisions: 0.2%


def as_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def torch_flow(prev: np.ndarray, nxt: np.ndarray, params: TVL1Params | None = None) -> np.ndarray:
    with torch.no_grad():
        return DualTVL1(params)(torch.from_numpy(prev)[None].float(), torch.from_numpy(nxt)[None].float())[0].numpy()


# --- the building blocks are OpenCV's ---------------------------------------------------------------------

def test_resize_and_pyramid_match_opencv():
    rng = np.random.default_rng(0)
    image = (rng.random((37, 45)) * 255).astype(np.float32)
    ours = resize_linear(torch.from_numpy(image)[None], (30, 36), scale=0.8)[0].numpy()
    theirs = cv2.resize(image, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
    assert theirs.shape == (30, 36)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    up = resize_linear(torch.from_numpy(image)[None], (46, 57))[0].numpy()
    np.testing.assert_allclose(up, cv2.resize(image, (57, 46), interpolation=cv2.INTER_LINEAR), atol=1e-2)
    # 256 -> 205 -> 164 -> 131 -> 105 (rounded as OpenCV rounds); 20 -> 16 then stop below 16
    assert pyramid_sizes(256, 256, 5, 0.8) == [(256, 256), (205, 205), (164, 164), (131, 131), (105, 105)]
    assert pyramid_sizes(20, 40, 5, 0.8) == [(20, 40), (16, 32)]


def test_median_gradient_and_warp_match_opencv():
    rng = np.random.default_rng(1)
    planes = (rng.random((2, 2, 23, 31)) * 255).astype(np.float32)
    ours = median_filter(torch.from_numpy(planes), 5).numpy()
    for n in range(2):
        for c in range(2):
            np.testing.assert_array_equal(ours[n, c], cv2.medianBlur(planes[n, c], 5))
    image = planes[0, 0]
    dx, dy = centered_gradient(torch.from_numpy(image)[None])
    assert dx[0, 5, 0] == pytest.approx(0.5 * (image[5, 1] - image[5, 0]))          # one-sided, halved
    assert dx[0, 5, 7] == pytest.approx(0.5 * (image[5, 8] - image[5, 6]))          # centred
    assert dy[0, 22, 3] == pytest.approx(0.5 * (image[22, 3] - image[21, 3]))
    flow = rng.normal(0, 2, (2, 23, 31)).astype(np.float32)
    ys, xs = np.mgrid[0:23, 0:31].astype(np.float32)
    theirs = cv2.remap(image, xs + flow[0], ys + flow[1], cv2.INTER_CUBIC)
    warped = warp_bicubic(torch.from_numpy(image)[None, None], torch.from_numpy(flow)[None])[0, 0].numpy()
    np.testing.assert_allclose(warped, theirs, atol=0.01)


# --- the flow ------------------------------------------------------------------------------------------

def test_recovers_subpixel_translation():
    """A smooth texture moved by (1.37, -0.62) px: mean end-point error < 0.1 px away from the border."""
    prev, nxt, truth = translated_pair(64, 64, 1.37, -0.62, seed=3)
    flow = torch_flow(as_uint8(prev), as_uint8(nxt))
    assert end_point_error(flow, truth, border=8) < 0.1
    assert flow[8:-8, 8:-8, 0].mean() == pytest.approx(1.37, abs=0.05)


def _cases():
    prev, nxt, truth = translated_pair(64, 64, 2.3, -1.6, seed=1)
    yield pytest.param("translation", prev, nxt, truth, TVL1Params(), EXACT, id="translation")
    prev, nxt, truth = rotated_pair(96, 96, 3.0, seed=2)
    yield pytest.param("rotation", prev, nxt, truth, TVL1Params(), EXACT, id="rotation")
    video, flows = moving_figures(96, 96, 2, seed=0, figures=4)
    yield pytest.param("figures", video[0], video[1], flows[0], TVL1Params(), AGREEMENT, id="moving-figures")
    prev, nxt, truth = translated_pair(64, 64, -1.2, 0.8, seed=4)
    yield pytest.param("translation, gamma 0.1", prev, nxt, truth, TVL1Params(gamma=0.1), EXACT, id="gamma")


@pytest.mark.parametrize("name, prev, nxt, truth, params, bound", list(_cases()))
def test_agrees_with_opencv(name, prev, nxt, truth, params, bound):
    """Bound: the mean end-point error between the PyTorch and OpenCV flows is at most 5% of the mean
    true motion magnitude (``AGREEMENT``). On the smooth translations and the rotation, where nothing
    sits near a decision threshold, the two are the same computation and the bound is 0.2% (``EXACT``);
    a median filter left out, a warp fewer, epsilon doubled or bilinear warping each break it (0.5% to
    4% measured). Measured here: translations ~1e-6, rotation 0.04%, moving figures 1% of the motion."""
    prev, nxt = as_uint8(prev), as_uint8(nxt)
    ours = torch_flow(prev, nxt, params)
    reference = tvl1_opencv(prev, nxt, params)
    motion = float(np.sqrt((truth ** 2).sum(-1)).mean())
    difference = end_point_error(ours, reference)
    assert difference <= bound * motion, f"{name}: EPE(torch, opencv) {difference:.5f} px, motion {motion:.3f} px"
    # both are real flows of this motion, not merely equal to each other
    assert end_point_error(reference, truth, border=8) < 0.5 * motion


def test_batched_equals_one_by_one():
    """Pairs that converge at different iterations (one is static) give in a batch what they give alone."""
    video, _ = moving_figures(64, 64, 4, seed=5)
    video = torch.from_numpy(as_uint8(video)).float()
    prev = torch.cat([video[:3], video[:1]])
    nxt = torch.cat([video[1:], video[:1]])
    with torch.no_grad():
        batched = DualTVL1()(prev, nxt)
        single = torch.cat([DualTVL1()(prev[i:i + 1], nxt[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)
    assert batched[3].abs().max() < 1e-3  # the static pair stays still
    assert batched[:3].abs().mean() > 0.05


# --- the stage -----------------------------------------------------------------------------------------

def _frames_store(path, video: np.ndarray):
    rgb = np.repeat(as_uint8(video)[..., None], 3, axis=-1)
    h, w = rgb.shape[1:3]
    return write_store(path, "frames", rgb, {"source": "synthetic", "fps": 25.0, "original_size": [h, w],
                                             "stored_size": [h, w]})


PARAMS = {"method": "torch", "batch": 2, "size": None, "warps": 3, "nscales": 3}


def test_compute_flow_writes_store(tmp_path):
    video, truth = moving_figures(48, 64, 4, seed=2, figures=2)
    frames = _frames_store(tmp_path / "v01.zarr", video)
    out = compute_flow(frames, tmp_path / "flow" / "v01.zarr", PARAMS, device="cpu")
    store = open_store(out, "flow")
    assert store.shape == (3, 48, 64, 2) and store.data.dtype == np.float16
    assert store.attrs["method"] == "torch" and "seed" not in store.attrs and store.attrs["size"] == [48, 64]
    assert store.attrs["parameters"]["warps"] == 3 and store.attrs["parameters"]["lambda"] == 0.15
    reference = compute_flow(frames, tmp_path / "cv.zarr", {**PARAMS, "method": "opencv"})
    ours, theirs = store.read().astype(np.float32), open_store(reference, "flow").read().astype(np.float32)
    motion = float(np.sqrt((truth ** 2).sum(-1)).mean())
    assert end_point_error(ours, theirs) <= AGREEMENT * motion
    assert check_flow_for_frames(out, frames).shape == (3, 48, 64, 2)
    small = compute_flow(frames, tmp_path / "small.zarr", {**PARAMS, "size": [32, 40]})
    assert open_store(small, "flow").shape == (3, 32, 40, 2)
    assert check_flow_for_frames(small, frames, size=[32, 40]).attrs["size"] == [32, 40]


def test_flow_of_wrong_shape_names_the_video(tmp_path):
    video, _ = moving_figures(32, 32, 5, seed=1)
    frames = _frames_store(tmp_path / "cam_07.zarr", video)
    flow = write_store(tmp_path / "flow.zarr", "flow", np.zeros((3, 32, 32, 2), np.float16),
                       {"method": "torch", "parameters": {}})
    with pytest.raises(StoreError, match="cam_07.*shape \\[3, 32, 32, 2\\].*expected \\[4, 32, 32, 2\\]"):
        check_flow_for_frames(flow, frames)
    with pytest.raises(StoreError, match="cam_07.*expected \\[4, 16, 16, 2\\]"):
        check_flow_for_frames(flow, frames, size=16)


def test_short_video_and_bad_params_fail_clearly(tmp_path):
    frames = _frames_store(tmp_path / "single.zarr", np.zeros((1, 32, 32), np.float32))
    with pytest.raises(StoreError, match="single.zarr.*1 frame"):
        compute_flow(frames, tmp_path / "out.zarr", PARAMS)
    assert not (tmp_path / "out.zarr").exists()
    with pytest.raises(ConfigError, match=r"^flow\.wraps: unknown key"):
        check_params({"method": "torch", "wraps": 5})
    with pytest.raises(ConfigError, match=r"^flow\.method: must be one of"):
        check_params({"method": "farneback"})
    with pytest.raises(ConfigError, match="flow.inner_iterations"):
        TVL1Params.from_config({"inner_iterations": 2.5})
    assert TVL1Params.from_config({"lambda": 0.3}).lambda_ == 0.3
    assert flow_size((240, 320), 120) == (120, 160) and flow_size((240, 320), None) == (240, 320)
