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

def _flat_valid(scores: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """The valid scores of ``[B, T]`` concatenated video after video into one sequence."""
    b, t = scores.shape
    return scores[valid_mask(lengths, b, t, scores.device)]


def smoothness(scores: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """RTFM's temporal smoothness as its published code computes it: ``sum_i (f_{i+1} - f_i)^2`` over the
    abnormal videos' scores ``[B, T]`` flattened into one sequence (so also across video boundaries)."""
    flat = _flat_valid(scores, lengths)
    return ((flat[1:] - flat[:-1]) ** 2).sum()


def sparsity(scores: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """RTFM's sparsity as its published code computes it: the L2 norm ``||f||_2`` of the abnormal
    videos' scores ``[B, T]`` flattened into one vector."""
    return _flat_valid(scores, lengths).norm(p=2)


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

    Smoothness and sparsity are those of the published code (:func:`smoothness`, :func:`sparsity`):
    on the batch's abnormal scores flattened into one sequence, the smoothness summed across video
    boundaries and the sparsity as an L2 norm. The MIL ranking loss the two terms come from (Sultani et
    al., CVPR 2018) defines both per video (a sum of squared differences and a sum of scores); the
    published code's form is the one behind RTFM's published results.
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

def _topk_count(labels: torch.Tensor, length: torch.Tensor, divisor: int) -> torch.Tensor:
    """``k = floor(T / divisor + 1)`` for abnormal bags and 1 for normal ones (``T`` the bag's length)."""
    return torch.minimum(torch.where(labels == 1, length // divisor + 1, torch.ones_like(length)), length.clamp(min=1))


def topk_mil_bce(scores: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None,
                 divisor: int = 16) -> torch.Tensor:
    """Top-k MIL (eq. 6): BCE of the mean of the k largest scores of each bag (``[N, T]``).

    ``k = floor(T / divisor) + 1`` for abnormal bags and ``k = 1`` for normal ones, ``T`` the bag's length.
    Eq. 6 prints only the positive term ``-y_i log(p_i)``, which gives normal bags no loss at all; the
    binary cross-entropy of the works the paper follows ([12, 13, 17]) is used.
    """
    n, t = scores.shape
    m = valid_mask(lengths, n, t, scores.device)
    length = m.sum(dim=1)
    labels = labels.to(scores.device)
    k = _topk_count(labels, length, divisor)
    top = scores.masked_fill(~m, -1.0).sort(dim=1, descending=True).values
    take = (torch.arange(t, device=scores.device)[None, :] < k[:, None]).to(scores.dtype)
    return _bce((top * take).sum(dim=1) / k.to(scores.dtype), labels)


def _dynamics_mask(lengths: torch.Tensor | None, n: int, t: int, device: torch.device) -> torch.Tensor:
    m = valid_mask(lengths, n, t, device)
    return m[:, 1:] & m[:, :-1]


def score_dynamics(scores: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``delta^s_t = |s_t - s_{t+1}|`` ``[N, T - 1]``, zero past each bag's end."""
    n, t = scores.shape
    return (scores[:, 1:] - scores[:, :-1]).abs() * _dynamics_mask(lengths, n, t, scores.device).to(scores.dtype)


def feature_dynamics(features: torch.Tensor) -> torch.Tensor:
    """Eq. 9: ``delta^f_t = 1 - x_t . x_{t+1} / (||x_t|| ||x_{t+1}||)`` ``[N, T - 1]`` of ``[N, T, F]``.

    A zero vector has no direction; its cosine is taken as 0 (``F.cosine_similarity``'s convention,
    norms clamped at 1e-8), so its dynamics is 1.
    """
    cos = F.cosine_similarity(features[:, 1:], features[:, :-1], dim=-1, eps=1e-8)
    return (1.0 - cos).clamp(min=0.0, max=2.0)     # rounding can put |cos| a little above 1


def dynamics_accumulation(scores: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None,
                          divisor: int = 16) -> torch.Tensor:
    """Eq. 7: ``E = (1 / k) sum_{top-k} |delta^s_t|^2`` per bag ``[N]``, ``k`` as for the MIL loss
    (``floor(T / 16 + 1)`` for abnormal bags, 1 for normal ones; at most the bag's ``T - 1`` dynamics)."""
    n, t = scores.shape
    if t < 2:
        return scores.sum(dim=1) * 0.0
    pair = _dynamics_mask(lengths, n, t, scores.device)
    sq = score_dynamics(scores, lengths) ** 2
    length = valid_mask(lengths, n, t, scores.device).sum(dim=1)
    k = torch.minimum(_topk_count(labels.to(scores.device), length, divisor), pair.sum(dim=1).clamp(min=1))
    top = sq.masked_fill(~pair, -1.0).sort(dim=1, descending=True).values
    take = (torch.arange(t - 1, device=scores.device)[None, :] < k[:, None]) & (top >= 0)
    return (top * take.to(top.dtype)).sum(dim=1) / k.to(top.dtype)


def dynamics_ranking_loss(scores: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None,
                          margin: float = 0.0, divisor: int = 16) -> torch.Tensor:
    """Eq. 8: ``max(0, zeta - E^a + E^n)``, averaged over every (abnormal, normal) pair of bags.

    ``E`` is eq. 7's accumulation (:func:`dynamics_accumulation`). The paper writes the hinge for "a
    positive and a negative bag" without saying how bags are paired in a batch; every abnormal bag of
    the batch is ranked against every normal one.
    """
    labels = labels.to(scores.device)
    e = dynamics_accumulation(scores, labels, lengths, divisor)
    ea, en = e[labels == 1], e[labels == 0]
    if len(ea) == 0 or len(en) == 0:
        return scores.sum() * 0.0
    return F.relu(margin - ea[:, None] + en[None, :]).mean()


def dynamics_alignment_loss(features: torch.Tensor, scores: torch.Tensor, lengths: torch.Tensor | None = None,
                            eps: float = 1e-7) -> torch.Tensor:
    """Eq. 10: ``1 / (N (T - 1)) sum_i sum_t -delta^s_t log(delta^f_t + eps)``.

    ``delta^s`` are the bag's score dynamics, ``delta^f`` its feature dynamics (eq. 9) of the snippet
    features the scores are computed from (LA-Net's MLP output, ``[N, T, F]``). With bags of unequal
    length each bag's sum is divided by its own ``T_i - 1`` valid pairs before the mean over the ``N``
    bags; with equal lengths this is eq. 10 exactly.
    """
    n, t = scores.shape
    if t < 2:
        return scores.sum() * 0.0
    pair = _dynamics_mask(lengths, n, t, scores.device).to(scores.dtype)
    terms = -score_dynamics(scores, lengths) * torch.log(feature_dynamics(features) + eps) * pair
    return (terms.sum(dim=1) / pair.sum(dim=1).clamp(min=1.0)).mean()


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
    rank = dynamics_ranking_loss(s, y, ln, margin, divisor)
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
