"""The objectives of the weakly supervised models, as functions of tensors.

Shapes: ``scores`` are snippet scores in (0, 1); ``lengths`` give the valid snippets of each sequence
(``None``: all valid); labels are 0 (normal) / 1 (abnormal) video labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Terms = tuple[torch.Tensor, dict[str, float]]


def valid_mask(lengths: torch.Tensor | None, n: int, t: int, device: torch.device) -> torch.Tensor:
    """``[N, T]`` True where a snippet is inside its sequence."""
    if lengths is None:
        return torch.ones(n, t, dtype=torch.bool, device=device)
    return torch.arange(t, device=device)[None, :] < lengths.to(device)[:, None]


def _bce(p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(p, labels.to(p.dtype))


# ----------------------------------------------------------------------------------------------
# Baseline MLP (MT-VAE paper, sec. 3.1)
# ----------------------------------------------------------------------------------------------

def video_bce(scores: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None) -> Terms:
    """BCE of the video score = mean of the snippet scores (``[B, T, C]``, averaged over crops too)."""
    b, t, c = scores.shape
    m = valid_mask(lengths, b, t, scores.device).unsqueeze(-1).to(scores.dtype)
    video = (scores * m).sum(dim=(1, 2)) / (m.sum(dim=(1, 2)) * c)
    loss = _bce(video, labels)
    return loss, {"bce": loss.item()}


# ----------------------------------------------------------------------------------------------
# RTFM
# ----------------------------------------------------------------------------------------------

def smoothness(scores: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Temporal smoothness: per video ``sum_t (s_{t+1} - s_t)^2``, averaged over videos (``[B, T]``)."""
    b, t = scores.shape
    m = valid_mask(lengths, b, t, scores.device)
    pair = (m[:, 1:] & m[:, :-1]).to(scores.dtype)
    return (((scores[:, 1:] - scores[:, :-1]) ** 2) * pair).sum(dim=1).mean()


def sparsity(scores: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Sparsity: per video ``sum_t s_t``, averaged over videos (``[B, T]``)."""
    b, t = scores.shape
    return (scores * valid_mask(lengths, b, t, scores.device).to(scores.dtype)).sum(dim=1).mean()


def magnitude_loss(normal: torch.Tensor, abnormal: torch.Tensor, margin: float) -> torch.Tensor:
    """RTFM feature-magnitude loss on the top-k selected features ``[B, C, k, D]`` of paired videos.

    ``mean((|m - ||mean_k x+||| + ||mean_k x-||)^2)`` over (pair, crop), as the published code writes
    it. The paper states the hinge ``max(0, m - d(X+) + d(X-))``; the squared form is the one behind the
    published results and is kept, with its weight ``magnitude_weight`` (1e-4).
    """
    if normal.shape != abnormal.shape:
        raise ValueError(f"magnitude loss pairs normal and abnormal videos one to one, got "
                         f"{tuple(normal.shape)} and {tuple(abnormal.shape)}")
    a = (margin - abnormal.mean(dim=2).norm(p=2, dim=-1)).abs()
    n = normal.mean(dim=2).norm(p=2, dim=-1)
    return ((a + n) ** 2).mean()


def rtfm_loss(out: dict[str, torch.Tensor], labels: torch.Tensor, k: int = 3, margin: float = 100.0,
              magnitude_weight: float = 1e-4, smooth_weight: float = 8e-4, sparsity_weight: float = 8e-3,
              lengths: torch.Tensor | None = None) -> Terms:
    """RTFM objective on a batch of as many normal as abnormal videos.

    ``out``: the model's ``scores`` ``[B, T, C]``, ``features`` ``[B, C, T, D]`` and ``magnitudes``
    ``[B, T]``. The k snippets of largest magnitude are selected in every video; the BCE is on the mean
    crop-averaged score of those k snippets; the magnitude loss pairs the i-th normal with the i-th
    abnormal video; smoothness and sparsity act on the abnormal videos' crop-averaged scores.

    Smoothness and sparsity follow the paper's definitions per video (averaged over videos); the
    published code applies them to the batch's scores flattened into one sequence (smoothness summed
    across video boundaries, sparsity as the L2 norm).
    """
    labels = labels.to(out["scores"].device)
    scores = out["scores"].mean(dim=-1)                                        # [B, T]
    feats = out["features"]                                                   # [B, C, T, D]
    mags = out["magnitudes"]
    if lengths is not None:
        mags = mags.masked_fill(~valid_mask(lengths, *mags.shape, mags.device), -1.0)
    k = min(k, scores.shape[1])
    idx = mags.topk(k, dim=1).indices                                         # [B, k]
    cls = _bce(scores.gather(1, idx).mean(dim=1), labels)
    b, c, _, d = feats.shape
    chosen = feats.gather(2, idx[:, None, :, None].expand(b, c, k, d))       # [B, C, k, D]
    normal, abnormal = labels == 0, labels == 1
    mag = magnitude_loss(chosen[normal], chosen[abnormal], margin)
    ab_len = None if lengths is None else lengths.to(scores.device)[abnormal]
    smooth = smoothness(scores[abnormal], ab_len)
    sparse = sparsity(scores[abnormal], ab_len)
    total = cls + magnitude_weight * mag + smooth_weight * smooth + sparsity_weight * sparse
    return total, {"bce": cls.item(), "magnitude": mag.item(), "smooth": smooth.item(), "sparsity": sparse.item()}


# ----------------------------------------------------------------------------------------------
# LA-Net + DDL
# ----------------------------------------------------------------------------------------------

def topk_mil_bce(scores: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None,
                 divisor: int = 16) -> torch.Tensor:
    """Top-k MIL: BCE of the mean of the k largest scores of each bag (``[N, T]``).

    ``k = floor(T / divisor) + 1`` for abnormal bags and ``k = 1`` for normal ones, ``T`` the bag's length.
    """
    n, t = scores.shape
    m = valid_mask(lengths, n, t, scores.device)
    length = m.sum(dim=1)
    labels = labels.to(scores.device)
    k = torch.where(labels == 1, length // divisor + 1, torch.ones_like(length)).clamp(max=length)
    top = scores.masked_fill(~m, -1.0).sort(dim=1, descending=True).values
    take = (torch.arange(t, device=scores.device)[None, :] < k[:, None]).to(scores.dtype)
    return _bce((top * take).sum(dim=1) / k.to(scores.dtype), labels)


def _dynamics_mask(lengths: torch.Tensor | None, n: int, t: int, device: torch.device) -> torch.Tensor:
    m = valid_mask(lengths, n, t, device)
    return m[:, 1:] & m[:, :-1]


def score_dynamics(scores: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``|s_{t+1} - s_t|`` ``[N, T - 1]``, zero past each bag's end."""
    n, t = scores.shape
    return (scores[:, 1:] - scores[:, :-1]).abs() * _dynamics_mask(lengths, n, t, scores.device).to(scores.dtype)


def dynamics_ranking_loss(scores: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None,
                          margin: float = 0.0) -> torch.Tensor:
    """DDL dynamics ranking loss: ``mean_{i abnormal, j normal} max(0, margin - D_i + D_j)``.

    ``D`` is a bag's score dynamics, the largest ``|s_{t+1} - s_t|`` in it (the MIL ranking of the max
    score applied to the dynamics); every abnormal bag of the batch is ranked against every normal one.
    """
    labels = labels.to(scores.device)
    dyn = score_dynamics(scores, lengths)
    d = dyn.max(dim=1).values if dyn.shape[1] else torch.zeros(len(scores), device=scores.device)
    da, dn = d[labels == 1], d[labels == 0]
    if len(da) == 0 or len(dn) == 0:
        return scores.sum() * 0.0
    return F.relu(margin - da[:, None] + dn[None, :]).mean()


def dynamics_alignment_loss(features: torch.Tensor, scores: torch.Tensor, lengths: torch.Tensor | None = None,
                            eps: float = 1e-7) -> torch.Tensor:
    """DDL dynamics alignment loss: ``KL(p || q)`` per bag, averaged over bags.

    ``p = softmax_t(||x_{t+1} - x_t||_2)`` is the bag's feature dynamics and ``q = softmax_t(|s_{t+1} - s_t|)``
    its score dynamics, both over the bag's valid adjacent pairs, and
    ``KL = sum_t p_t (log(p_t + eps) - log(q_t + eps))``. ``features`` ``[N, T, F]`` are the snippet
    features the scores are computed from (LA-Net's MLP output).

    The paper names the two dynamics, the alignment and ``eps``; turning each dynamics sequence into a
    distribution with a softmax (rather than dividing by its sum) is our reading: dividing by the sum
    makes the loss explode while a bag's scores are still flat, and training then stalls.
    """
    n, t = scores.shape
    pair = _dynamics_mask(lengths, n, t, scores.device)
    fd = (features[:, 1:] - features[:, :-1]).norm(p=2, dim=-1)
    sd = (scores[:, 1:] - scores[:, :-1]).abs()
    low = torch.finfo(scores.dtype).min
    p = fd.masked_fill(~pair, low).softmax(dim=1) * pair
    q = sd.masked_fill(~pair, low).softmax(dim=1) * pair
    return (p * (torch.log(p + eps) - torch.log(q + eps))).sum(dim=1).mean()


def ddl_loss(out: dict[str, torch.Tensor], labels: torch.Tensor, lengths: torch.Tensor | None = None,
             divisor: int = 16, margin: float = 0.0, eps: float = 1e-7, lambda1: float = 1.0,
             lambda2: float = 1.0) -> Terms:
    """LA-Net objective: top-k MIL BCE + lambda1 ranking + lambda2 alignment; every crop is a bag.

    ``out``: the model's ``scores`` ``[B, T, C]`` and ``features`` ``[B, T, C, F]``.
    """
    scores, feats = out["scores"], out["features"]
    b, t, c = scores.shape
    s = scores.transpose(1, 2).reshape(b * c, t)
    feats = feats.transpose(1, 2).reshape(b * c, t, feats.shape[-1])
    y = labels.to(s.device).repeat_interleave(c)
    ln = None if lengths is None else lengths.to(s.device).repeat_interleave(c)
    mil = topk_mil_bce(s, y, ln, divisor)
    rank = dynamics_ranking_loss(s, y, ln, margin)
    align = dynamics_alignment_loss(feats, s, ln, eps)
    total = mil + lambda1 * rank + lambda2 * align
    return total, {"mil": mil.item(), "rank": rank.item(), "align": align.item()}


# ----------------------------------------------------------------------------------------------
# MT-VAE (MT-VAE paper, eq. 4-6)
# ----------------------------------------------------------------------------------------------

def reconstruction_error(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """``||x - x_hat||^2`` summed over the feature width, averaged over vectors."""
    return ((x - recon) ** 2).sum(dim=-1).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` summed over the latent, averaged over vectors."""
    return (-0.5 * (1.0 + logvar - mu ** 2 - logvar.exp()).sum(dim=-1)).mean()


def mtvae_loss(normal: tuple[torch.Tensor, ...], abnormal: tuple[torch.Tensor, ...], alpha: float) -> Terms:
    """Eq. 6: ``rec_n + rec_a + alpha (KL_n + KL_a)``.

    ``normal`` / ``abnormal``: ``(x, recon, mu, logvar)`` with ``recon`` from the decoder of the
    vectors' own class (eq. 4 and 5).
    """
    rec_n, rec_a = reconstruction_error(*normal[:2]), reconstruction_error(*abnormal[:2])
    kl_n, kl_a = gaussian_kl(*normal[2:]), gaussian_kl(*abnormal[2:])
    total = rec_n + rec_a + alpha * (kl_n + kl_a)
    return total, {"rec_normal": rec_n.item(), "rec_abnormal": rec_a.item(), "kl": (kl_n + kl_a).item()}
