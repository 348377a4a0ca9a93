"""Error measures between a target and its reconstruction or prediction, one value per frame.

Every measure takes tensors ``[..., C, H, W]`` (frames in [-1, 1]) and returns ``[...]``: the error
of each frame. The first three are LUSS-AE's (sec. 3.2.1), each as its equation writes it, with
``D = output - target`` the error frame and ``C, H, W`` the channels, height and width of the frame:

- ``mse`` (eq. 8): ``||D||_F^2 / (C H W)``.
- ``pse`` (eq. 9, the proximally sensitive error of Gudi et al.): ``||D * G||_F^2 / (C H W)``, the
  error frame convolved with the Gaussian kernel ``G`` of eq. 10 (size ``k = 5``, ``sigma = 1``).
- ``bpe`` (eq. 11, the blur-pooled error): ``||S_b(D * B_k)||_F^2 / (C H W)``: the error frame
  low-passed by ``B_k``, subsampled with stride ``b = 2``, its squares summed and divided by the size
  of the *full* frame, ``C H W``, as eq. 11 writes it (not by the size of the subsampled map). The
  paper's low-pass ``B_k`` is "a Gaussian filter" of the same ``k = 5`` and ``sigma = 1``: we use the
  kernel of eq. 10.

``gaussian_kernel`` is eq. 10 as written, ``G[i, j] = exp(-(i^2 + j^2) / (2 sigma^2)) / (2 pi sigma^2)``
with ``i, j`` the offsets from the kernel's centre; it is not renormalised, so for ``k = 5, sigma = 1``
its taps sum to 0.9818 (the published code takes kornia's Gaussian, renormalised to sum 1: a constant
factor 0.964 on PSE and BPE that the per-video rescaling of the scores removes).

Borders (the paper is silent): the error frame is padded by reflection before the convolution (edge
replication for frames smaller than the kernel's half width), so a uniform error stays uniform up to the
kernel's sum and border pixels weigh as much as inner ones. (The published code uses kornia's zero
padding.)

- ``psnr``: peak signal-to-noise ratio ``10 log10(peak^2 / MSE)`` with ``peak`` the data range
  (2 for frames in [-1, 1]).
- ``mean_squared``: the mean square over the last three axes (the per-frame L2 loss of a flow field,
  the spatio-temporal pseudo-anomaly paper's eq. 5 restricted to one field).
- ``l2_error``: the L2 norm of the difference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """Eq. 10: ``[size, size]`` taps ``exp(-(i^2 + j^2) / (2 sigma^2)) / (2 pi sigma^2)`` (not renormalised)."""
    if size % 2 != 1 or size < 1:
        raise ValueError(f"Gaussian kernel size must be odd and positive, got {size}")
    if sigma <= 0:
        raise ValueError(f"Gaussian sigma must be positive, got {sigma}")
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    return (torch.outer(g, g) / (2 * math.pi * sigma ** 2)).float()


def _frames(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    if x.dim() < 3:
        raise ValueError(f"expected frames [..., C, H, W], got shape {tuple(x.shape)}")
    lead = tuple(x.shape[:-3])
    return x.reshape(-1, *x.shape[-3:]), lead


def gaussian_blur(x: torch.Tensor, size: int = 5, sigma: float = 1.0, stride: int = 1) -> torch.Tensor:
    """Depthwise convolution of frames ``[..., C, H, W]`` with the kernel of eq. 10 (reflect padding), then
    subsampling with ``stride``."""
    flat, lead = _frames(x)
    channels = flat.shape[1]
    kernel = gaussian_kernel(size, sigma).to(flat).expand(channels, 1, size, size)
    pad = size // 2
    mode = "reflect" if min(flat.shape[-2:]) > pad else "replicate"
    out = F.conv2d(F.pad(flat, (pad, pad, pad, pad), mode=mode), kernel, stride=stride, groups=channels)
    return out.reshape(*lead, *out.shape[1:])


def blur_pool(x: torch.Tensor, size: int = 5, sigma: float = 1.0, stride: int = 2) -> torch.Tensor:
    """``S_b(x * B_k)``: the Gaussian low-pass of eq. 10 (kernel ``size``), then subsampling with ``stride``."""
    return gaussian_blur(x, size, sigma, stride)


def mse(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Eq. 8, ``||output - target||_F^2 / (C H W)`` per frame: ``[..., C, H, W] -> [...]``."""
    return ((output - target) ** 2).mean(dim=(-3, -2, -1))


def mean_squared(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``||output - target||_2^2 / (C H W)`` per field ``[..., C, H, W] -> [...]`` (same as :func:`mse`,
    named for flow fields)."""
    return mse(target, output)


def pse(target: torch.Tensor, output: torch.Tensor, size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """Eq. 9, ``||(output - target) * G||_F^2 / (C H W)`` per frame (see the module docstring)."""
    blurred = gaussian_blur(output - target, size, sigma)
    return (blurred ** 2).mean(dim=(-3, -2, -1))


def bpe(target: torch.Tensor, output: torch.Tensor, size: int = 5, sigma: float = 1.0,
        stride: int = 2) -> torch.Tensor:
    """Eq. 11, ``||S_b((output - target) * B_k)||_F^2 / (C H W)`` per frame, ``C H W`` the size of the
    full frame (see the module docstring)."""
    c, h, w = target.shape[-3:]
    pooled = blur_pool(output - target, size, sigma, stride)
    return (pooled ** 2).sum(dim=(-3, -2, -1)) / (c * h * w)


def psnr(target: torch.Tensor, output: torch.Tensor, peak: float = 2.0, eps: float = 1e-10) -> torch.Tensor:
    """PSNR per frame in dB; ``peak`` is the data range (2 for frames in [-1, 1])."""
    return 10 * torch.log10(peak ** 2 / mse(target, output).clamp_min(eps))


ERRORS = {"mse": mse, "pse": pse, "bpe": bpe}


def frame_errors(target: torch.Tensor, output: torch.Tensor, measures=("mse", "pse", "bpe"),
                 size: int = 5, sigma: float = 1.0, stride: int = 2) -> dict[str, torch.Tensor]:
    """Several measures at once, named as in :data:`ERRORS`."""
    out = {}
    for name in measures:
        if name == "mse":
            out[name] = mse(target, output)
        elif name == "pse":
            out[name] = pse(target, output, size, sigma)
        elif name == "bpe":
            out[name] = bpe(target, output, size, sigma, stride)
        else:
            raise KeyError(f"unknown error measure {name!r}; known: {sorted(ERRORS)}")
    return out


def l2_error(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """L2 norm of the difference per frame ``[..., C, H, W] -> [...]`` (e.g. a flow field's error)."""
    return torch.sqrt(((target - output) ** 2).sum(dim=(-3, -2, -1)))


__all__ = ["gaussian_kernel", "gaussian_blur", "blur_pool", "mse", "mean_squared", "pse", "bpe", "psnr",
           "l2_error", "frame_errors", "ERRORS"]
