"""Flow-conditioned conditional VAE that predicts frame t+1 (after the CVAE of A Hybrid Video Anomaly
Detection Framework via Memory-Augmented Flow Reconstruction and Flow-Guided Frame Prediction, ICCV 2021).

Inputs: the ``h`` reconstructed frames before the target (h = 4) and the ``h`` optical flows between
consecutive frames of the clip up to the target (flow t goes from frame t to t + 1, so the last one
leads into the predicted frame), frames in [-1, 1], flow divided by the training flow scale.

- prior encoder ``p(z | y)``: a 2D convolutional encoder on the flows;
- posterior encoder ``q(z | x, y)``: the same architecture on frames and flows concatenated;
- each ends in a 3x3 convolution giving the mean and log-variance of a spatial latent map (log-
  variances clamped to [-10, 10] for numerical safety);
- decoder: the prior's deepest features concatenated with ``z`` (a sample of the posterior in
  training, its mean at test time), then transposed convolutions up to the input size with skip
  connections from the posterior encoder at every level, and a 1x1 convolution + tanh.

Loss (eq. 15-17): ``lambda_pred L_pred + lambda_kl L_KL + lambda_grad L_grad`` with
    L_pred = mean (x^_{t+1} - x_{t+1})^2                                               (eq. 15)
    L_KL   = KL(q(z | x, y) || p(z | y)) between diagonal Gaussians                   (eq. 16)
    L_grad = mean | |d_i x| - |d_i x^| | + | |d_j x| - |d_j x^| |  (alpha = 1)           (eq. 17)
KL is averaged over the latent elements (rather than summed) so its balance with the per-pixel means
of the other terms does not change with the input size. Weights 1 / 1 / 1.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True))


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
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) per sample, averaged over the latent elements."""
    kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1)
    return kl.flatten(1).mean(dim=1)


def gradient_loss(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Eq. 17 with alpha = 1 on ``[B, C, H, W]``: differences of absolute image gradients."""
    def grads(x):
        return (x[..., :, 1:] - x[..., :, :-1]).abs(), (x[..., 1:, :] - x[..., :-1, :]).abs()
    tx, ty = grads(target)
    ox, oy = grads(output)
    return (tx - ox).abs().mean() + (ty - oy).abs().mean()


class FlowCVAE(nn.Module):
    """See the module docstring. ``widths``: channels per encoder level (the input size must be a
    multiple of ``2 ** (len(widths) - 1)``)."""

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


def cvae_loss(model: FlowCVAE, frames: torch.Tensor, flows: torch.Tensor, target: torch.Tensor,
              lambda_pred: float = 1.0, lambda_kl: float = 1.0, lambda_grad: float = 1.0
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 15-17 on one batch."""
    pred, kl = model(frames, flows)
    l_pred = F.mse_loss(pred, target)
    l_kl = kl.mean()
    l_grad = gradient_loss(target, pred)
    loss = lambda_pred * l_pred + lambda_kl * l_kl + lambda_grad * l_grad
    return loss, {"prediction": float(l_pred.detach()), "kl": float(l_kl.detach()), "gradient": float(l_grad.detach())}
