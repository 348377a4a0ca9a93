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


def test_smoothness_and_sparsity():
    s = T([[0.1, 0.4, 0.2, 0.9]])
    assert losses.smoothness(s, T([3])).item() == pytest.approx(0.3 ** 2 + 0.2 ** 2)   # 0.13, padding ignored
    assert losses.sparsity(s, T([3])).item() == pytest.approx(0.7)
    two = T([[0.0, 1.0], [0.5, 0.5]])
    assert losses.smoothness(two).item() == pytest.approx(0.5)        # mean over videos of 1 and 0


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
    sparse = 0.2 + 0.9 + 0.7 + 0.2
    assert parts["bce"] == pytest.approx(bce, rel=1e-6)
    assert parts["magnitude"] == pytest.approx(64.0)
    assert parts["smooth"] == pytest.approx(smooth) and parts["sparsity"] == pytest.approx(sparse)
    assert total.item() == pytest.approx(bce + 1e-4 * 64 + 8e-4 * smooth + 8e-3 * sparse, rel=1e-6)  # 0.278437


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


def test_dynamics_ranking_loss():
    scores = T([[0.1, 0.8, 0.7], [0.5, 0.5, 0.6], [0.2, 0.5, 0.4]])      # dynamics 0.7, 0.1 (abnormal), 0.3 (normal)
    labels = T([1, 1, 0])
    assert losses.dynamics_ranking_loss(scores, labels).item() == pytest.approx((0.0 + 0.2) / 2)
    assert losses.dynamics_ranking_loss(scores, labels, margin=0.5).item() == pytest.approx((0.1 + 0.7) / 2)


def test_dynamics_alignment_loss():
    feats = T([[[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [7.0, 7.0]]])    # feature dynamics 5, 0 (last pair padded)
    scores = T([[0.1, 0.5, 0.4, 0.0]])                                # score dynamics 0.4, 0.1
    p = [math.exp(5) / (math.exp(5) + 1), 1 / (math.exp(5) + 1)]
    q = [math.exp(0.4) / (math.exp(0.4) + math.exp(0.1)), math.exp(0.1) / (math.exp(0.4) + math.exp(0.1))]
    expected = sum(a * (math.log(a + 1e-7) - math.log(b + 1e-7)) for a, b in zip(p, q))     # 0.516184
    assert losses.dynamics_alignment_loss(feats, scores, T([3])).item() == pytest.approx(expected, rel=1e-5)
    # identical profiles align perfectly
    assert losses.dynamics_alignment_loss(feats[:, :3], T([[0.0, 5.0, 5.0]])).item() == pytest.approx(0.0, abs=1e-6)


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
