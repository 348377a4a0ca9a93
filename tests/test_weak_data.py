"""Data layer of the weakly supervised detectors: resampling, sampling, bags, batches, pseudo index."""

from __future__ import annotations

import numpy as np
import pytest

from vadlib.params import ConfigError
from vadlib.stores import StoreError, write_store
from vadlib.weak.config import MLPConfig, RTFMConfig
from vadlib.weak.data import (
    BagSet,
    BatchSampler,
    PseudoEntry,
    check_labels,
    holdout,
    load_bags,
    read_features,
    read_pseudo_index,
    reduce_crops,
    resample,
    uniform_indices,
    with_pseudo,
    write_pseudo_index,
)

ATTRS = {"extractor": "synthetic", "weights": "none", "pretrained": False, "snippet_len": 16, "preprocessing": {}}


def test_linear_resampling_by_hand():
    x = np.array([0.0, 10.0, 20.0])[:, None]
    # positions 0, 2/3, 4/3, 2 -> 0, 6.667, 13.333, 20
    np.testing.assert_allclose(resample(x, 4, "linear")[:, 0], [0.0, 20 / 3, 40 / 3, 20.0], rtol=1e-6)
    # upsampling 2 -> 3 snippets: midpoint inserted
    np.testing.assert_allclose(resample(np.array([[1.0], [3.0]]), 3)[:, 0], [1.0, 2.0, 3.0])
    # keeps trailing axes (crops, dim)
    assert resample(np.zeros((5, 10, 7)), 32).shape == (32, 10, 7)


def test_mean_resampling_by_hand():
    x = np.arange(6, dtype=np.float32)[:, None]
    # bounds 0, 2, 4, 6 -> means of [0, 1], [2, 3], [4, 5]
    np.testing.assert_allclose(resample(x, 3, "mean")[:, 0], [0.5, 2.5, 4.5])
    # more segments than snippets: empty groups take the snippet at their start
    np.testing.assert_allclose(resample(np.array([[1.0], [5.0]]), 4, "mean")[:, 0], [1.0, 1.0, 5.0, 5.0])
    with pytest.raises(ValueError, match="resample mode"):
        resample(x, 3, "cubic")


def test_uniform_indices():
    np.testing.assert_array_equal(uniform_indices(5, 200), np.arange(5))
    np.testing.assert_array_equal(uniform_indices(10, 5), [0, 2, 4, 6, 8])
    rng = np.random.default_rng(0)
    idx = uniform_indices(1000, 200, rng)
    assert len(idx) == 200 and np.all(np.diff(idx) > 0)
    assert np.all(idx // 5 == np.arange(200))          # one snippet from each span of 5


def test_balanced_sampler_pairs_classes():
    labels = np.array([0] * 7 + [1] * 3)
    sampler = BatchSampler(labels, batch_size=8, balanced=True, rng=np.random.default_rng(0))
    assert sampler.half == 3 and sampler.steps_per_epoch == 3      # half-batch capped by the 3 abnormal bags
    it = iter(sampler)
    seen = []
    for _ in range(sampler.steps_per_epoch):
        batch = next(it)
        assert list(labels[batch]) == [0, 0, 0, 1, 1, 1] and len(set(batch)) == 6
        seen += list(batch[:3])
    assert sorted(seen[:7]) == list(range(7))          # the normal stream is one permutation per pass


def test_plain_sampler_covers_every_bag_each_epoch():
    sampler = BatchSampler(np.array([0, 1] * 5), batch_size=4, balanced=False, rng=np.random.default_rng(1))
    it = iter(sampler)
    epoch = np.concatenate([next(it) for _ in range(sampler.steps_per_epoch)])
    assert sorted(epoch) == list(range(10)) and sampler.steps_per_epoch == 3


def test_bags_pad_and_split_crops():
    a, b = np.ones((3, 2, 4)), 2 * np.ones((5, 2, 4))
    bags = BagSet(["a", "b"], [a, b], [0, 1], crops="each")
    assert len(bags) == 4 and list(bags.labels) == [0, 0, 1, 1]
    batch = bags.batch(np.array([1, 2]))
    assert batch.x.shape == (2, 5, 1, 4) and list(batch.lengths) == [3, 5] and list(batch.labels) == [0, 1]
    assert np.all(batch.x[0, 3:] == 0) and np.all(batch.x[0, :3] == 1)
    whole = BagSet(["a", "b"], [a, b], [0, 1], crops="all").batch(np.array([0]))
    assert whole.x.shape == (1, 3, 2, 4)


def test_holdout_is_stratified():
    videos = [f"v{i}" for i in range(15)]
    labels = {v: int(i >= 10) for i, v in enumerate(videos)}
    train, val = holdout(videos, labels, 0.2, np.random.default_rng(0))
    assert sorted(train + val) == sorted(videos)
    assert sum(labels[v] == 0 for v in val) == 2 and sum(labels[v] == 1 for v in val) == 1


def test_loading_checks_the_feature_width(tmp_path):
    path = write_store(tmp_path / "v.zarr", "features", np.zeros((4, 2, 8), np.float16), ATTRS)
    assert read_features(path, 8).dtype == np.float32
    with pytest.raises(StoreError, match=r"v\.zarr: axis 'feature' has size 8, expected 16"):
        read_features(path, 16)
    bags = load_bags({"v": str(path)}, {"v": 0}, 8, "all", segments=6)
    assert bags.arrays[0].shape == (6, 2, 8)
    assert load_bags({"v": str(path)}, {"v": 0}, 8, "mean", max_snippets=3).arrays[0].shape == (3, 1, 8)


def test_reduce_crops():
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    np.testing.assert_array_equal(reduce_crops(x, "mean")[:, 0], [[2.0, 3.0], [8.0, 9.0]])
    assert reduce_crops(x, "each") is x
    with pytest.raises(ValueError, match="crops must be one of"):
        reduce_crops(x, "centre")


def test_label_checks():
    with pytest.raises(ValueError, match="videos without a label"):
        check_labels({"a": "x", "b": "y"}, {"a": 0})
    with pytest.raises(ValueError, match="needs normal and abnormal"):
        check_labels({"a": "x"}, {"a": 0})


def test_pseudo_index_round_trip(tmp_path):
    entries = [PseudoEntry("a__pa0", 1, "a", "pseudo_abnormal", str(tmp_path / "p" / "a__pa0.zarr")),
               PseudoEntry("b__pn0", 0, "b", "pseudo_normal", str(tmp_path / "p" / "b__pn0.zarr"))]
    write_pseudo_index(tmp_path / "index.csv", entries)
    assert "p/a__pa0.zarr" in (tmp_path / "index.csv").read_text()        # stored relative to the index
    back = read_pseudo_index(tmp_path / "index.csv")
    assert [e.name for e in back] == ["a__pa0", "b__pn0"] and back[0].path == str(tmp_path / "p" / "a__pa0.zarr")
    feats, labels = with_pseudo({"a": "A", "b": "B"}, {"a": 0, "b": 1}, str(tmp_path / "index.csv"), {"b"})
    assert labels == {"a": 0, "b": 1, "a__pa0": 1}


def test_config_rejects_unknown_keys_and_keeps_paper_defaults():
    with pytest.raises(ConfigError, match="mlp.epoch"):
        MLPConfig.from_params({"epoch": 3})
    cfg = RTFMConfig.from_params({"seed": 3})
    assert (cfg.k, cfg.margin, cfg.smooth_weight, cfg.sparsity_weight, cfg.weight_decay, cfg.segments) == \
        (3, 100.0, 8e-4, 8e-3, 5e-3, 32)
    assert MLPConfig.from_params({"hidden": [8]}).hidden == (8,)
