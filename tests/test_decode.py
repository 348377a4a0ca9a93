import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from vadlib.data.decode import (
    DecodeError,
    decode_to_store,
    iter_frame_folder,
    jpeg_truncation,
    read_image,
    source_info,
    target_size,
)
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
    store = open_store(tmp_path / "v.zarr", "frames", time=24, y=24, x=32)
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


# --- frame images: whole, cut short, empty, not an image ---------------------------------------------

PED2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ped2"      # ../shared from the project root
PED2_FRAME = PED2 / "testing" / "frames" / "01" / "000.jpg"


def textured_frame(h=96, w=128, seed=0):
    """Smooth noise with a bright square: a photo-like frame whose JPEG has a long entropy-coded part."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    frame = cv2.GaussianBlur(noise, (0, 0), 2)
    frame[20:50, 30:70] = (230, 200, 40)
    return frame


def jpeg_bytes(frame, quality=95):
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def scan_start(data):
    """Offset of the start-of-scan marker (OpenCV's JPEGs are baseline, one scan, and carry no thumbnail,
    so the first FF DA is it)."""
    return data.index(b"\xff\xda")


def read_image_of(data, path):
    path.write_bytes(data)
    return read_image(path)


def test_whole_jpeg_decodes_as_opencv_does(tmp_path):
    frame = textured_frame()
    data = jpeg_bytes(frame)
    path = tmp_path / "000.jpg"
    path.write_bytes(data)
    expected = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(read_image(path), expected)
    assert jpeg_truncation(data) is None
    # bytes after the end-of-image marker (padding, appended metadata) are ignored by decoders: allowed
    for tail in (bytes(64), b"\xff" * 3, b"trailing bytes"):
        path.write_bytes(data + tail)
        np.testing.assert_array_equal(read_image(path), expected)


def test_truncated_jpeg_fails_naming_the_file(tmp_path):
    data = jpeg_bytes(textured_frame())
    sos = scan_start(data)
    assert b"\xff\x00" in data[sos:]        # the image data holds stuffed FF bytes, as real frames do
    path = tmp_path / "007.jpg"
    # inside the header, just after the scan header, in the middle, and one or two bytes short
    for cut in (3, sos // 2, sos + 20, len(data) // 2, len(data) - 2, len(data) - 1):
        path.write_bytes(data[:cut])
        where = "before any image data" if cut < sos else r"no end-of-image marker \(FF D9\) after the image data"
        with pytest.raises(DecodeError, match=rf"{re.escape(str(path))}: the JPEG is cut short: .*{where}"):
            read_image(path)
    # a file cut short and zero-filled to its full size (what a crash during writing can leave)
    path.write_bytes(data[:len(data) // 2] + bytes(len(data) - len(data) // 2))
    with pytest.raises(DecodeError, match=rf"{re.escape(str(path))}: the JPEG is cut short"):
        read_image(path)


def test_truncated_jpeg_with_a_thumbnail_in_its_header(tmp_path):
    """A thumbnail (a whole JPEG, with its own scan and FF D9) inside an APP segment: a file cut right
    after it ends with FF D9, yet holds none of the main image's data."""
    main, thumbnail = jpeg_bytes(textured_frame()), jpeg_bytes(textured_frame(16, 16, seed=1))
    segment = b"\xff\xef" + (2 + len(thumbnail)).to_bytes(2, "big") + thumbnail      # APP15
    data = main[:2] + segment + main[2:]
    path = tmp_path / "000.jpg"
    path.write_bytes(data)
    np.testing.assert_array_equal(read_image(path), read_image_of(main, tmp_path / "plain.jpg"))
    cut = 2 + len(segment)
    assert data[:cut].endswith(b"\xff\xd9") and b"\xff\xda" in data[:cut]
    path.write_bytes(data[:cut])
    with pytest.raises(DecodeError, match=rf"{re.escape(str(path))}: the JPEG is cut short: the file ends "
                                          r"inside its header, before any image data"):
        read_image(path)


@pytest.mark.parametrize("suffix, params", [(".png", []), (".bmp", []), (".tif", []),
                                            (".tif", [cv2.IMWRITE_TIFF_COMPRESSION, 1])],
                         ids=["png", "bmp", "tiff-lzw", "tiff-raw"])
def test_truncated_png_bmp_tiff_fail_naming_the_file(tmp_path, suffix, params):
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(textured_frame(), cv2.COLOR_RGB2BGR), params)
    data = encoded.tobytes()
    path = tmp_path / f"003{suffix}"
    np.testing.assert_array_equal(read_image_of(data, path), textured_frame())    # lossless formats
    for cut in (len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(DecodeError, match=rf"{re.escape(str(path))}: cannot decode the (PNG|BMP|TIFF) image"):
            read_image(path)


def test_empty_and_non_image_files_fail_naming_the_file(tmp_path):
    empty = tmp_path / "001.jpg"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match=rf"{re.escape(str(empty))}: the image file is empty \(0 bytes\)"):
        read_image(empty)
    pointer = tmp_path / "002.png"       # e.g. a Git LFS pointer checked out in place of the image
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 24038\n")
    with pytest.raises(DecodeError, match=rf"{re.escape(str(pointer))}: not a JPEG, PNG, BMP or TIFF image "
                                          r"\(the file starts with b'version https://'\)"):
        read_image(pointer)
    header_only = tmp_path / "003.jpg"   # the JPEG signature and nothing decodable after it
    header_only.write_bytes(b"\xff\xd8\xff\xe0" + bytes(60))
    with pytest.raises(DecodeError, match=rf"{re.escape(str(header_only))}: the JPEG is cut short"):
        read_image(header_only)


@pytest.mark.skipif(not PED2_FRAME.is_file(), reason="UCSD Ped2 frames not present under ../shared")
def test_truncated_ped2_frame(tmp_path):
    frames = sorted(PED2.glob("*ing/frames/*/*.jpg"))
    assert len(frames) > 4000 and all(jpeg_truncation(f.read_bytes()) is None for f in frames)  # no false alarm
    data = PED2_FRAME.read_bytes()
    assert read_image(PED2_FRAME).shape == (240, 360, 3)
    path = tmp_path / "000.jpg"
    path.write_bytes(data[:3000])        # OpenCV's imread decodes this, its bottom rows flat grey
    with pytest.raises(DecodeError, match=rf"{re.escape(str(path))}: the JPEG is cut short: no end-of-image"):
        read_image(path)


def test_frame_folder_with_a_truncated_frame_fails_at_that_frame(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(5):
        data = jpeg_bytes(textured_frame(seed=i))
        (folder / f"{i:03d}.jpg").write_bytes(data if i != 3 else data[:len(data) // 2])
    with pytest.raises(DecodeError, match=rf"{re.escape(str(folder / '003.jpg'))}: the JPEG is cut short"):
        list(iter_frame_folder(folder, chunk=2))
    (folder / "000.jpg").write_bytes(b"")          # the first frame is read for the folder's size
    with pytest.raises(DecodeError, match=rf"{re.escape(str(folder / '000.jpg'))}: the image file is empty"):
        source_info(folder, "frames")
