"""Error measures, rescalings and the window-to-frame mapping of the one-class methods, against values
computed by hand on tiny inputs."""

import math

import numpy as np
import pytest
import torch

from vadlib.oneclass.clips import window_starts
from vadlib.oneclass.errors import blur_pool, bpe, frame_errors, gaussian_kernel, l2_error, mse, pse, psnr
from vadlib.oneclass.rescalings import minmax, rescaling, robust
from vadlib.oneclass.score import combine, to_frames

# LUSS-AE eq. 10 with sigma = 1, k = 5: G[i, j] = exp(-(i^2 + j^2) / 2) / (2 pi) = g_i g_j / (2 pi), with
# g the unnormalised 1D Gaussian at the offsets -2..2 (the paper's kernel is not renormalised)
g = [math.exp(-2.0), math.exp(-0.5), 1.0, math.exp(-0.5), math.exp(-2.0)]
TWO_PI = 2 * math.pi
KERNEL_SUM = sum(g) ** 2 / TWO_PI                                      # 0.981814


def delta(size: int) -> torch.Tensor:
    x = torch.zeros(1, 1, size, size)
    x[..., size // 2, size // 2] = 1.0
    return x


def test_gaussian_kernel_is_eq_10():
    k = gaussian_kernel(5, 1.0)
    assert k.shape == (5, 5)
    assert k[2, 2].item() == pytest.approx(1 / TWO_PI, rel=1e-6)                       # 0.159155
    assert k[0, 2].item() == pytest.approx(math.exp(-2.0) / TWO_PI, rel=1e-6)          # offsets (-2, 0)
    assert k[0, 0].item() == pytest.approx(math.exp(-4.0) / TWO_PI, rel=1e-6)          # offsets (-2, -2)
    assert k.sum().item() == pytest.approx(0.981814, rel=1e-5)                         # not renormalised
    with pytest.raises(ValueError):
        gaussian_kernel(4)


def test_mse_per_frame():
    target = torch.zeros(2, 1, 2, 2)
    output = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).expand(2, 1, 2, 2)
    assert mse(target, output).tolist() == [7.5, 7.5]                   # (1 + 4 + 9 + 16) / 4


def test_pse_of_a_centred_impulse():
    # eq. 9 on a 9x9 frame whose error is an impulse at the centre: the error convolved with G is G itself
    # (reflect padding never reaches it), so PSE = sum_ij G[i, j]^2 / (C H W) = (sum_i g_i^2)^2 / (2 pi)^2 / 81
    expected = sum(v * v for v in g) ** 2 / TWO_PI ** 2 / 81            # 0.00098237
    assert pse(torch.zeros(1, 1, 9, 9), delta(9)).item() == pytest.approx(expected, rel=1e-5)
    # the measure is of the error frame: the same for output - target moved by any common image
    base = torch.rand(1, 1, 9, 9)
    assert pse(base, base + delta(9)).item() == pytest.approx(expected, rel=1e-4)


def test_pse_of_a_constant_difference():
    # a uniform error e stays uniform under reflect padding, times the kernel's sum: PSE = (e * sum G)^2
    out = torch.full((1, 3, 8, 8), 0.5)
    assert pse(torch.zeros(1, 3, 8, 8), out).item() == pytest.approx((0.5 * KERNEL_SUM) ** 2, rel=1e-5)


def test_bpe_of_a_centred_impulse():
    # eq. 11: blur then keep rows/cols 0, 2, 4, 6, 8, i.e. the kernel's offsets -2, 0, 2 of the impulse at 4:
    # g values e^-2, 1, e^-2 in each axis; squares summed and divided by C H W of the FULL frame (1 x 9 x 9)
    pooled = blur_pool(delta(9))
    assert pooled.shape == (1, 1, 5, 5)
    expected = (1 + 2 * math.exp(-4.0)) ** 2 / TWO_PI ** 2 / 81         # 0.00033605
    assert bpe(torch.zeros(1, 1, 9, 9), delta(9)).item() == pytest.approx(expected, rel=1e-5)
    # a uniform error e: the pooled map (5 x 5 here) holds e * sum G, summed over 25 values / 81
    out = torch.full((1, 1, 9, 9), 0.5)
    assert bpe(torch.zeros(1, 1, 9, 9), out).item() == pytest.approx(25 * (0.5 * KERNEL_SUM) ** 2 / 81, rel=1e-5)


def test_psnr_and_l2():
    target = torch.zeros(1, 1, 10, 10)
    output = torch.full((1, 1, 10, 10), 0.1)                            # MSE 0.01
    assert psnr(target, output, peak=2.0).item() == pytest.approx(10 * math.log10(4 / 0.01), rel=1e-6)
    flow = torch.zeros(1, 2, 1, 2)
    flow[0, 0, 0, 0], flow[0, 1, 0, 1] = 3.0, 4.0
    assert l2_error(torch.zeros_like(flow), flow).item() == pytest.approx(5.0)


def test_frame_errors_keeps_leading_axes():
    a, b = torch.zeros(2, 4, 1, 8, 8), torch.ones(2, 4, 1, 8, 8)
    errs = frame_errors(a, b)
    assert set(errs) == {"mse", "pse", "bpe"}
    assert all(e.shape == (2, 4) for e in errs.values())
    with pytest.raises(KeyError, match="unknown error measure"):
        frame_errors(a, b, ("ssim",))


def test_minmax():
    assert minmax(np.array([1.0, 2.0, 3.0, 5.0])).tolist() == [0.0, 0.25, 0.5, 1.0]
    assert minmax(np.full(4, 7.0)).tolist() == [0.0] * 4


def test_robust_rescaling_by_hand():
    x = np.arange(101, dtype=float)              # median 50, P1 = 1, P99 = 99
    assert robust(x)[[0, 50, 100]] == pytest.approx([-50 / 98, 0.0, 50 / 98], rel=1e-6)
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1000], dtype=float)
    # linear percentiles over 11 values: P1 at position 0.1 -> 0.1, P99 at 9.9 -> 9 + 0.9 * 991 = 900.9
    span = 900.9 - 0.1
    assert robust(y)[[0, 10]] == pytest.approx([-5 / span, 995 / span], rel=1e-6)
    assert robust(np.ones(5)).tolist() == [0.0] * 5
    assert rescaling("robust") is robust
    with pytest.raises(KeyError):
        rescaling("zscore")


def test_window_starts():
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(10, 4, 4).tolist() == [0, 4, 6]   # the last window ends on the last frame
    assert window_starts(3, 4, 1).tolist() == [0]
    assert window_starts(4, 4, 1).tolist() == [0]


def test_to_frames_centre_mapping_with_padding_and_interpolation():
    frames = to_frames(np.array([1.0, 3.0]), np.array([2, 4]), 7)
    assert frames.tolist() == [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0]
    # duplicate frames (a short video's clamped windows) are averaged; frames past the end clamped
    assert to_frames(np.array([1.0, 3.0]), np.array([5, 9]), 3).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError):
        to_frames(np.array([1.0]), np.array([0, 1]), 3)


def test_combine_weights_rescaled_components():
    comps = {"a": np.array([0.0, 1.0, 2.0]), "b": np.array([10.0, 10.0, 30.0]), "c": np.array([5.0, 6.0, 7.0])}
    out = combine(comps, {"a": 2.0, "b": 1.0}, minmax)
    assert out.tolist() == [0.0, 1.0, 3.0]
    with pytest.raises(KeyError, match="known"):
        combine(comps, {"d": 1.0}, minmax)
