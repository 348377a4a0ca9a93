import cv2
import numpy as np
import pytest

from vadlib.data.decode import decode_to_store, target_size
from vadlib.stores import open_store


def write_video(path, frames, fps=25):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (frames.shape[2], frames.shape[1]))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


def moving_square(n=24, h=48, w=64):
    frames = np.full((n, h, w, 3), 40, np.uint8)
    for t in range(n):
        frames[t, 10:26, 2 + t:18 + t] = (220, 60, 30)
    return frames


def test_target_size():
    assert target_size(240, 320, 256) == (256, 342)
    assert target_size(320, 240, 128) == (170, 128)
    assert target_size(240, 320, [64, 80]) == (64, 80)
    assert target_size(240, 320, None) == (240, 320)


def test_decode_video_resizes_and_records_attrs(tmp_path):
    frames = moving_square()
    write_video(tmp_path / "v.avi", frames)
    decode_to_store(tmp_path / "v.avi", "video", tmp_path / "v.zarr", size=[24, 32], chunk=8)
    store = open_store(tmp_path / "v.zarr", "frames", time=24, height=24, width=32)
    assert store.attrs["original_size"] == [48, 64] and store.attrs["stored_size"] == [24, 32]
    assert store.attrs["fps"] == pytest.approx(25.0)
    # the red square is where it was drawn (lossy codec, so a loose check)
    frame = store.read()[5].astype(int)
    assert frame[9, 6, 0] > 150 and frame[20, 28, 0] < 100


def test_decode_frame_folder(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = moving_square(n=6)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    decode_to_store(folder, "frames", tmp_path / "f.zarr", size=None, fps=10)
    store = open_store(tmp_path / "f.zarr", "frames")
    np.testing.assert_array_equal(store.read(), frames)  # png: lossless
    assert store.attrs["fps"] == 10
