"""Memory module of the multi-layer memory-augmented autoencoder (Long et al., "Video Sequence Anomaly
Detection with Multi-Layer Memory-Augmented Autoencoder", sec. 3.1-3.2, eqs. 2-12).

Queries. A feature map ``[B, C, T, H, W]`` gives one query per spatio-temporal position: the ``K``
vectors of dimension ``C`` of a sample are the queries ``q_t^k`` of that sample (the paper's "frame"
``t`` is one clip here, since a clip is what gets one score). Queries are L2-normalised (the paper
does not say; eq. 4 is a cosine and eq. 7 keeps the slots on the unit sphere, so unit queries put both
on the same sphere, as in MNAD, whose update and losses eqs. 7-12 are). The ``N`` memory slots ``p_m``
(``m_i`` in eqs. 2-4) are unit vectors and buffers: eq. 7 moves them, not back-propagation.

Addressing (eqs. 2-6), for every query ``z``:
    d(z, m_i) = z m_i^T / (|z| |m_i|)                                                    (eq. 4)
    w_i = exp(d(z, m_i)) / sum_j exp(d(z, m_j))                                           (eq. 3)
    w^_i = max(w_i - lambda, 0) w_i / (|w_i - lambda| + eps)                              (eq. 6)
    z^ = sum_i w'_i m_i,  w' = w^ / |w^|_1                                                 (eq. 2)
Eq. 2 asks for a weight vector that is non-negative and sums to 1; the shrunk ``w^`` no longer sums
to 1, so it is L1-renormalised first (as MemAE, the paper's ref. [4], does). ``z^`` replaces ``z``.

Update (eqs. 7-9, training mode only, after the read-out, without gradients), sample by sample in
batch order (the equations update with the queries of one ``t`` at a time):
    U_m = {k : |q^k - p_m|_2 < tau}                                      (the set of sec. 3.2)
    v^{k,m} = exp(p_m^T q^k) / sum_{k'=1..K} exp(p_m^T q^{k'})                            (eq. 8)
    v^{k,m} <- v^{k,m} / max_{k' in U_m} v^{k',m}                                         (eq. 9)
    p_m <- f(p_m + sum_{k in U_m} v^{k,m} q^k),  f = L2 normalisation                     (eq. 7)
The softmax of eq. 8 runs over all ``K`` queries of the sample (the equation's sum over k' = 1..K),
the sum of eq. 7 over ``U_m`` only. The paper calls the measure of ``U_m`` a "distance" without
naming it; eqs. 10-12 measure query-slot distances with ``|.|_2``, so ``U_m`` uses the same. A query
may belong to several ``U_m`` (or to none); a slot with an empty ``U_m`` is left as it is. The paper
gives no value of tau; 0.5 by default: by the triangle inequality a query can only be in the sets of
two slots less than 2 tau = 1 apart, so slots that start as random unit vectors (about sqrt 2 apart)
are not pulled together by shared queries, and tau <= gamma keeps the sets disjoint for every query
that meets the separation margin. (On 64x64 moving-square clips at the default widths, 40 steps: with tau
= 0.5 all 10 slots of every memory stayed distinct; with tau = 1, two memories had merged 1 and 2
pairs of slots into one.) The slots start as normalised Gaussian vectors (the paper is silent).

Losses (eqs. 10-11) and index (eq. 12), with ``p`` the nearest slot of a query (sec. 3.2 says "the
nearest memory slot" for eq. 12, and eqs. 10-12 write the same ``p_p``) and ``n`` the second nearest
(the paper does not define ``p_n``; MNAD's separateness loss, which eq. 11 is, uses the second
nearest); they run over every query (the sums over t and k), not over the ``U_m``, which only the
update uses:
    zeta_compact = sum_t sum_k |q_t^k - p_p|_2                                            (eq. 10)
    zeta_sep     = sum_t sum_k [|q_t^k - p_p|_2 - |q_t^k - p_n|_2 + gamma]_+              (eq. 11)
    D(q_t, p)    = 1/K sum_k |q_t^k - p_p|_2     (per sample; not squared)                (eq. 12)
Eq. 11 is printed with square brackets; the hinge ``[.]_+`` is taken because the margin gamma has
an effect only inside one (without it the term is ``sum (d_p - d_n) + K gamma`` and gamma changes
nothing), and because the loss is MNAD's separateness loss, where the brackets are that hinge.
The module returns the sums as written and the number of queries they ran over; the autoencoder's
loss divides by it (:mod:`vadlib.oneclass.memae`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def hard_shrink_relu(w: torch.Tensor, threshold: float, eps: float = 1e-12) -> torch.Tensor:
    """Eq. 6: ``max(w - lambda, 0) * w / (|w - lambda| + eps)`` (``w`` above lambda, 0 below)."""
    return F.relu(w - threshold) * w / ((w - threshold).abs() + eps)


@dataclass
class MemoryOutput:
    """What one memory module returns besides the read-out features."""

    weights: torch.Tensor        # [K, N] addressing weights w' (eq. 2, after eq. 6 and renormalisation)
    compactness: torch.Tensor    # scalar, eq. 10: the sum over every query of the batch
    separation: torch.Tensor     # scalar, eq. 11: the sum over every query of the batch
    queries: int                 # the number of queries the two sums ran over
    index: torch.Tensor          # [B], eq. 12 per sample
    reach: torch.Tensor          # scalar, the fraction of queries within tau of at least one slot


class Memory(nn.Module):
    """``slots`` unit memory slots of dimension ``dim`` (see the module docstring).

    ``shrink_threshold`` is lambda of eq. 6, ``tau`` the radius of the sets ``U_m`` (eqs. 7-9),
    ``margin`` gamma of eq. 11.
    """

    def __init__(self, slots: int, dim: int, shrink_threshold: float, tau: float = 0.5, margin: float = 1.0,
                 eps: float = 1e-12):
        super().__init__()
        if slots < 2:
            raise ValueError(f"slots: a memory needs at least 2 (the separation loss uses the second nearest), "
                             f"got {slots}")
        if tau <= 0:
            raise ValueError(f"tau: the radius of the update sets U_m must be positive, got {tau}")
        self.slots, self.dim = int(slots), int(dim)
        self.shrink_threshold = float(shrink_threshold)
        self.tau = float(tau)
        self.margin = float(margin)
        self.eps = eps
        self.register_buffer("items", F.normalize(torch.randn(self.slots, self.dim), dim=1))

    def address(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cosine similarities ``[K, N]`` (eq. 4) and the weights ``w'`` ``[K, N]`` (eqs. 3, 6, 2)."""
        sim = F.normalize(queries, dim=1) @ self.items.t()
        w = torch.softmax(sim, dim=1)
        if self.shrink_threshold > 0:
            w = hard_shrink_relu(w, self.shrink_threshold, self.eps)
            w = w / w.sum(dim=1, keepdim=True).clamp_min(self.eps)
        return sim, w

    def members(self, queries: torch.Tensor) -> torch.Tensor:
        """``[K, N]`` bool: query ``k`` is in ``U_m`` (``|q_k - p_m|_2 < tau``), for unit queries."""
        return torch.cdist(queries, self.items, compute_mode="donot_use_mm_for_euclid_dist") < self.tau

    @torch.no_grad()
    def update(self, queries: torch.Tensor) -> None:
        """Eqs. 7-9 with the unit queries ``[K, D]`` of one sample."""
        q = F.normalize(queries.detach(), dim=1)
        member = self.members(q).to(q.dtype)                  # [K, N], U_m
        v = torch.softmax(q @ self.items.t(), dim=0)          # eq. 8: over the K queries
        v = v * member
        v_max = v.max(dim=0).values                           # max over k' in U_m (0 when U_m is empty)
        v = v / v_max.clamp_min(torch.finfo(v.dtype).tiny)    # eq. 9 (zero outside U_m)
        # eq. 7; a new tensor (not in place): this step's read-out keeps the old slots for backward
        self.items = F.normalize(self.items + v.t() @ q, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, MemoryOutput]:
        """Read ``x`` ``[B, C, ...]`` through the memory; update it (eq. 7) when training."""
        b, c = x.shape[:2]
        if c != self.dim:
            raise ValueError(f"memory of dimension {self.dim} got features with {c} channels")
        q = F.normalize(x.movedim(1, -1).reshape(-1, c), dim=1)
        sim, w = self.address(q)
        read = w @ self.items
        top2 = sim.topk(2, dim=1).indices                     # nearest and second nearest slot
        d_pos = (q - self.items[top2[:, 0]]).norm(dim=1)
        d_neg = (q - self.items[top2[:, 1]]).norm(dim=1)
        with torch.no_grad():
            reach = self.members(q).any(dim=1).to(q.dtype).mean()
        out = MemoryOutput(
            weights=w,
            compactness=d_pos.sum(),
            separation=F.relu(d_pos - d_neg + self.margin).sum(),
            queries=int(q.shape[0]),
            index=d_pos.reshape(b, -1).mean(dim=1),
            reach=reach,
        )
        if self.training:
            for sample in q.reshape(b, -1, c):
                self.update(sample)
        read = read.reshape(b, *x.shape[2:], c).movedim(-1, 1)
        return read, out
