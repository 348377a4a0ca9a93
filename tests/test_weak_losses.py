"""Every objective of the weakly supervised models against a value worked out by hand on a tiny input."""

from __future__ import annotations

import math

import pytest
import torch

from vadlib.weak import losses

T = torch.tensor


def test_video_bce_is_bce_of_the_mean_snippet_score():
    # video 0 (abnormal): mean of 0.2, 0.4, 0.6, 0.8 = 0.5; video 1 (normal): one valid snippet, crops 0.3 and 0.1
    scores = T([[[0.2, 0.4], [0.6, 0.8]], [[0.3, 0.1], [0.9, 0.9]]])
    loss, _ = losses.video_bce(scores, T([1, 0]), T([2, 1]))
    expected = -(math.log(0.5) + math.log(1 - 0.2)) / 2          # 0.458145
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_smoothness_and_sparsity_as_the_published_rtfm_code():
    # RTFM's train.py flattens the abnormal scores of the batch into one sequence: smooth sums the squared
    # differences across it (video boundaries included), sparsity is its L2 norm.
    s = T([[0.1, 0.4, 0.2, 0.9], [0.5, 0.3, 0.0, 0.0]])
    lengths = T([3, 2])                                   # flattened: 0.1, 0.4, 0.2 | 0.5, 0.3
    smooth = 0.3 ** 2 + 0.2 ** 2 + 0.3 ** 2 + 0.2 ** 2    # 0.26, the 0.2 -> 0.5 step crosses the boundary
    assert losses.smoothness(s, lengths).item() == pytest.approx(smooth)
    assert losses.sparsity(s, lengths).item() == pytest.approx(math.sqrt(0.01 + 0.16 + 0.04 + 0.25 + 0.09))
    # the batch-level sums are not per-video means: two copies of a video give twice the smoothness plus
    # the boundary step, and sqrt(2) times the norm
    one = T([[0.0, 1.0]])
    assert losses.smoothness(one).item() == pytest.approx(1.0)
    assert losses.smoothness(one.repeat(2, 1)).item() == pytest.approx(3.0)        # 1 + 1 (boundary) + 1
    assert losses.sparsity(one.repeat(2, 1)).item() == pytest.approx(math.sqrt(2.0))


def test_magnitude_loss():
    normal = T([[[[1.0, 0.0], [3.0, 0.0]]]])       # mean [2, 0] -> norm 2
    abnormal = T([[[[0.0, 3.0], [0.0, 5.0]]]])     # mean [0, 4] -> norm 4
    # (|10 - 4| + 2)^2 = 64
    assert losses.magnitude_loss(normal, abnormal, margin=10.0).item() == pytest.approx(64.0)


def _rtfm_batch() -> dict[str, torch.Tensor]:
    scores = T([[0.1, 0.2, 0.3, 0.1], [0.2, 0.9, 0.7, 0.2]]).unsqueeze(-1)       # [B=2, T=4, C=1]
    magnitudes = T([[1.0, 5.0, 4.0, 0.0], [0.0, 6.0, 7.0, 1.0]])                 # top-2: snippets 1, 2 in both
    feats = torch.full((2, 1, 4, 2), 9.0)
    feats[0, 0, 1], feats[0, 0, 2] = T([1.0, 0.0]), T([3.0, 0.0])
    feats[1, 0, 1], feats[1, 0, 2] = T([0.0, 3.0]), T([0.0, 5.0])
    return {"scores": scores, "features": feats, "magnitudes": magnitudes}


def test_rtfm_loss_by_hand():
    total, parts = losses.rtfm_loss(_rtfm_batch(), T([0, 1]), k=2, margin=10.0)
    bce = -(math.log(1 - 0.25) + math.log(0.8)) / 2                 # top-2 means 0.25 (normal), 0.8 (abnormal)
    smooth = 0.7 ** 2 + 0.2 ** 2 + 0.5 ** 2                          # abnormal scores only
    sparse = math.sqrt(0.2 ** 2 + 0.9 ** 2 + 0.7 ** 2 + 0.2 ** 2)    # L2 norm
    assert parts["bce"] == pytest.approx(bce, rel=1e-6)
    assert parts["magnitude"] == pytest.approx(64.0)
    assert parts["smooth"] == pytest.approx(smooth) and parts["sparsity"] == pytest.approx(sparse)
    assert total.item() == pytest.approx(bce + 1e-4 * 64 + 8e-4 * smooth + 8e-3 * sparse, rel=1e-6)  # 0.271766


def test_rtfm_loss_needs_pairs():
    batch = _rtfm_batch()
    batch = {k: torch.cat([v, v[:1]]) for k, v in batch.items()}
    with pytest.raises(ValueError, match="one to one"):
        losses.rtfm_loss(batch, T([0, 1, 0]), k=2)


def test_topk_mil_bce():
    scores = torch.full((2, 17), 0.05)
    scores[0, 3], scores[0, 9] = 0.9, 0.7            # abnormal bag of 17: k = 17 // 16 + 1 = 2 -> mean 0.8
    scores[1, :3] = T([0.1, 0.4, 0.2])               # normal bag of length 3: k = 1 -> 0.4
    scores[1, 3:] = 0.95                              # padding, ignored
    loss = losses.topk_mil_bce(scores, T([1, 0]), T([17, 3]))
    assert loss.item() == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2, rel=1e-6)     # 0.366985


def test_dynamics_ranking_loss_eqs_7_8():
    # abnormal bag of T = 17: k = floor(17 / 16 + 1) = 2; dynamics |s_t - s_t+1| = 0.8, 0.4, 0.4 and zeros
    a17 = torch.full((17,), 0.1)
    a17[3], a17[4] = 0.9, 0.5
    scores = torch.zeros(3, 17)
    scores[0] = a17
    scores[1, :3] = T([0.5, 0.5, 0.6])          # abnormal bag of T = 3: k = 1, dynamics 0, 0.1
    scores[2, :3] = T([0.2, 0.5, 0.4])          # normal bag: k = 1, dynamics 0.3, 0.1
    labels, lengths = T([1, 1, 0]), T([17, 3, 3])
    e = losses.dynamics_accumulation(scores, labels, lengths)
    # eq. 7: E = (1/k) sum of the top-k squared dynamics
    torch.testing.assert_close(e, T([(0.8 ** 2 + 0.4 ** 2) / 2, 0.1 ** 2, 0.3 ** 2]))      # 0.40, 0.01, 0.09
    # eq. 8 with zeta = 0 over the pairs (0.40, 0.09) and (0.01, 0.09): max(0, -0.31) and max(0, 0.08)
    assert losses.dynamics_ranking_loss(scores, labels, lengths).item() == pytest.approx(0.04)
    # zeta = 0.5: 0.5 - 0.40 + 0.09 = 0.19 and 0.5 - 0.01 + 0.09 = 0.58
    assert losses.dynamics_ranking_loss(scores, labels, lengths, margin=0.5).item() == pytest.approx(0.385)


def test_feature_dynamics_eq_9():
    x = T([[[1.0, 0.0], [1.0, 1.0], [-1.0, 1.0], [-2.0, 2.0]]])
    # 1 - cos: 1 - 1/sqrt(2), 1 - 0, 1 - 1 (same direction, other length)
    torch.testing.assert_close(losses.feature_dynamics(x), T([[1 - 1 / math.sqrt(2), 1.0, 0.0]]))


def test_dynamics_alignment_loss_eq_10():
    # bag 1 (3 valid snippets): delta^f = 1 - 1/sqrt(2), 1; delta^s = 0.4, 0.1
    # bag 2 (2 valid snippets): delta^f = 1; delta^s = 0.7
    feats = T([[[1.0, 0.0], [1.0, 1.0], [-1.0, 1.0], [7.0, 7.0]],
               [[1.0, 0.0], [0.0, 1.0], [3.0, 3.0], [7.0, 7.0]]])
    scores = T([[0.1, 0.5, 0.4, 0.0], [0.2, 0.9, 0.0, 0.3]])
    eps = 1e-7
    bag1 = (-0.4 * math.log(1 - 1 / math.sqrt(2) + eps) - 0.1 * math.log(1 + eps)) / 2
    bag2 = -0.7 * math.log(1 + eps) / 1
    got = losses.dynamics_alignment_loss(feats, scores, T([3, 2]), eps=eps).item()
    assert got == pytest.approx((bag1 + bag2) / 2, rel=1e-5)                            # 0.122798
    # equal lengths: exactly 1 / (N (T - 1)) times the double sum of eq. 10
    full = losses.dynamics_alignment_loss(feats[:1, :3], scores[:1, :3], eps=eps).item()
    assert full == pytest.approx(bag1, rel=1e-5)
    # the loss is the score dynamics weighted by -log of the feature dynamics: flat scores cost nothing
    assert losses.dynamics_alignment_loss(feats, torch.full((2, 4), 0.5)).item() == 0.0


def test_ddl_loss_treats_every_crop_as_a_bag():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(2, 5, 2, generator=g)                        # [B, T, C]
    feats = torch.rand(2, 5, 2, 3, generator=g)                      # [B, T, C, F]
    labels, lengths = T([1, 0]), T([5, 4])
    total, parts = losses.ddl_loss({"scores": scores, "features": feats}, labels, lengths,
                                   lambda1=2.0, lambda2=3.0)
    bags = torch.stack([scores[0, :, 0], scores[0, :, 1], scores[1, :, 0], scores[1, :, 1]])
    bag_feats = torch.stack([feats[0, :, 0], feats[0, :, 1], feats[1, :, 0], feats[1, :, 1]])
    y, ln = T([1, 1, 0, 0]), T([5, 5, 4, 4])
    mil = losses.topk_mil_bce(bags, y, ln)
    rank = losses.dynamics_ranking_loss(bags, y, ln)
    assert parts["rank"] == pytest.approx(rank.item())
    align = losses.dynamics_alignment_loss(bag_feats, bags, ln)
    assert parts["mil"] == pytest.approx(mil.item()) and parts["align"] == pytest.approx(align.item())
    assert total.item() == pytest.approx((mil + 2 * rank + 3 * align).item(), rel=1e-6)


def test_mtvae_loss_eq6():
    x_n, rec_n = T([[1.0, 2.0]]), T([[0.0, 0.0]])                    # reconstruction 1 + 4 = 5
    mu_n, lv_n = T([[1.0, 0.0]]), T([[0.0, math.log(2.0)]])          # KL = -0.5 * ((1 + 0 - 1 - 1) + (1 + ln2 - 2))
    x_a, rec_a = T([[1.0, 1.0], [3.0, 3.0]]), T([[1.0, 1.0], [1.0, 1.0]])   # per vector 0 and 8 -> mean 4
    mu_a, lv_a = torch.zeros(2, 2), torch.zeros(2, 2)                # KL = 0
    kl_n = 1 - math.log(2) / 2
    assert losses.gaussian_kl(mu_n, lv_n).item() == pytest.approx(kl_n, rel=1e-6)
    total, parts = losses.mtvae_loss((x_n, rec_n, mu_n, lv_n), (x_a, rec_a, mu_a, lv_a), alpha=0.5)
    assert parts["rec_normal"] == pytest.approx(5.0) and parts["rec_abnormal"] == pytest.approx(4.0)
    assert total.item() == pytest.approx(5.0 + 4.0 + 0.5 * kl_n, rel=1e-6)          # 9.326713
