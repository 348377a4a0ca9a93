"""Error measures between a target and its reconstruction or prediction, one value per frame.

Every measure takes tensors ``[..., C, H, W]`` (frames in [-1, 1]) and returns ``[...]``: the error
of each frame, averaged over its channels and pixels.

- ``mse``: mean squared error.
- ``pse``: MSE of the two frames after a Gaussian low-pass (kernel 5, sigma 1), as LUSS-AE's
  "PSE" test-time error. The paper names only the filter; we low-pass *both frames* before the
  squared difference. (Smoothing the squared-error map and then averaging it would give back the
  MSE up to the borders, since a normalised kernel preserves the mean, so that reading cannot be
  meant.) The low-pass removes the high-frequency detail that an autoencoder never reproduces
  (sensor noise, texture), so the error concentrates on structure.
- ``bpe``: blur-pooled error, MSE after blur pooling (the same Gaussian low-pass, kernel 5, then
  subsampling with stride 2), as LUSS-AE's "BPE". Filtering before subsampling avoids aliasing.
- ``psnr``: peak signal-to-noise ratio ``10 log10(peak^2 / MSE)`` with ``peak`` the data range
  (2 for frames in [-1, 1]).

Borders are padded by reflection before filtering.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F


def gaussian_kernel(size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """Normalised 2D Gaussian ``[size, size]`` sampled at integer offsets from the centre."""
    if size % 2 != 1 or size < 1:
        raise ValueError(f"Gaussian kernel size must be odd and positive, got {size}")
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g).float()


def _frames(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    if x.dim() < 3:
        raise ValueError(f"expected frames [..., C, H, W], got shape {tuple(x.shape)}")
    lead = tuple(x.shape[:-3])
    return x.reshape(-1, *x.shape[-3:]), lead


def gaussian_blur(x: torch.Tensor, size: int = 5, sigma: float = 1.0, stride: int = 1) -> torch.Tensor:
    """Depthwise Gaussian low-pass of frames ``[..., C, H, W]`` (reflect padding), then ``stride``."""
    flat, lead = _frames(x)
    channels = flat.shape[1]
    kernel = gaussian_kernel(size, sigma).to(flat).expand(channels, 1, size, size)
    pad = size // 2
    mode = "reflect" if min(flat.shape[-2:]) > pad else "replicate"
    out = F.conv2d(F.pad(flat, (pad, pad, pad, pad), mode=mode), kernel, stride=stride, groups=channels)
    return out.reshape(*lead, *out.shape[1:])


def blur_pool(x: torch.Tensor, size: int = 5, sigma: float = 1.0, stride: int = 2) -> torch.Tensor:
    """Blur pooling: Gaussian low-pass (kernel ``size``) then subsampling with ``stride``."""
    return gaussian_blur(x, size, sigma, stride)


def mse(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Mean squared error per frame: ``[..., C, H, W] -> [...]``."""
    return ((target - output) ** 2).mean(dim=(-3, -2, -1))


def pse(target: torch.Tensor, output: torch.Tensor, size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """MSE per frame after a Gaussian low-pass of both frames (see the module docstring)."""
    return mse(gaussian_blur(target, size, sigma), gaussian_blur(output, size, sigma))


def bpe(target: torch.Tensor, output: torch.Tensor, size: int = 5, sigma: float = 1.0,
        stride: int = 2) -> torch.Tensor:
    """Blur-pooled error per frame: MSE after blur pooling both frames."""
    return mse(blur_pool(target, size, sigma, stride), blur_pool(output, size, sigma, stride))


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


__all__ = ["gaussian_kernel", "gaussian_blur", "blur_pool", "mse", "pse", "bpe", "psnr", "l2_error",
           "frame_errors", "ERRORS"]
