"""I3D features streamed from the video (features.i3d.source): no frames store, bounded memory, and the
same features as the frames-store path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vadlib.data.decode import DecodeError, decode_to_store
from vadlib.features.extract import FrameWindow, extract_features, extract_features_from_source
from vadlib.snippets import snippet_frame_indices
from vadlib.stores import open_store

from conftest import copy_workflow, snakemake

PARAMS = {"short_side": 32, "crop": 32, "crops": 1, "batch": 2, "dtype": "float32", "tail": "slide"}
SIZE = 32                                                   # decode.size: the short side


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("VADLIB_PROGRESS", "0")
    torch.set_num_threads(1)


def smooth_frames(n: int, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, h // 8, w // 8, 3)).astype(np.uint8)
    return np.ascontiguousarray(base.repeat(8, axis=1).repeat(8, axis=2))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 75-frame MJPG video (4 snippets and 11 frames) of 48 x 64."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    frames = smooth_frames(75)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_streamed_features_equal_the_frames_store_path(video, tmp_path):
    frames = decode_to_store(video, "video", tmp_path / "frames" / "clip.zarr", size=SIZE)
    extract_features(frames, tmp_path / "from_frames.zarr", PARAMS, device="cpu")
    out = tmp_path / "streamed" / "clip.zarr"
    extract_features_from_source(video, "video", out, PARAMS, device="cpu", size=SIZE, chunk=16)
    assert sorted(p.name for p in (tmp_path / "streamed").iterdir()) == ["clip.zarr"]   # no frames store
    a, b = open_store(tmp_path / "from_frames.zarr", "features"), open_store(out, "features")
    assert b.shape == (5, 1, 2048) and b.attrs["n_frames"] == 75 and b.attrs["frames"] is None
    assert b.attrs["source"] == str(video) and b.attrs["stored_size"] == [32, 42]
    np.testing.assert_array_equal(b.read(), a.read())         # the same frames, batches and sums


def test_streamed_frame_folder_equals_its_frames_store(tmp_path):
    folder = tmp_path / "frames_dir"
    folder.mkdir()
    for t, frame in enumerate(smooth_frames(37, seed=1)):
        cv2.imwrite(str(folder / f"{t:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    params = {**PARAMS, "tail": "pad"}
    frames = decode_to_store(folder, "frames", tmp_path / "store.zarr", size=SIZE, chunk=8)
    extract_features(frames, tmp_path / "a.zarr", params, device="cpu")
    extract_features_from_source(folder, "frames", tmp_path / "b.zarr", params, device="cpu", size=SIZE, chunk=8)
    np.testing.assert_array_equal(open_store(tmp_path / "b.zarr", "features").read(),
                                  open_store(tmp_path / "a.zarr", "features").read())


def test_bad_sources_fail_naming_the_file_and_leave_no_store(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.touch()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is no video" * 64)
    for bad in (empty, junk, tmp_path / "missing.avi"):
        out = tmp_path / f"{bad.stem}.zarr"
        with pytest.raises(DecodeError, match=str(bad)):
            extract_features_from_source(bad, "video", out, PARAMS, device="cpu")
        assert not out.exists() and not list(tmp_path.glob(f".{out.name}.tmp-*"))


@pytest.mark.parametrize("tail", ["pad", "slide", "drop"])
def test_frame_window_holds_one_batch_and_one_block(tail):
    """The stream's window over 2,000 frames read as the extractor reads them (batches of 8 snippets,
    blocks of 128): right frames, and never more than 16 x 8 + 128 frames held."""
    n, batch, block = 2000, 8, 128
    frames = np.arange(n, dtype=np.int32)[:, None]
    blocks = (frames[i:i + block] for i in range(0, n, block))
    window = FrameWindow(blocks, n, "stream")
    index = snippet_frame_indices(n, tail=tail)
    held = 0
    for start in range(0, len(index), batch):
        rows = index[start:start + batch]
        lo, hi = int(rows.min()), int(rows.max()) + 1
        np.testing.assert_array_equal(window[lo:hi][:, 0], np.arange(lo, hi))
        held = max(held, len(window.buffer))
    assert held <= 16 * batch + block
    short = FrameWindow(iter([frames[:10]]), 20, "clip.avi")
    with pytest.raises(Exception, match="clip.avi: the video ended after 10 of the 20 frames"):
        short[0:16]


@pytest.mark.slow
def test_feature_only_dataset_writes_no_frames_store(tmp_path):
    """The workflow on the synthetic dataset with only the weakly supervised methods on: source auto
    streams the video (no decode job, no frames store); with reference on, frames are decoded."""
    workdir = copy_workflow(tmp_path / "wf")
    off = {m: False for m in ("reference", "luss", "memae_cvae", "stpa")}
    target = ("results/test/synthetic/features/i3d/s1_test_0000.zarr",)
    plan = snakemake(workdir, "-n", "--quiet", "rules", targets=target, config={"methods": off}).stdout
    assert "i3d" in plan and "decode" not in plan, plan
    with_frames = snakemake(workdir, "-n", "--quiet", "rules", targets=target,
                            config={"methods": {**off, "reference": True}}).stdout
    assert "decode" in with_frames, with_frames
    snakemake(workdir, targets=target, config={"methods": off})
    results = workdir / "results/test/synthetic"
    assert not (results / "frames").exists()
    store = open_store(workdir / target[0], "features", feature=2048)
    assert store.attrs["source_kind"] == "video" and store.attrs["frames"] is None
    assert store.attrs["decode_size"] == [32, 48] and store.attrs["tail"] == "pad"
