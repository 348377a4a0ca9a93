"""Memory module on a tiny memory (3 slots, 2-d) with known similarities, every value computed by hand
from the paper's equations: addressing with hard shrinkage (eqs. 2-6), the sets U_m of radius tau and
the update (eqs. 7-9), the losses (eqs. 10-11) and the compactness index (eq. 12)."""

import math

import pytest
import torch

from vadlib.oneclass.memory import Memory, hard_shrink_relu

E = math.e


def tiny_memory(threshold: float = 0.1, tau: float = 1.0) -> Memory:
    mem = Memory(slots=3, dim=2, shrink_threshold=threshold, tau=tau)
    mem.items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    return mem.eval()


def positions(*queries) -> torch.Tensor:
    """One sample ``[1, 2, 1, 1, K]`` whose K positions hold ``queries``."""
    return torch.tensor(queries).t().reshape(1, 2, 1, 1, len(queries))


def test_hard_shrinkage_relu_form():
    w = torch.tensor([0.5, 0.3, 0.2])
    out = hard_shrink_relu(w, 0.25)
    assert out.tolist() == pytest.approx([0.5, 0.3, 0.0], abs=1e-6)
    # exactly at the threshold the weight is dropped (eq. 5: kept only when w > lambda)
    assert hard_shrink_relu(torch.tensor([0.25]), 0.25).item() == 0.0


def test_addressing_softmax_shrinkage_and_read():
    mem = tiny_memory(threshold=0.1)
    q = torch.tensor([[1.0, 0.0]])
    sim, w = mem.address(q)
    assert sim.tolist()[0] == pytest.approx([1.0, 0.0, -1.0])          # eq. 4
    # eq. 3: softmax([1, 0, -1]) = [0.665, 0.245, 0.090]; eq. 6: the last is below 0.1 -> 0;
    # eq. 2's weights sum to 1: L1 renormalised
    assert w.tolist()[0] == pytest.approx([E / (E + 1), 1 / (E + 1), 0.0], rel=1e-5)
    x = q.view(1, 2, 1, 1, 1)                      # [B, C, T, H, W] with one position
    read, _ = mem(x)
    assert read.shape == x.shape
    assert read.flatten().tolist() == pytest.approx([E / (E + 1), 1 / (E + 1)], rel=1e-5)


def test_no_shrinkage_keeps_the_softmax():
    mem = tiny_memory(threshold=0.0)
    _, w = mem.address(torch.tensor([[2.0, 0.0]]))   # eq. 4 is a cosine: the norm of the query is ignored
    z = E + 1 + 1 / E
    assert w.tolist()[0] == pytest.approx([E / z, 1 / z, 1 / (E * z)], rel=1e-5)


def test_losses_and_compactness_index_as_written():
    mem = tiny_memory()
    _, out = mem(positions([1.0, 0.0], [0.6, 0.8]))
    # query 1 sits on slot 1 (distance 0; second nearest slot 2 at sqrt(2): hinge inactive)
    # query 2: nearest slot 2 at sqrt(0.4), second nearest slot 1 at sqrt(0.8)
    d_pos = [0.0, math.sqrt(0.4)]
    sep = [max(0.0, 0.0 - math.sqrt(2) + 1.0), math.sqrt(0.4) - math.sqrt(0.8) + 1.0]
    assert out.queries == 2
    assert out.compactness.item() == pytest.approx(sum(d_pos), rel=1e-5)      # eq. 10: a sum
    assert out.separation.item() == pytest.approx(sum(sep), rel=1e-5)         # eq. 11: a sum of hinges
    # eq. 12: 1/K sum_k |q_k - p_p|_2, the distance itself (not squared)
    assert out.index.tolist() == pytest.approx([(0.0 + math.sqrt(0.4)) / 2], rel=1e-5)


def test_index_is_per_sample():
    mem = tiny_memory()
    x = torch.tensor([[[0.6, 0.8]], [[0.0, -1.0]]]).permute(0, 2, 1).reshape(2, 2, 1, 1, 1)
    _, out = mem(x)
    # sample 1: nearest slot 2 at sqrt(0.4); sample 2 ([0, -1]): nearest slots 1 and 3 at sqrt(2)
    assert out.index.tolist() == pytest.approx([math.sqrt(0.4), math.sqrt(2)], rel=1e-5)


def test_update_sets_are_the_queries_closer_than_tau():
    mem = tiny_memory(tau=1.0)
    q = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # distances: query 1 -> slots (0, sqrt 2, 2); query 2 -> (sqrt 0.8 = 0.89, sqrt 0.4 = 0.63, sqrt 3.2)
    assert mem.members(q).tolist() == [[True, False, False], [True, True, False]]
    # "less than tau": with tau = 2, query 1 (exactly 2 away from slot 3) is not in U_3
    assert tiny_memory(tau=2.0).members(q[:1]).tolist() == [[True, True, False]]


def test_update_eq_7_to_9_with_tau():
    """Query 2 is within tau = 1 of slot 1 although its nearest slot is 2: it updates both."""
    mem = tiny_memory(tau=1.0)
    mem.update(torch.tensor([[1.0, 0.0], [0.6, 0.8]]))
    # slot 1: U = {1, 2}; eq. 8 then eq. 9: v_k = exp(p.q_k) / max_{k' in U} exp(p.q_k') = [1, e^(0.6 - 1)]
    v2 = math.exp(0.6 - 1.0)
    new1 = [1.0 + 1.0 + v2 * 0.6, 0.0 + v2 * 0.8]
    n1 = math.hypot(*new1)
    assert mem.items[0].tolist() == pytest.approx([new1[0] / n1, new1[1] / n1], rel=1e-5)
    # slot 2: U = {2}, v = 1: p <- f(p + q)
    assert mem.items[1].tolist() == pytest.approx([0.6 / math.sqrt(3.6), 1.8 / math.sqrt(3.6)], rel=1e-5)
    assert mem.items[2].tolist() == pytest.approx([-1.0, 0.0], abs=1e-6)   # U empty: unchanged


def test_update_with_a_small_tau_leaves_far_slots_alone():
    mem = tiny_memory(tau=0.5)
    mem.update(torch.tensor([[1.0, 0.0], [0.6, 0.8]]))
    # U_1 = {1}: p1 <- f(p1 + q1) = p1; query 2 is 0.63 from slot 2 > 0.5: U_2 empty
    assert mem.items.flatten().tolist() == pytest.approx([1.0, 0.0, 0.0, 1.0, -1.0, 0.0], abs=1e-6)


def test_update_weights_by_eq_8_and_9():
    mem = tiny_memory(tau=1.0)
    mem.update(torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, -1.0]]))
    # slot 1: U = {1, 2} (query 3 is sqrt 2 away); eq. 8's softmax runs over all three queries, but
    # eq. 9 divides by its maximum over U, so v = [1, e^(0.8 - 1)] and query 3 adds nothing
    v2 = math.exp(-0.2)
    new = [1 + 1 + v2 * 0.8, v2 * 0.6]
    norm = math.hypot(*new)
    assert mem.items[0].tolist() == pytest.approx([new[0] / norm, new[1] / norm], rel=1e-5)
    # slot 2: query 2 is sqrt(0.8) away: U = {2}; slot 3: none within 1
    assert mem.items[1].tolist() == pytest.approx([0.8 / math.sqrt(3.2), 1.6 / math.sqrt(3.2)], rel=1e-5)
    assert mem.items[2].tolist() == pytest.approx([-1.0, 0.0], abs=1e-6)


def test_training_forward_updates_sample_by_sample():
    """Eqs. 7-9 take the queries of one t at a time: the second sample meets the slots the first moved."""
    mem = tiny_memory(tau=1.0).train()
    x = torch.tensor([[0.6, 0.8], [1.0, 0.0]]).reshape(2, 2, 1, 1, 1)
    mem(x)
    # sample 1, q = [0.6, 0.8]: within 1 of slots 1 and 2 -> p1 = [2, 1]/sqrt 5, p2 = [1, 3]/sqrt 10
    p1 = [2 / math.sqrt(5), 1 / math.sqrt(5)]
    # sample 2, q = [1, 0]: 0.46 from the new p1, 1.17 from the new p2, 2 from p3 -> only p1 moves
    new = [p1[0] + 1.0, p1[1]]
    norm = math.hypot(*new)
    assert mem.items[0].tolist() == pytest.approx([new[0] / norm, new[1] / norm], rel=1e-5)
    assert mem.items[1].tolist() == pytest.approx([1 / math.sqrt(10), 3 / math.sqrt(10)], rel=1e-5)
    assert mem.items[2].tolist() == pytest.approx([-1.0, 0.0], abs=1e-6)


def test_reach_counts_queries_inside_some_update_set():
    _, out = tiny_memory(tau=0.5)(positions([1.0, 0.0], [0.6, 0.8]))
    assert out.reach.item() == pytest.approx(0.5)


def test_memory_updates_only_in_training_and_keeps_backward_valid():
    mem = tiny_memory()
    x = torch.tensor([[0.6, 0.8]]).t().reshape(1, 2, 1, 1, 1).requires_grad_()
    before = mem.items.clone()
    mem.eval()(x)
    assert torch.equal(mem.items, before)
    read, out = mem.train()(x)
    assert not torch.equal(mem.items, before)
    (read.sum() + out.compactness).backward()      # the update must not break the graph
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert "items" in mem.state_dict()


def test_memory_checks():
    with pytest.raises(ValueError, match="slots"):
        Memory(1, 4, 0.1)
    with pytest.raises(ValueError, match="tau"):
        Memory(3, 4, 0.1, tau=0.0)
    with pytest.raises(ValueError, match="channels"):
        Memory(3, 4, 0.1)(torch.zeros(1, 5, 1, 1, 1))
