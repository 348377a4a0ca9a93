"""Memory module on a tiny memory (3 slots, 2-d) with known similarities: addressing, hard shrinkage,
the update of eq. 7-9, the losses of eq. 10-11 and the compactness index of eq. 12."""

import math

import pytest
import torch

from vadlib.oneclass.memory import Memory, hard_shrink_relu

E = math.e


def tiny_memory(threshold: float = 0.1) -> Memory:
    mem = Memory(slots=3, dim=2, shrink_threshold=threshold)
    mem.items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    return mem.eval()


def test_hard_shrinkage_relu_form():
    w = torch.tensor([0.5, 0.3, 0.2])
    out = hard_shrink_relu(w, 0.25)
    assert out.tolist() == pytest.approx([0.5, 0.3, 0.0], abs=1e-6)
    # exactly at the threshold the weight is dropped
    assert hard_shrink_relu(torch.tensor([0.25]), 0.25).item() == 0.0


def test_addressing_softmax_shrinkage_and_read():
    mem = tiny_memory(threshold=0.1)
    q = torch.tensor([[1.0, 0.0]])
    sim, w = mem.address(q)
    assert sim.tolist()[0] == pytest.approx([1.0, 0.0, -1.0])
    # softmax([1, 0, -1]) = [0.665, 0.245, 0.090]; the last is below 0.1 -> 0; L1 renormalised
    assert w.tolist()[0] == pytest.approx([E / (E + 1), 1 / (E + 1), 0.0], rel=1e-5)
    x = q.view(1, 2, 1, 1, 1)                      # [B, C, T, H, W] with one position
    read, _ = mem(x)
    assert read.shape == x.shape
    assert read.flatten().tolist() == pytest.approx([E / (E + 1), 1 / (E + 1)], rel=1e-5)


def test_no_shrinkage_keeps_the_softmax():
    mem = tiny_memory(threshold=0.0)
    _, w = mem.address(torch.tensor([[2.0, 0.0]]))   # cosine ignores the norm of the query
    z = E + 1 + 1 / E
    assert w.tolist()[0] == pytest.approx([E / z, 1 / z, 1 / (E * z)], rel=1e-5)


def test_losses_and_compactness_index():
    mem = tiny_memory()
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8]]).t().reshape(1, 2, 1, 1, 2)   # two positions of one sample
    _, out = mem(x)
    # query 1 sits on item 1 (distance 0; second nearest at sqrt(2): no separation loss)
    # query 2: nearest item 2 at sqrt(0.4), second item 1 at sqrt(0.8)
    d_pos = [0.0, math.sqrt(0.4)]
    sep = [max(0.0, 0.0 - math.sqrt(2) + 1.0), math.sqrt(0.4) - math.sqrt(0.8) + 1.0]
    assert out.compactness.item() == pytest.approx(sum(d_pos) / 2, rel=1e-5)
    assert out.separation.item() == pytest.approx(sum(sep) / 2, rel=1e-5)
    assert out.index.tolist() == pytest.approx([(0.0 + 0.4) / 2], rel=1e-5)


def test_update_eq_7_to_9_one_query_per_item():
    mem = tiny_memory()
    mem.update(torch.tensor([[1.0, 0.0], [0.6, 0.8]]))
    # each item's only query has v' = 1: p <- normalise(p + q)
    assert mem.items[0].tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    assert mem.items[1].tolist() == pytest.approx([0.6 / math.sqrt(3.6), 1.8 / math.sqrt(3.6)], rel=1e-5)
    assert mem.items[2].tolist() == pytest.approx([-1.0, 0.0], abs=1e-6)   # no query: unchanged


def test_update_weights_queries_by_their_share_of_the_softmax():
    mem = tiny_memory()
    mem.update(torch.tensor([[1.0, 0.0], [0.8, 0.6]]))
    # both queries belong to item 1; softmax over the queries of [1, 0.8], divided by its max -> [1, e^-0.2]
    v2 = math.exp(-0.2)
    new = [1 + 1 + v2 * 0.8, v2 * 0.6]
    norm = math.hypot(*new)
    assert mem.items[0].tolist() == pytest.approx([new[0] / norm, new[1] / norm], rel=1e-5)
    assert mem.items[1].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)


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
    with pytest.raises(ValueError, match="at least 2 slots"):
        Memory(1, 4, 0.1)
    with pytest.raises(ValueError, match="channels"):
        Memory(3, 4, 0.1)(torch.zeros(1, 5, 1, 1, 1))
