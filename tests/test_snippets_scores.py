import numpy as np
import pytest

from vadlib.scores import ScoresError, load_scores, save_scores
from vadlib.snippets import n_snippets, snippet_frame_indices, snippets_to_frames


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
