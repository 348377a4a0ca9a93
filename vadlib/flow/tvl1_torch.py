"""Batched Dual TV-L1 optical flow in PyTorch: OpenCV's algorithm, many frame pairs at once.

The method is the duality-based TV-L1 flow of "A Duality Based Approach for Realtime TV-L1 Optical
Flow" (DAGM 2007) in the form of "TV-L1 Optical Flow Estimation" (IPOL 2013), step for step as
``cv::optflow::DualTVL1OpticalFlow`` computes it (opencv_contrib, modules/optflow/src/tvl1flow.cpp):

- images on the 0..255 scale; a pyramid of ``nscales`` levels, each level the previous one resized by
  ``scale_step`` with bilinear interpolation (OpenCV's ``resize``: half-pixel centres, no anti-aliasing,
  size rounded); levels narrower than 16 pixels are dropped; the flow starts at zero on the coarsest
  level and is carried to the next finer one by bilinear resizing and a factor ``1 / scale_step``;
- on each level the dual variables start at zero; each of ``warps`` warps samples the second image and
  its centred gradient (one-sided, halved, at the borders) at ``x + u`` with bicubic interpolation
  (A = -0.75, zero outside the image, as ``remap(INTER_CUBIC, BORDER_CONSTANT)``), then runs up to
  ``outer_iterations`` x ``inner_iterations`` primal-dual steps: thresholding of ``v`` (the TH operator),
  ``u = v + theta div p`` (backward divergence), Chambolle's projection
  ``p = (p + tau/theta grad u) / (1 + tau/theta |grad u|)`` (forward gradient); a 5x5 median filter
  (replicated border) of the two flow channels opens every outer iteration;
- OpenCV stops a warp when the squared change of ``u`` summed over the level falls to
  ``epsilon^2 * H * W``. Here every pair carries an ``active`` flag that is cleared by that test; a pair
  no longer active keeps its state frozen until the next warp, so a batch gives each pair exactly the
  iterates OpenCV would, whatever else is in the batch. The loops themselves have fixed bounds; the only
  host synchronisation is a test every few iterations that ends a warp once no pair is active.

Shapes: images ``[N, H, W]`` float (0..255); flow ``[N, H, W, 2]`` (x, y displacement in pixels).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vadlib.flow.tvl1_params import TVL1Params

FLT_EPSILON = 1.1920928955078125e-07  # std::numeric_limits<float>::epsilon(), OpenCV's test on |grad I1|^2
MIN_LEVEL_SIZE = 16  # OpenCV stops the pyramid before a level narrower than this


def pyramid_sizes(height: int, width: int, nscales: int, scale_step: float) -> list[tuple[int, int]]:
    """The (H, W) of each pyramid level, finest first, as OpenCV's ``resize(fx=fy=scale_step)`` rounds."""
    sizes = [(height, width)]
    for _ in range(1, nscales):
        h, w = (int(round(s * scale_step)) for s in sizes[-1])
        if h < MIN_LEVEL_SIZE or w < MIN_LEVEL_SIZE:
            break
        sizes.append((h, w))
    return sizes


@lru_cache(maxsize=64)
def _linear_weights(n_in: int, n_out: int, scale: float, device: str) -> Tensor:
    """[n_out, n_in] matrix of OpenCV's bilinear ``resize`` along one axis (``scale`` = source / dest).

    Destination pixel ``d`` samples ``(d + 0.5) * scale - 0.5``; below 0 it takes pixel 0, at or past the
    last pixel it takes the last one.
    """
    d = torch.arange(n_out, dtype=torch.float64)
    src = ((d + 0.5) * scale - 0.5).float().double()  # OpenCV computes the position in float
    x0 = torch.floor(src)
    frac = src - x0
    frac = torch.where(x0 < 0, torch.zeros_like(frac), frac)
    frac = torch.where(x0 >= n_in - 1, torch.zeros_like(frac), frac)
    x0 = x0.clamp(0, n_in - 1).long()
    x1 = (x0 + 1).clamp(max=n_in - 1)
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    weights.index_put_((rows, x0), 1 - frac, accumulate=True)
    weights.index_put_((rows, x1), frac, accumulate=True)
    return weights.float().to(device)


def resize_linear(x: Tensor, size: tuple[int, int], scale: float | None = None) -> Tensor:
    """Bilinear resize of ``x`` ([..., H, W]) to ``size`` as OpenCV's ``resize(INTER_LINEAR)``.

    ``scale`` is OpenCV's ``fx = fy`` when the size came from a factor (the sampling then uses ``1/scale``
    exactly, not the ratio of the rounded sizes); without it the ratio of the sizes is used.
    """
    (h_in, w_in), (h_out, w_out) = x.shape[-2:], size
    sy = 1.0 / scale if scale else h_in / h_out
    sx = 1.0 / scale if scale else w_in / w_out
    device = str(x.device)
    rows = _linear_weights(h_in, h_out, sy, device)
    cols = _linear_weights(w_in, w_out, sx, device)
    return rows @ x @ cols.T


def centered_gradient(img: Tensor) -> tuple[Tensor, Tensor]:
    """Centred differences of ``img`` ([N, H, W]); at the borders the one-sided difference, halved."""
    pad = F.pad(img.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    dx = 0.5 * (pad[..., 1:-1, 2:] - pad[..., 1:-1, :-2])
    dy = 0.5 * (pad[..., 2:, 1:-1] - pad[..., :-2, 1:-1])
    return dx, dy


def forward_gradient(u: Tensor) -> tuple[Tensor, Tensor]:
    """Forward differences of ``u`` ([..., H, W]), zero on the last column (x) and last row (y)."""
    dx = F.pad(u[..., :, 1:] - u[..., :, :-1], (0, 1))
    dy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return dx, dy


def divergence(px: Tensor, py: Tensor) -> Tensor:
    """Backward-difference divergence, the negative adjoint of :func:`forward_gradient` as OpenCV has it
    (the value before the first column / row counts as zero)."""
    return (px - F.pad(px[..., :, :-1], (1, 0))) + (py - F.pad(py[..., :-1, :], (0, 0, 1, 0)))


@lru_cache(maxsize=4)
def median_network(count: int) -> tuple[tuple[int, int, bool, bool], ...]:
    """Compare-exchanges that leave the median of ``count`` values on line ``count // 2``.

    Batcher's odd-even merge sort on the next power of two (the extra lines hold +inf and drop out),
    pruned backwards to the comparators the median depends on; each entry is ``(low_line, high_line,
    min_needed, max_needed)``. For 25 values: 113 comparators, 202 min/max operations.
    """
    size = 1 << (count - 1).bit_length()
    comparators = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        comparators.append((i + j, i + j + k))
            k //= 2
        p *= 2
    comparators = [(a, b) for a, b in comparators if b < count]  # +inf on the high line: no-op
    needed, pruned = {count // 2}, []
    for a, b in reversed(comparators):
        if a in needed or b in needed:
            pruned.append((a, b, a in needed, b in needed))
            needed |= {a, b}
    return tuple(reversed(pruned))


def median_filter(x: Tensor, size: int) -> Tensor:
    """Median over ``size`` x ``size`` windows of each [H, W] plane of ``x`` ([N, C, H, W]), replicated
    border, as ``cv2.medianBlur``: a selection network of min/max over the shifted planes (exact, and
    a single fused kernel when compiled)."""
    n, c, h, w = x.shape
    r = size // 2
    padded = F.pad(x.reshape(n * c, 1, h, w), (r, r, r, r), mode="replicate")[:, 0]
    lines: list[Tensor | None] = [padded[:, i:i + h, j:j + w] for i in range(size) for j in range(size)]
    for a, b, need_min, need_max in median_network(size * size):
        low = torch.minimum(lines[a], lines[b]) if need_min else None
        high = torch.maximum(lines[a], lines[b]) if need_max else None
        lines[a], lines[b] = low, high
    return lines[(size * size) // 2].reshape(n, c, h, w)


def warp_bicubic(images: Tensor, flow: Tensor) -> Tensor:
    """Sample ``images`` ([N, C, H, W]) at ``x + flow`` ([N, 2, H, W]): bicubic, zero outside the image.

    The sampling runs in float64: ``grid_sample`` takes coordinates normalised to [-1, 1], and in float32
    their round trip moves integer positions by ~1e-5 px, which TV-L1 amplifies where the image is flat
    (a still pair would get a flow of up to a pixel instead of zero, as OpenCV gives).
    """
    n, _, h, w = images.shape
    ys = torch.arange(h, device=images.device, dtype=torch.float64).view(1, h, 1)
    xs = torch.arange(w, device=images.device, dtype=torch.float64).view(1, 1, w)
    gx = (xs + flow[:, 0].double()) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1].double()) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    warped = F.grid_sample(images.double(), grid, mode="bicubic", padding_mode="zeros", align_corners=True)
    return warped.to(images.dtype)


def primal_dual_step(u: Tensor, p: Tensor, igrad: Tensor, grad: Tensor, rho_c: Tensor, active: Tensor,
                     l_t: float, theta: float, taut: float) -> tuple[Tensor, Tensor, Tensor]:
    """One inner iteration for every active pair; inactive pairs keep their state.

    ``u`` [N, C, H, W] (C = 2, or 3 with the illumination term); ``p`` [N, C, 2, H, W] the dual variable;
    ``igrad`` [N, C, H, W] the derivative of the warped image w.r.t. ``u`` (I1wx, I1wy[, gamma]);
    ``grad`` [N, H, W] = I1wx^2 + I1wy^2; ``rho_c`` [N, H, W] the constant part of the residual;
    ``active`` [N] bool. Returns the new ``u`` and ``p`` and, per pair, the squared change of ``u``.
    """
    # TH operator: v = u + d, d along igrad (OpenCV's estimateV).
    rho = rho_c + (igrad * u).sum(dim=1)
    ratio = -rho / grad.clamp_min(FLT_EPSILON)
    step = torch.where(rho < -l_t * grad, l_t,
                       torch.where(rho > l_t * grad, -l_t, torch.where(grad > FLT_EPSILON, ratio, 0.0)))
    v = u + step.unsqueeze(1) * igrad
    # u = v + theta div p, and the squared change (OpenCV's estimateU).
    u_new = v + theta * divergence(p[:, :, 0], p[:, :, 1])
    error = (u_new - u).square().sum(dim=(1, 2, 3))
    # Chambolle's projection on the dual variable (estimateDualVariables).
    ux, uy = forward_gradient(u_new)
    norm = 1.0 + taut * torch.sqrt(ux * ux + uy * uy)
    p_new = (p + taut * torch.stack((ux, uy), dim=2)) / norm.unsqueeze(2)
    keep = active.view(-1, 1, 1, 1)
    return torch.where(keep, u_new, u), torch.where(keep.unsqueeze(-1), p_new, p), error


def _median_where(u: Tensor, active: Tensor, size: int) -> Tensor:
    """``u`` with its two flow channels median-filtered for the active pairs."""
    flow = torch.where(active.view(-1, 1, 1, 1), median_filter(u[:, :2], size), u[:, :2])
    return torch.cat((flow, u[:, 2:]), dim=1)


class DualTVL1(nn.Module):
    """Dual TV-L1 optical flow of a batch of frame pairs (no learnt parameters).

    >>> flow = DualTVL1()(prev, nxt)   # prev, nxt: [N, H, W] float on the 0..255 scale -> [N, H, W, 2]

    ``compile=True`` compiles the primal-dual step and the median filter with ``torch.compile``
    (dynamic shapes: one compilation serves every pyramid level), each a single fused kernel.
    ``sync_every``: inner iterations between the tests that end a warp once no pair is active (each
    test is one host synchronisation); by default every iteration on the CPU, every 5th on a GPU.
    ``stats`` holds the iterations run by the last call and the pair-iterations that were active.
    """

    def __init__(self, params: TVL1Params | None = None, compile: bool = False, sync_every: int | None = None):
        super().__init__()
        self.params = params or TVL1Params()
        self.sync_every = sync_every
        self._step = torch.compile(primal_dual_step, dynamic=True) if compile else primal_dual_step
        self._median = torch.compile(_median_where, dynamic=True) if compile else _median_where
        self.stats: dict[str, int] = {}

    def forward(self, prev: Tensor, nxt: Tensor) -> Tensor:
        if prev.shape != nxt.shape or prev.dim() != 3:
            raise ValueError(f"frame pairs must be two [N, H, W] tensors of one shape, got "
                             f"{list(prev.shape)} and {list(nxt.shape)}")
        prm = self.params
        prev, nxt = prev.float(), nxt.float()
        n, height, width = prev.shape
        sizes = pyramid_sizes(height, width, prm.nscales, prm.scale_step)
        levels = [(prev, nxt)]
        for size in sizes[1:]:
            levels.append(tuple(resize_linear(img, size, prm.scale_step) for img in levels[-1]))
        channels = 3 if prm.gamma != 0 else 2
        u = prev.new_zeros(n, channels, *sizes[-1])
        self.stats = {"iterations": 0, "active_pair_iterations": 0}
        for level in range(len(sizes) - 1, -1, -1):
            u = self._level(*levels[level], u)
            if level > 0:
                u = resize_linear(u, sizes[level - 1])
                u[:, :2] *= 1.0 / prm.scale_step
        return u[:, :2].permute(0, 2, 3, 1).contiguous()

    def _level(self, i0: Tensor, i1: Tensor, u: Tensor) -> Tensor:
        """Warps and primal-dual iterations on one pyramid level, from the flow ``u`` it starts with."""
        prm = self.params
        n, channels, h, w = u.shape
        l_t, taut = prm.lambda_ * prm.theta, prm.tau / prm.theta
        scaled_epsilon = prm.epsilon ** 2 * h * w
        sync_every = self.sync_every or (1 if u.device.type == "cpu" else 5)
        i1x, i1y = centered_gradient(i1)
        stacked = torch.stack((i1, i1x, i1y), dim=1)
        p = u.new_zeros(n, channels, 2, h, w)
        active_count = torch.zeros((), dtype=torch.long, device=u.device)
        for _ in range(prm.warps):
            i1w, i1wx, i1wy = warp_bicubic(stacked, u[:, :2]).unbind(1)
            grad = i1wx * i1wx + i1wy * i1wy
            rho_c = i1w - i1wx * u[:, 0] - i1wy * u[:, 1] - i0
            derivs = [i1wx, i1wy] + ([torch.full_like(i1wx, prm.gamma)] if channels == 3 else [])
            igrad = torch.stack(derivs, dim=1)
            active = torch.ones(n, dtype=torch.bool, device=u.device)
            done = False
            for _ in range(prm.outer_iterations):
                if prm.median_filtering > 1:
                    u = self._median(u, active, prm.median_filtering)
                for inner in range(prm.inner_iterations):
                    u, p, error = self._step(u, p, igrad, grad, rho_c, active, l_t, prm.theta, taut)
                    active_count += active.sum()
                    active = active & (error > scaled_epsilon)
                    self.stats["iterations"] += 1
                    if (inner + 1) % sync_every == 0 and not bool(active.any()):
                        done = True
                        break
                if done or not bool(active.any()):
                    break
        self.stats["active_pair_iterations"] += int(active_count)
        return u


def tvl1_torch(prev: Tensor, nxt: Tensor, params: TVL1Params | None = None, compile: bool = False) -> Tensor:
    """Flow from ``prev`` to ``nxt`` ([N, H, W], 0..255) -> [N, H, W, 2] float32, on their device."""
    with torch.no_grad():
        return DualTVL1(params, compile=compile)(prev, nxt)
