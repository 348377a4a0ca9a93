"""RTFM: Robust Temporal Feature Magnitude learning ("Weakly-supervised Video Anomaly Detection with
Robust Temporal Feature Magnitude Learning", ICCV 2021).

The multi-scale temporal network (MTN) runs three dilated temporal convolutions (dilation 1, 2, 4) and
a temporal self-attention (non-local) branch side by side, fuses them with a 3-wide convolution and adds
the input back. A snippet classifier (``dim -> 512 -> 128 -> 1``, ReLU, dropout 0.7, sigmoid) scores
the fused features. Every crop is a sequence of its own; snippet scores and feature magnitudes are
averaged over crops, as in the published code.

Training selects the top-k snippets by feature magnitude; during training the magnitudes are multiplied
by a dropout mask (rate 0.7, as the published code) before the selection. The losses are in
:func:`vadlib.weak.losses.rtfm_loss`.
"""

from __future__ import annotations

import torch
from torch import nn

from vadlib.weak.mlp import score_head, xavier_init


class NonLocal1d(nn.Module):
    """Temporal self-attention (embedded-Gaussian non-local block with 1/N normalisation).

    The output projection ends in a BatchNorm whose weight and bias start at zero, so the block starts
    as the identity (as in the published code).
    """

    def __init__(self, channels: int, inner: int | None = None):
        super().__init__()
        inner = inner or max(1, channels // 2)
        self.g = nn.Conv1d(channels, inner, 1)
        self.theta = nn.Conv1d(channels, inner, 1)
        self.phi = nn.Conv1d(channels, inner, 1)
        self.out = nn.Sequential(nn.Conv1d(inner, channels, 1), nn.BatchNorm1d(channels))

    def reset_output(self) -> None:
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, C, T]
        g = self.g(x).transpose(1, 2)                      # [N, T, I]
        theta = self.theta(x).transpose(1, 2)              # [N, T, I]
        phi = self.phi(x)                                  # [N, I, T]
        attn = torch.matmul(theta, phi) / x.shape[-1]      # [N, T, T]
        y = torch.matmul(attn, g).transpose(1, 2)          # [N, I, T]
        return x + self.out(y)


class MultiScaleTemporalNetwork(nn.Module):
    """MTN: ``[N, T, D]`` -> ``[N, T, D]`` (pyramid of dilated convolutions + non-local, residual)."""

    def __init__(self, dim: int = 2048, hidden: int = 512):
        super().__init__()

        def dilated(d: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv1d(dim, hidden, 3, dilation=d, padding=d), nn.ReLU(), nn.BatchNorm1d(hidden))

        self.dilated = nn.ModuleList([dilated(d) for d in (1, 2, 4)])
        self.reduce = nn.Sequential(nn.Conv1d(dim, hidden, 1, bias=False), nn.ReLU())
        self.non_local = NonLocal1d(hidden)
        self.fuse = nn.Sequential(nn.Conv1d(4 * hidden, dim, 3, padding=1, bias=False), nn.ReLU(), nn.BatchNorm1d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)                              # [N, D, T]
        branches = [conv(h) for conv in self.dilated] + [self.non_local(self.reduce(h))]
        return (self.fuse(torch.cat(branches, dim=1)) + h).transpose(1, 2)


class RTFM(nn.Module):
    """``[B, T, C, D]`` -> scores ``[B, T, C]``, features ``[B, C, T, D]``, magnitudes ``[B, T]``."""

    def __init__(self, dim: int = 2048, hidden: int = 512, classifier: tuple[int, ...] = (512, 128),
                 dropout: float = 0.7):
        super().__init__()
        self.mtn = MultiScaleTemporalNetwork(dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = score_head(dim, classifier, dropout)
        xavier_init(self)
        self.mtn.non_local.reset_output()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        b, t, c, d = x.shape
        seq = x.permute(0, 2, 1, 3).reshape(b * c, t, d)
        feats = self.dropout(self.mtn(seq))                               # [B*C, T, D]
        scores = torch.sigmoid(self.classifier(feats).squeeze(-1))        # [B*C, T]
        feats = feats.reshape(b, c, t, d)
        magnitudes = feats.norm(p=2, dim=-1).mean(dim=1)                  # [B, T]
        if self.training:
            magnitudes = magnitudes * self.dropout(torch.ones_like(magnitudes))
        return {"scores": scores.reshape(b, c, t).transpose(1, 2), "features": feats, "magnitudes": magnitudes}
