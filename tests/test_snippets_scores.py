import numpy as np
import pytest

from vadlib.features.importer import FeatureImportError, split_ground_truth
from vadlib.scores import ScoresError, load_scores, save_scores
from vadlib.snippets import frame_owner, frames_of_snippets, n_snippets, snippet_frame_indices, snippets_to_frames


def test_snippet_cover_pads_tail_with_last_frame():
    assert n_snippets(32) == 2 and n_snippets(33) == 3 and n_snippets(1) == 1
    idx = snippet_frame_indices(20)
    assert idx.shape == (2, 16)
    assert idx[1].tolist() == [16, 17, 18, 19] + [19] * 12


def test_snippets_to_frames_tail_and_truncation():
    np.testing.assert_array_equal(snippets_to_frames([1, 2], 20), [1] * 16 + [2] * 4)
    # floor-convention features (one snippet short): the tail takes the last snippet's score
    np.testing.assert_array_equal(snippets_to_frames([1, 2], 40), [1] * 16 + [2] * 24)
    with pytest.raises(ValueError):
        snippets_to_frames([], 5)


def test_scores_round_trip_and_checks(tmp_path):
    rows = {"a": {"v1": np.arange(3), "v2": np.ones(2)}, "b": {"v1": np.zeros(3), "v2": np.zeros(2)}}
    save_scores(tmp_path / "s.npz", rows, {"method": "m", "protocol": "weak", "pretrained": False})
    back, meta = load_scores(tmp_path / "s.npz")
    assert meta["rows"] == ["a", "b"] and meta["protocol"] == "weak"
    np.testing.assert_array_equal(back["a"]["v1"], [0, 1, 2])
    with pytest.raises(ScoresError, match="row 'a', video 'v1' contain NaN"):
        save_scores(tmp_path / "bad.npz", {"a": {"v1": np.array([np.nan])}}, {"method": "m", "protocol": "weak"})
    with pytest.raises(ScoresError, match="meta field 'protocol' is required"):
        save_scores(tmp_path / "bad.npz", rows, {"method": "m"})


# --- the tail rule (features.i3d.tail, imported.tail) ----------------------------------------------------

T = 40                                                     # 2 whole snippets and 8 frames


def test_snippet_cover_of_each_tail_rule():
    assert [n_snippets(T, tail=t) for t in ("pad", "slide", "drop")] == [3, 3, 2]
    assert [n_snippets(9, tail=t) for t in ("pad", "slide", "drop")] == [1, 1, 1]     # shorter than 16
    pad, slide, drop = (snippet_frame_indices(T, tail=t) for t in ("pad", "slide", "drop"))
    assert pad[2].tolist() == list(range(32, 40)) + [39] * 8
    assert slide[2].tolist() == list(range(24, 40))        # the last 16 frames, no frame repeated
    assert (slide[:2] == pad[:2]).all() and (drop == pad[:2]).all()
    assert snippet_frame_indices(9, tail="slide")[0].tolist() == list(range(9)) + [8] * 7
    assert snippet_frame_indices(32, tail="slide").tolist() == snippet_frame_indices(32).tolist()
    with pytest.raises(ValueError, match="features.i3d.tail must be one of"):
        n_snippets(T, tail="loop")


def test_ground_truth_and_frame_scores_follow_each_tail_rule():
    """One 40-frame video, anomalous on frames 20-25. A detector that scores each snippet by the share
    of anomalous frames it saw: every frame's score comes from a snippet that saw that frame (the last
    one that did, under slide), the frame scores have the ground truth's length under every rule, and
    the rules differ exactly where their snippets do."""
    labels = np.zeros(T, np.uint8)
    labels[20:26] = 1
    frame_scores = {}
    for tail in ("pad", "slide", "drop"):
        index = snippet_frame_indices(T, tail=tail)
        snippet_scores = labels[index].mean(axis=1)             # what the snippet saw (padding included)
        scores = snippets_to_frames(snippet_scores, T, tail=tail)
        owner = frame_owner(len(index), T, tail=tail)
        assert scores.shape == labels.shape
        np.testing.assert_array_equal(scores, snippet_scores[owner].astype(np.float32))
        for f in range(T):
            covering = [i for i in range(len(index)) if f in index[i]]
            if covering:                                    # a frame some snippet saw: the last of them
                assert owner[f] == covering[-1], (tail, f)
            else:                                           # drop's tail: the last snippet's score
                assert tail == "drop" and f >= 32 and owner[f] == len(index) - 1
        frame_scores[tail] = scores
    pad, slide, drop = frame_scores["pad"], frame_scores["slide"], frame_scores["drop"]
    assert pad[16:32].tolist() == drop[16:32].tolist() == [6 / 16] * 16     # snippet 1: frames 16..31
    assert pad[32:].tolist() == [0.0] * 8                       # frames 32..39 (+ 39 repeated): none anomalous
    assert slide[24:].tolist() == [2 / 16] * 16                 # frames 24..39: 24 and 25 anomalous
    assert drop[32:].tolist() == [6 / 16] * 8                   # no snippet saw them: snippet 1 carries on
    np.testing.assert_array_equal(pad[:24], slide[:24])
    np.testing.assert_array_equal(pad[:32], drop[:32])
    assert np.flatnonzero(pad != slide).tolist() == list(range(24, 40))
    assert np.flatnonzero(pad != drop).tolist() == list(range(32, 40))


def test_imported_ground_truth_lengths_of_each_tail_rule(tmp_path):
    """Published features of 3 snippets: a per-video ground truth of the video's true 40 frames fits
    slide (3 snippets of 33-48 frames) but not pad, whose release pads it to 48; under drop the same
    40 frames go with 2 snippets (32-47 frames)."""
    assert frames_of_snippets(3, tail="pad") == frames_of_snippets(3, tail="slide") == (33, 48)
    assert frames_of_snippets(2, tail="drop") == (32, 47) and frames_of_snippets(1, tail="drop") == (1, 31)
    gt = tmp_path / "gt.npz"
    np.savez(gt, v=np.r_[np.zeros(30), np.ones(10)])
    assert len(split_ground_truth(gt, [("v", 48)], tail="slide")["v"]) == 40
    assert len(split_ground_truth(gt, [("v", 40)], tail="slide")["v"]) == 40     # from the manifest
    assert len(split_ground_truth(gt, [("v", 32)], tail="drop")["v"]) == 40
    with pytest.raises(FeatureImportError, match="has 40 labelled frames, its features cover 48"):
        split_ground_truth(gt, [("v", 48)], tail="pad")
    with pytest.raises(FeatureImportError, match="under imported.tail slide its 2 snippets cover 17 to 32"):
        split_ground_truth(gt, [("v", 32)], tail="slide")


def test_a_weak_detectors_frame_scores_follow_the_tail_rule_of_its_features(tmp_path):
    """Scoring reads the rule from the features store (its ``tail`` attribute): features cut by ``slide``
    map the last snippet's score to the last 16 frames, those of ``pad`` to the tail only."""
    import torch

    from vadlib.stores import write_store
    from vadlib.weak.score import frame_scores

    class Identity(torch.nn.Module):  # a detector whose score is the snippet's first feature
        def forward(self, x):
            return {"scores": x[..., :1].mean(dim=2)}

    x = np.zeros((3, 1, 4), np.float32)
    x[:, 0, 0] = [0.1, 0.2, 0.9]
    for tail, expected in (("slide", [0.1] * 16 + [0.2] * 8 + [0.9] * 16),
                           ("pad", [0.1] * 16 + [0.2] * 16 + [0.9] * 8)):
        path = tmp_path / f"{tail}.zarr"
        write_store(path, "features", x, {"extractor": "x", "weights": None, "pretrained": False,
                                          "snippet_len": 16, "preprocessing": {}, "tail": tail})
        np.testing.assert_allclose(frame_scores(Identity(), path, 4, "all", T), expected, rtol=1e-6)
