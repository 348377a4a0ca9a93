"""Flow-conditioned conditional VAE that predicts the frame after the observed ones (Long et al.,
sec. 3.4, eqs. 13-17; the architecture after the CVAE of HF2-VAD, "A Hybrid Video Anomaly Detection
Framework via Memory-Augmented Flow Reconstruction and Flow-Guided Frame Prediction", ICCV 2021).

It models p(x_{t+1} | x_{1:t}, y_{1:t}): ``x_{1:t}`` are the ``h`` reconstructed frames before the
target (h = 4), ``y_{1:t}`` the ``h`` optical flows *of those frames*: the flow into each of them
(flow ``k`` of a flow store goes from frame ``k`` to ``k + 1``, so frames ``f .. f + h - 1`` take flows
``f - 1 .. f + h - 2``, :func:`condition_flow_indices`). The flow from the last observed frame into the
target is never an input: it would already encode the frame to predict, and the paper conditions on
"the current optical flow" ``y_{1:t}``, indexed like the observed frames. Frames in [-1, 1], flow
divided by the training flow scale.

- prior encoder E_theta: ``p(z | y_{1:t})``, a 2D convolutional encoder on the flows;
- posterior encoder F_phi: ``q(z | x_{1:t}, y_{1:t})``, the same architecture on frames and flows
  concatenated (eq. 14 replaces q(z | x_{t+1}, y) by q(z | x_{1:t}, y): the target is not an input);
- each ends in a 3x3 convolution giving the mean and log-variance of a spatial latent map (log-
  variances clamped to [-10, 10] for numerical safety);
- decoder D_psi: E_theta's deepest features concatenated with ``z`` (a sample of the posterior in
  training, as the paper says; its mean at test time, where the paper is silent, so that a score does
  not depend on a random draw), then transposed convolutions up to the input size with skip
  connections from F_phi at every level ("jump connections between F_phi and D_psi"), and a 1x1
  convolution + tanh.

Loss, per sample, as eqs. 15-17 write it:
    zeta_VAE = |x_{t+1} - x^_{t+1}|^2 + KL[q(z | x_{1:t}, y_{1:t}) || p(z | y_{1:t})]          (eq. 15)
    zeta_gra = sum_{i,j} | |X_{i,j} - X_{i-1,j}| - |X^_{i,j} - X^_{i-1,j}| |
                       + | |X_{i,j} - X_{i,j-1}| - |X^_{i,j} - X^_{i,j-1}| |                  (eq. 16)
    zeta     = lambda_VAE zeta_VAE + lambda_gra zeta_gra                                       (eq. 17)
with the squared norm summed over the pixels and channels, the KL between diagonal Gaussians summed
over the latent elements and eq. 16 summed over the pixels and channels. The batch loss is the mean of
``zeta`` over the samples divided by the number of values of a frame ``C H W``: one factor for the
whole of eq. 17, so the balance of its terms is the paper's, while its scale (a per-pixel one, like
the autoencoder's mean squared error it is added to in end-to-end training) does not change with the
input size. lambda_VAE = lambda_gra = 1: the paper calls them hyper-parameters without values (HF2-VAD
weighs its frame, KL and gradient terms 1 / 1 / 1).

Eq. 16 is printed as a *product* of the two bracketed differences. Read literally it is not a loss: it
is 0 for a perfect prediction and negative for predictions that are sharper than the target along one
axis and blurrier along the other, so minimising it does not drive the prediction to the target. The
sentence before it ("in order to make the reconstructed image sharper, this paper also adds the
gradient error") states the aim of the gradient difference loss of Liu et al.'s future-frame baseline
(the paper's ref. [2], cited in sec. 3.4 and 4.2), whose terms eq. 16's factors are: that loss is the
*sum* of the absolute differences along both axes, which is what is implemented (with its exponent 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def _conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True))


def condition_flow_indices(start: int, clip_len: int, history: int, n_flows: int) -> np.ndarray:
    """Flow indices ``y_{1:t}`` for the window of the clip ``start .. start + clip_len - 1``.

    The CVAE sees frames ``f .. f + h - 1`` with ``f = start + clip_len - h`` and predicts frame
    ``start + clip_len``; ``y_{1:t}`` are the flows into its observed frames, ``f - 1 .. f + h - 2``,
    all between frames of the clip (hence ``history < clip_len``). Indices are clamped to the store
    (a video shorter than the window repeats its last frame, as its frames do).
    """
    if not 1 <= history < clip_len:
        raise ValueError(f"history must be in 1..clip_len - 1 = {clip_len - 1} (the flow into the first "
                         f"observed frame comes from the frame before it), got {history}")
    first = int(start) + clip_len - history - 1
    return np.clip(first + np.arange(history, dtype=np.int64), 0, max(n_flows - 1, 0))


class Encoder2d(nn.Module):
    """Level 0 at full resolution, each next level at half the previous one."""

    def __init__(self, c_in: int, widths: Sequence[int]):
        super().__init__()
        chans = [c_in] + list(widths)
        self.blocks = nn.ModuleList(_conv_block(chans[i], chans[i + 1], 1 if i == 0 else 2)
                                    for i in range(len(widths)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) per sample ``[B]``: the KL of the diagonal Gaussians,
    the sum of the per-element KLs over the latent map."""
    kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1)
    return kl.flatten(1).sum(dim=1)


def squared_error(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``|x - x^|^2`` per sample ``[B]`` (the first term of eq. 15), summed over channels and pixels."""
    return ((target - output) ** 2).flatten(1).sum(dim=1)


def gradient_loss(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Eq. 16 (as the gradient difference loss, see the module docstring) per sample ``[B]`` of frames
    ``[B, C, H, W]``: the absolute differences of the absolute image gradients along both axes, summed
    over channels and pixels."""
    def grads(x):
        return (x[..., 1:, :] - x[..., :-1, :]).abs(), (x[..., :, 1:] - x[..., :, :-1]).abs()
    ti, tj = grads(target)
    oi, oj = grads(output)
    return (ti - oi).abs().flatten(1).sum(dim=1) + (tj - oj).abs().flatten(1).sum(dim=1)


class FlowCVAE(nn.Module):
    """See the module docstring. ``widths``: channels per encoder level (the input size must be a
    multiple of ``2 ** (len(widths) - 1)``); ``latent``: channels of the latent map (at the deepest
    level's resolution). The paper gives no layer sizes."""

    def __init__(self, channels: int = 3, history: int = 4, widths: Sequence[int] = (64, 128, 128, 128),
                 latent: int = 64):
        super().__init__()
        self.channels, self.history = channels, history
        self.widths = tuple(int(w) for w in widths)
        self.posterior = Encoder2d(history * (channels + 2), self.widths)
        self.prior = Encoder2d(history * 2, self.widths)
        top = self.widths[-1]
        self.q_head = nn.Conv2d(top, 2 * latent, 3, padding=1)
        self.p_head = nn.Conv2d(top, 2 * latent, 3, padding=1)
        self.bottleneck = _conv_block(top + latent, top)
        self.ups = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for level in range(len(self.widths) - 1, 0, -1):
            c_hi, c_lo = self.widths[level], self.widths[level - 1]
            self.ups.append(nn.ConvTranspose2d(c_hi, c_lo, 3, stride=2, padding=1, output_padding=1))
            self.fuse.append(_conv_block(2 * c_lo, c_lo))
        self.out = nn.Conv2d(self.widths[0], channels, 1)

    def forward(self, frames: torch.Tensor, flows: torch.Tensor, sample: bool | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``frames [B, h, C, H, W]``, ``flows [B, h, 2, H, W]`` -> prediction ``[B, C, H, W]``, KL ``[B]``.
        ``sample`` (default: in training mode) draws z from the posterior, else takes its mean."""
        if frames.shape[1] != self.history or flows.shape[1] != self.history:
            raise ValueError(f"history: the CVAE takes {self.history} frames and flows, got "
                             f"{frames.shape[1]} frames and {flows.shape[1]} flows")
        sample = self.training if sample is None else sample
        y = flows.flatten(1, 2)
        q_feats = self.posterior(torch.cat([frames.flatten(1, 2), y], dim=1))
        p_feats = self.prior(y)
        mu_q, logvar_q = self.q_head(q_feats[-1]).chunk(2, dim=1)
        mu_p, logvar_p = self.p_head(p_feats[-1]).chunk(2, dim=1)
        logvar_q, logvar_p = logvar_q.clamp(-10, 10), logvar_p.clamp(-10, 10)
        z = mu_q + torch.randn_like(mu_q) * (0.5 * logvar_q).exp() if sample else mu_q
        h = self.bottleneck(torch.cat([p_feats[-1], z], dim=1))
        for i, (up, fuse) in enumerate(zip(self.ups, self.fuse)):
            skip = q_feats[len(self.widths) - 2 - i]
            h = fuse(torch.cat([up(h), skip], dim=1))
        return torch.tanh(self.out(h)), gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)


def cvae_objective(pred: torch.Tensor, kl: torch.Tensor, target: torch.Tensor, lambda_vae: float = 1.0,
                   lambda_gra: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 17 on a batch of predictions ``pred`` (with their KL ``[B]``) of ``target``: the mean of
    ``zeta`` over the samples divided by ``C H W`` (see the module docstring). The parts are reported
    on the same scale: ``prediction`` (the mean squared error), ``kl`` and ``gradient``."""
    values = float(target[0].numel())
    sse = squared_error(target, pred)
    gra = gradient_loss(target, pred)
    zeta = lambda_vae * (sse + kl) + lambda_gra * gra                                  # eqs. 15, 17
    loss = zeta.mean() / values
    return loss, {"prediction": float(sse.detach().mean()) / values, "kl": float(kl.detach().mean()) / values,
                  "gradient": float(gra.detach().mean()) / values}


def cvae_loss(model: FlowCVAE, frames: torch.Tensor, flows: torch.Tensor, target: torch.Tensor,
              lambda_vae: float = 1.0, lambda_gra: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward one batch and return eq. 17 and its parts (:func:`cvae_objective`)."""
    pred, kl = model(frames, flows)
    return cvae_objective(pred, kl, target, lambda_vae, lambda_gra)
