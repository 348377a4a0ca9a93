"""LA-Net: Locality-aware Attention Network ("Locality-aware Attention Network with Discriminative
Dynamics Learning for Weakly Supervised Anomaly Detection", Pu and Wu, ICME 2022).

The network as the paper writes it (sec. 2.2-2.3):

- eq. 1: per head ``k``, ``A_ij = exp(R_k(x_i, x_j)) / sum_n exp(R_k(x_i, x_n))`` with the kernel
  ``R_k(x_i, x_j) = phi(x_i)^T psi(x_j)``, two linear maps of the snippets -- a softmax with no
  ``1 / sqrt(d)`` scaling;
- eq. 2: the location prior ``G_ij = exp(-|i - j|^2 / (2 sigma))`` (``2 sigma``, not ``2 sigma^2``:
  at sigma 16 a snippet's prior falls to 1/e at 5.7 snippets);
- eq. 3: ``A~ = A + G``, the prior *added* to the normalised map (rows of ``A~`` are not renormalised);
- eq. 4: ``X~ = Norm(stack(A~ X W_k) W_h + X)``, ``W_k: D -> D_h / k`` per head, ``W_h: D_h -> D``,
  ``Norm`` a LayerNorm;
- eq. 5: a two-layer MLP of 1x1 temporal convolutions (512 and 128 channels, GELU, dropout 0.1), then
  a causal temporal convolution of kernel ``K`` (10 on UCF-Crime, 5 on XD-Violence) and a sigmoid.

The DDL losses are in :mod:`vadlib.weak.losses`.

Choices where the paper is silent or ambiguous, each written down:

- ``phi`` and ``psi`` map to ``D_h / k`` channels per head, the width the paper gives ``W_k``; the
  paper does not give their width. All linear maps have a bias.
- eq. 5 calls the score layer both "1x1" and "with kernel size K"; it is read as a causal convolution
  of kernel ``K`` (snippet t sees snippets t - K + 1 .. t), padded on the left.
- "dropout ... between each layer" is read as dropout after each of the two MLP layers, i.e. also
  between the MLP and the score layer.
- padded snippets (bags shorter than the batch's longest) are masked out as keys: they get no weight
  in ``A`` and their column of ``G`` is zero, so padding never reaches a valid snippet; the causal
  convolution pads on the left only, so padding at the end never reaches a valid snippet either.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vadlib.weak.mlp import xavier_init


def gaussian_prior(t: int, sigma: float, device: torch.device | None = None) -> torch.Tensor:
    """Eq. 2: ``G`` ``[T, T]`` with ``G_ij = exp(-|i - j|^2 / (2 sigma))``."""
    idx = torch.arange(t, device=device, dtype=torch.float32)
    return torch.exp(-((idx[:, None] - idx[None, :]) ** 2) / (2.0 * sigma))


class LocalityAwareAttention(nn.Module):
    """Eqs. 1-3 and the attention part of eq. 4: ``stack_k(A~_k X W_k) W_h`` (``prior=False``: ``A``)."""

    def __init__(self, dim: int, hidden: int = 512, heads: int = 4, sigma: float = 16.0, prior: bool = True):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads, self.sigma, self.prior = heads, sigma, prior
        self.phi, self.psi, self.w_k = (nn.Linear(dim, hidden) for _ in range(3))
        self.w_h = nn.Linear(hidden, dim)

    def _heads(self, proj: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        return proj(x).view(n, t, self.heads, -1).transpose(1, 2)          # [N, heads, T, D_h / k]

    def attention(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``A~ = A + G`` ``[N, heads, T, T]``: the softmax map of eq. 1 plus the prior of eq. 2."""
        t = x.shape[1]
        logits = self._heads(self.phi, x) @ self._heads(self.psi, x).transpose(-1, -2)
        if valid is not None:
            logits = logits.masked_fill(~valid[:, None, None, :], float("-inf"))
        maps = logits.softmax(dim=-1)
        if not self.prior:
            return maps
        g = gaussian_prior(t, self.sigma, x.device).to(maps.dtype)
        if valid is not None:
            return maps + g * valid[:, None, None, :].to(maps.dtype)
        return maps + g

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        n, t, _ = x.shape
        out = (self.attention(x, valid) @ self._heads(self.w_k, x)).transpose(1, 2).reshape(n, t, -1)
        return self.w_h(out)


class LANet(nn.Module):
    """``[B, T, C, D]`` -> scores ``[B, T, C]`` and the MLP's snippet features ``[B, T, C, F]``.

    Every crop is scored as its own sequence. ``prior=False`` drops ``G`` (the paper's ablation
    "LA-Net w/o prior", Table 3).
    """

    def __init__(self, dim: int = 2048, hidden: int = 512, heads: int = 4, sigma: float = 16.0,
                 mlp: tuple[int, ...] = (512, 128), dropout: float = 0.1, kernel: int = 10, prior: bool = True):
        super().__init__()
        self.attn = LocalityAwareAttention(dim, hidden, heads, sigma, prior)
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
