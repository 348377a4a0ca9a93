"""LA-Net: Locality-aware Attention Network ("Locality-aware Attention Network with Discriminative
Dynamics Learning for Weakly Supervised Anomaly Detection", ICME 2022).

Structure, as the paper describes it: multi-head self-attention over the snippets whose attention map
is re-weighted by a Gaussian locality prior ``G_ij = exp(-(i - j)^2 / (2 sigma^2))``; a residual
connection and LayerNorm; an MLP of two 1x1 temporal convolutions (512 and 128 channels, GELU, dropout
0.1); and a causal temporal convolution (kernel 10, one output channel) with a sigmoid giving the
snippet scores. The DDL losses are in :mod:`vadlib.weak.losses`.

Choices where the paper is terse:

- the prior re-weights the attention map and rows are renormalised, i.e.
  ``softmax(QK^T / sqrt(d) + log G)`` -- re-weighting a softmax map by ``G`` and renormalising is
  exactly this, so it needs no extra normalisation constant;
- queries, keys and values are projected to ``hidden`` channels split over the heads and projected
  back to the feature width for the residual;
- the "feature dynamics" of the alignment loss are those of the snippet features the scores are read
  from (the MLP's output, 128 channels), so the loss shapes the representation and the scores together;
- padded snippets (videos shorter than the batch's longest) are masked out as attention keys; the
  causal convolution pads on the left only, so padding at the end never reaches a valid snippet.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vadlib.weak.mlp import xavier_init


def gaussian_log_prior(t: int, sigma: float, device: torch.device | None = None) -> torch.Tensor:
    """``log G``: ``[T, T]`` with ``-(i - j)^2 / (2 sigma^2)``."""
    idx = torch.arange(t, device=device, dtype=torch.float32)
    return -((idx[:, None] - idx[None, :]) ** 2) / (2.0 * sigma ** 2)


class LocalityAwareAttention(nn.Module):
    """Multi-head self-attention with a Gaussian locality prior on the attention map."""

    def __init__(self, dim: int, hidden: int = 512, heads: int = 4, sigma: float = 16.0):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads, self.sigma = heads, sigma
        self.q, self.k, self.v = (nn.Linear(dim, hidden) for _ in range(3))
        self.o = nn.Linear(hidden, dim)

    def attention(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """The attention maps ``[N, heads, T, T]`` (rows sum to one over valid keys)."""
        n, t, _ = x.shape
        dh = self.q.out_features // self.heads
        q = self.q(x).view(n, t, self.heads, dh).transpose(1, 2)
        k = self.k(x).view(n, t, self.heads, dh).transpose(1, 2)
        logits = q @ k.transpose(-1, -2) / math.sqrt(dh) + gaussian_log_prior(t, self.sigma, x.device)
        if valid is not None:
            logits = logits.masked_fill(~valid[:, None, None, :], float("-inf"))
        return logits.softmax(dim=-1)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        n, t, _ = x.shape
        dh = self.v.out_features // self.heads
        v = self.v(x).view(n, t, self.heads, dh).transpose(1, 2)
        out = (self.attention(x, valid) @ v).transpose(1, 2).reshape(n, t, -1)
        return self.o(out)


class LANet(nn.Module):
    """``[B, T, C, D]`` -> scores ``[B, T, C]`` and the MLP's snippet features ``[B, T, C, F]``.

    Every crop is scored as its own sequence.
    """

    def __init__(self, dim: int = 2048, hidden: int = 512, heads: int = 4, sigma: float = 16.0,
                 mlp: tuple[int, ...] = (512, 128), dropout: float = 0.1, kernel: int = 10):
        super().__init__()
        self.attn = LocalityAwareAttention(dim, hidden, heads, sigma)
        self.norm = nn.LayerNorm(dim)
        layers: list[nn.Module] = []
        width = dim
        for h in mlp:
            layers += [nn.Conv1d(width, h, 1), nn.GELU(), nn.Dropout(dropout)]
            width = h
        self.mlp = nn.Sequential(*layers)
        self.kernel = kernel
        self.causal = nn.Conv1d(width, 1, kernel)
        xavier_init(self)

    def causal_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Causal convolution ``[N, F, T] -> [N, T]``: snippet t sees snippets t - kernel + 1 .. t."""
        return self.causal(F.pad(h, (self.kernel - 1, 0))).squeeze(1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        b, t, c, d = x.shape
        seq = x.permute(0, 2, 1, 3).reshape(b * c, t, d)
        valid = None
        if lengths is not None:
            valid = torch.arange(t, device=x.device)[None, :] < lengths.to(x.device).repeat_interleave(c)[:, None]
        h = self.norm(seq + self.attn(seq, valid))                     # [N, T, D]
        h = self.mlp(h.transpose(1, 2))                                # [N, F, T]
        scores = torch.sigmoid(self.causal_logits(h)).reshape(b, c, t).transpose(1, 2)
        features = h.transpose(1, 2).reshape(b, c, t, -1).transpose(1, 2)
        return {"scores": scores, "features": features}
