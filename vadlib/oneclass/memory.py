"""Memory module of the multi-level memory-augmented autoencoder.

Queries are the feature vectors at every spatio-temporal position of a level (``[B, C, T, H, W]`` gives
``K = B*T*H*W`` queries of dimension ``C``), L2-normalised; the ``M`` memory items are unit vectors.

Reading (MemAE addressing):
    cosine similarity  d(q_k, p_m) = q_k . p_m / (|q_k| |p_m|)
    weights            w_km = softmax_m d(q_k, p_m)
    hard shrinkage     w^_km = max(w_km - lambda, 0) w_km / (|w_km - lambda| + eps)     (eq. 6, ReLU form)
                       then L1 re-normalisation w^_k / |w^_k|_1
    read-out           q^_k = sum_m w^_km p_m (replaces the query)

Update (eq. 7-9; performed in training mode after reading, without gradients):
    v_km = softmax over the queries k of (p_m . q_k)                                       (eq. 7)
    p_m <- f(p_m + sum_{k in U_m} v'_km q_k),  f = L2 normalisation                         (eq. 8)
    v'_km = v_km / max_{k' in U_m} v_k'm                                                    (eq. 9)
with U_m the queries whose nearest item is m. The items are therefore buffers, not parameters.

Losses (the mean over the K queries; the equations sum, the mean keeps the weights independent of
the resolution and batch):
    compactness  L_c = mean_k |q_k - p_p(k)|_2                                              (eq. 10)
    separation   L_s = mean_k [ |q_k - p_p(k)|_2 - |q_k - p_n(k)|_2 + alpha ]_+             (eq. 11)
with p the nearest and n the second nearest item. The feature compactness index of a sample is
    D = 1/K sum_k |q_k - p_p(k)|_2^2                                                       (eq. 12)
over its own queries, used as an anomaly score component.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def hard_shrink_relu(w: torch.Tensor, threshold: float, eps: float = 1e-12) -> torch.Tensor:
    """Eq. 6: ``max(w - lambda, 0) * w / (|w - lambda| + eps)`` (``w`` ~ ``w`` above, 0 below)."""
    return F.relu(w - threshold) * w / ((w - threshold).abs() + eps)


@dataclass
class MemoryOutput:
    """What one memory module returns besides the read-out features."""

    weights: torch.Tensor        # [K, M] addressing weights after shrinkage
    compactness: torch.Tensor    # scalar, eq. 10
    separation: torch.Tensor     # scalar, eq. 11
    index: torch.Tensor          # [B], eq. 12 per sample


class Memory(nn.Module):
    """``slots`` unit memory items of dimension ``dim`` (see the module docstring)."""

    def __init__(self, slots: int, dim: int, shrink_threshold: float, margin: float = 1.0, eps: float = 1e-12):
        super().__init__()
        if slots < 2:
            raise ValueError(f"a memory needs at least 2 slots (the separation loss uses the second nearest), got {slots}")
        self.slots, self.dim = int(slots), int(dim)
        self.shrink_threshold = float(shrink_threshold)
        self.margin = float(margin)
        self.eps = eps
        self.register_buffer("items", F.normalize(torch.randn(self.slots, self.dim), dim=1))

    def address(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cosine similarities ``[K, M]`` and the shrunk, re-normalised weights ``[K, M]``."""
        sim = F.normalize(queries, dim=1) @ self.items.t()
        w = torch.softmax(sim, dim=1)
        if self.shrink_threshold > 0:
            w = hard_shrink_relu(w, self.shrink_threshold, self.eps)
            w = w / w.sum(dim=1, keepdim=True).clamp_min(self.eps)
        return sim, w

    @torch.no_grad()
    def update(self, queries: torch.Tensor) -> None:
        """Eq. 7-9 with unit queries ``[K, D]``."""
        q = F.normalize(queries.detach(), dim=1)
        scores = q @ self.items.t()                           # [K, M]
        nearest = scores.argmax(dim=1)                        # U_m membership
        v = torch.softmax(scores, dim=0)                      # eq. 7: over the queries
        member = F.one_hot(nearest, self.slots).to(v.dtype)   # [K, M]
        v = v * member
        v_max = v.max(dim=0).values                           # max over k' in U_m
        v_prime = v / v_max.clamp_min(torch.finfo(v.dtype).tiny)   # eq. 9 (zero outside U_m)
        # eq. 8; a new tensor (not in place): the read-out of this step keeps the old items for backward
        self.items = F.normalize(self.items + v_prime.t() @ q, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, MemoryOutput]:
        """Read ``x`` ``[B, C, ...]`` through the memory; update it when training."""
        b, c = x.shape[:2]
        if c != self.dim:
            raise ValueError(f"memory of dimension {self.dim} got features with {c} channels")
        queries = x.movedim(1, -1).reshape(-1, c)
        q = F.normalize(queries, dim=1)
        sim, w = self.address(q)
        read = w @ self.items
        top2 = sim.topk(2, dim=1).indices
        nearest, second = self.items[top2[:, 0]], self.items[top2[:, 1]]
        d_pos = (q - nearest).norm(dim=1)
        d_neg = (q - second).norm(dim=1)
        out = MemoryOutput(
            weights=w,
            compactness=d_pos.mean(),
            separation=F.relu(d_pos - d_neg + self.margin).mean(),
            index=(d_pos ** 2).reshape(b, -1).mean(dim=1),
        )
        if self.training:
            self.update(q)
        read = read.reshape(b, *x.shape[2:], c).movedim(-1, 1)
        return read, out
