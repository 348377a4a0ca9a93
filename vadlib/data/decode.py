"""Decoding: a video file or a folder of frames into a frames store (uint8 ``[T, H, W, 3]`` RGB).

Video files are read with decord when it is installed (its wheels exist for Linux x86_64 only) and
with OpenCV otherwise; both sit behind :func:`iter_video`, the one place that reads a video. Frame
folders are read in natural order and must be numbered without gaps; each image goes through
:func:`read_image`, which checks that the file is whole before OpenCV decodes it (OpenCV's JPEG reader
fills the rows of a file cut short with grey and raises nothing).

A corrupt, truncated or empty source fails with :class:`DecodeError` naming the file; the store is
written atomically, so a failure never leaves a store behind and never touches other videos' stores.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from vadlib.runtime import progress
from vadlib.stores import StoreWriter

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}

Size = int | Sequence[int] | None


class DecodeError(RuntimeError):
    """A video or frame folder cannot be decoded."""


def target_size(height: int, width: int, size: Size) -> tuple[int, int]:
    """Stored ``(H, W)`` for a source of ``height x width``.

    ``size`` is an int (the short side, aspect kept, rounded to even), ``[H, W]`` (exact) or ``None``
    (unchanged).
    """
    if size is None:
        return height, width
    if isinstance(size, int):
        scale = size / min(height, width)
        return (size, 2 * round(width * scale / 2)) if height <= width else (2 * round(height * scale / 2), size)
    h, w = (int(s) for s in size)
    return h, w


def resize(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize ``[N, H, W, C]`` uint8 frames to ``hw`` (area for shrinking, bilinear for enlarging)."""
    if frames.shape[1:3] == tuple(hw):
        return frames
    interp = cv2.INTER_AREA if hw[0] * hw[1] < frames.shape[1] * frames.shape[2] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (hw[1], hw[0]), interpolation=interp) for f in frames])


# --- images -------------------------------------------------------------------------------------

#: Leading bytes of the image formats a frame folder may hold (checked on the content, not the name).
IMAGE_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"BM": "BMP",
                    b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
_JPEG_EOI = b"\xff\xd9"
_JPEG_SOS = 0xDA
_JPEG_NO_LENGTH = {0x01, 0xD8, *range(0xD0, 0xD8)}  # TEM, SOI and RST0-7: markers without a length field


def image_format(data: bytes) -> str | None:
    """``"JPEG"``, ``"PNG"``, ``"BMP"`` or ``"TIFF"`` from the leading bytes, ``None`` for anything else."""
    return next((name for magic, name in IMAGE_SIGNATURES.items() if data.startswith(magic)), None)


def jpeg_truncation(data: bytes) -> str | None:
    """Why the JPEG stream ``data`` is cut short, or ``None`` when it is whole.

    The marker segments are walked by their lengths from SOI to the first start of scan (SOS), so the
    markers of a thumbnail inside an APP segment are skipped; the image data that follows must then be
    closed by an end-of-image marker (EOI, ``FF D9``). Entropy-coded data cannot hold ``FF D9`` (a data
    byte ``FF`` is always followed by ``00``), so a file cut anywhere after the first SOS has no EOI
    after it, whereas padding or other bytes appended after the EOI, which decoders ignore, are allowed.
    Only the header segments and the tail are looked at: about 13 us for a Ped2 frame, whose decoding
    takes about 1 ms.
    """
    pos, size = 2, len(data)
    while True:
        pos = data.find(b"\xff", pos)       # stray bytes before a marker are skipped, as libjpeg does
        while 0 <= pos < size - 1 and data[pos + 1] == 0xFF:
            pos += 1                         # fill bytes before a marker
        if pos < 0 or pos + 1 >= size:
            return "the file ends inside its header, before any image data"
        marker = data[pos + 1]
        if marker == _JPEG_SOS:
            break
        if marker == _JPEG_EOI[1]:
            return "an end-of-image marker comes before any image data"
        if marker == 0x00 or marker in _JPEG_NO_LENGTH:   # FF 00 is a stray data byte, not a marker
            pos += 2
            continue
        if pos + 4 > size:
            return "the file ends inside its header, before any image data"
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    if data.rfind(_JPEG_EOI, pos) < 0:
        return "no end-of-image marker (FF D9) after the image data"
    return None


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` of an image file (JPEG, PNG, BMP or TIFF, by content).

    Fails with :class:`DecodeError` naming the file when it is empty, is not one of those formats, is a
    JPEG cut short (:func:`jpeg_truncation`), or does not decode. The JPEG check is needed because
    OpenCV decodes a JPEG cut short without an error, the missing rows grey and a libjpeg warning on
    stderr the only trace (``imread`` and ``imdecode`` of OpenCV 4.10, ``imread`` of OpenCV 5.0; 5.0's
    ``imdecode`` refuses it). PNG, BMP and TIFF files cut short fail in OpenCV's decoders (4.10 and 5.0).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DecodeError(f"{path}: cannot read the image ({err.strerror or err})") from err
    if not data:
        raise DecodeError(f"{path}: the image file is empty (0 bytes)")
    kind = image_format(data)
    if kind is None:
        raise DecodeError(f"{path}: not a JPEG, PNG, BMP or TIFF image (the file starts with {data[:16]!r})")
    if kind == "JPEG":
        reason = jpeg_truncation(data)
        if reason:
            raise DecodeError(f"{path}: the JPEG is cut short: {reason} (truncated file?)")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as err:
        raise DecodeError(f"{path}: cannot decode the {kind} image ({err})") from err
    if image is None:
        raise DecodeError(f"{path}: cannot decode the {kind} image (corrupt or truncated file?)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# --- sources ------------------------------------------------------------------------------------


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def frame_files(folder: str | Path) -> list[Path]:
    """The image files of a frame folder in natural order; fails on an empty folder or a gap."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DecodeError(f"{folder}: no such frame folder")
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not files:
        raise DecodeError(f"{folder}: the frame folder holds no image ({sorted(IMAGE_SUFFIXES)})")
    numbers = [re.findall(r"\d+", p.stem) for p in files]
    if all(numbers):
        index = np.array([int(n[-1]) for n in numbers])
        gaps = np.nonzero(np.diff(index) != 1)[0]
        if len(gaps):
            i = gaps[0]
            raise DecodeError(f"{folder}: frame numbering has a gap after {files[i].name} "
                              f"(next is {files[i + 1].name}); {len(gaps)} gap(s) in all")
    return files


def video_info(path: str | Path) -> tuple[int, float, tuple[int, int]]:
    """``(frame count, fps, (H, W))`` from the container's metadata, without decoding every frame."""
    path = Path(path)
    if not path.is_file():
        raise DecodeError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise DecodeError(f"{path}: the video file is empty (0 bytes)")
    try:
        import decord

        try:
            reader = decord.VideoReader(str(path), num_threads=1)
        except Exception as err:  # noqa: BLE001 - decord raises its own DECORDError and RuntimeError
            if _holds_no_frame(path):
                raise DecodeError(f"{path}: the video has no readable frame "
                                  "(an empty container, or one cut short)") from err
            raise DecodeError(f"{path}: cannot open the video ({err})") from err
        height, width = reader[0].shape[:2] if len(reader) else (0, 0)
        return len(reader), float(reader.get_avg_fps()), (height, width)
    except ImportError:
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise DecodeError(f"{path}: cannot open the video") from None
        info = (int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), float(capture.get(cv2.CAP_PROP_FPS) or 25.0),
                (int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))))
        capture.release()
        return info


def _holds_no_frame(path: str | Path) -> bool:
    """Whether OpenCV opens the container but reads no frame from it (decord refuses such files with a
    filter-graph error that does not say why)."""
    capture = cv2.VideoCapture(str(path))
    empty = capture.isOpened() and not capture.read()[0]
    capture.release()
    return empty


def header_frame_count(path: str | Path) -> int:
    """The frame count the container's header announces (OpenCV), 0 when it announces none.

    Decoders re-index what they find, so a file cut short (an AVI whose tail is gone) still "has"
    fewer frames; comparing with the header is what reveals the truncation.
    """
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    return max(count, 0)


def iter_video(path: str | Path, chunk: int = 16) -> Iterator[np.ndarray]:
    """Yield blocks of at most ``chunk`` RGB frames ``[n, H, W, 3]`` of a video file, in order.

    Frames come at the source's size: decord's own scaler returns malformed frames for some target
    widths (4 channels at a width of 48), so resizing is left to OpenCV.

    Checks the number of frames decoded against the decoder's count and the container header's, so a
    truncated file fails instead of yielding a short video silently. Some containers only estimate
    their count from the duration, hence a 1% tolerance against the header.
    """
    path = Path(path)
    count, _, _ = video_info(path)
    if count == 0:
        raise DecodeError(f"{path}: the video has no frame")
    announced = header_frame_count(path)
    if announced and count < announced - max(1, int(0.01 * announced)):
        raise DecodeError(f"{path}: the header announces {announced} frames but only {count} are present "
                          "(truncated file?)")
    decoded = 0
    try:
        import decord
    except ImportError:
        decord = None
    try:
        if decord is not None:
            reader = decord.VideoReader(str(path), num_threads=1)
            for start in range(0, count, chunk):  # sequential reads: no seeking
                block = np.stack([reader.next().asnumpy() for _ in range(min(chunk, count - start))])
                decoded += len(block)
                yield block
        else:
            capture = cv2.VideoCapture(str(path))
            block: list[np.ndarray] = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                block.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                if len(block) == chunk:
                    decoded += len(block)
                    yield np.stack(block)
                    block = []
            capture.release()
            if block:
                decoded += len(block)
                yield np.stack(block)
    except DecodeError:
        raise
    except Exception as err:  # noqa: BLE001 - a decoder error mid-stream: the file is damaged
        raise DecodeError(f"{path}: decoding failed after {decoded} of {count} frames ({err})") from err
    if decoded != count:
        raise DecodeError(f"{path}: the container announces {count} frames but {decoded} could be decoded "
                          "(truncated file?)")


def iter_frame_folder(folder: str | Path, chunk: int = 16) -> Iterator[np.ndarray]:
    """Yield blocks of RGB frames of a frame folder; every image must decode and share one size."""
    files = frame_files(folder)
    shape = None
    for start in range(0, len(files), chunk):
        block = []
        for file in files[start:start + chunk]:
            image = read_image(file)
            if shape is None:
                shape = image.shape
            elif image.shape != shape:
                raise DecodeError(f"{file}: image size {image.shape[:2]} differs from the folder's {shape[:2]}")
            block.append(image)
        yield np.stack(block)


def source_info(source: str | Path, source_kind: str) -> tuple[int, float | None, tuple[int, int]]:
    """``(frame count, fps or None, (H, W))`` of a video file or frame folder."""
    if source_kind == "video":
        return video_info(source)
    if source_kind == "frames":
        files = frame_files(source)
        return len(files), None, read_image(files[0]).shape[:2]
    raise DecodeError(f"{source}: source_kind {source_kind!r} cannot be decoded (expected 'video' or 'frames')")


# --- the stage ----------------------------------------------------------------------------------


def decode_to_store(source: str | Path, source_kind: str, out_path: str | Path, size: Size = None,
                    chunk: int = 16, fps: float | None = None) -> Path:
    """Decode ``source`` into a frames store at ``out_path``, resized as ``size`` says.

    ``fps`` is used for frame folders, which carry none. Attributes: source, source_kind, fps,
    original_size and stored_size ([H, W]), frame count.
    """
    count, source_fps, (height, width) = source_info(source, source_kind)
    if count == 0:
        raise DecodeError(f"{source}: the source has no frame")
    stored = target_size(height, width, size)
    blocks = iter_video(source, chunk) if source_kind == "video" else iter_frame_folder(source, chunk)
    attrs = {"source": str(source), "source_kind": source_kind, "fps": source_fps or fps or 25.0,
             "original_size": [height, width], "stored_size": list(stored), "resize": size}
    with StoreWriter(out_path, "frames", (count, *stored, 3), "uint8", attrs, chunks=(chunk, *stored, 3)) as writer:
        start = 0
        bar = progress(None, desc=f"decode {Path(source).name}", total=count, unit="frame")
        for block in blocks:
            if start + len(block) > count:
                raise DecodeError(f"{source}: more frames than the {count} announced")
            writer.write(start, resize(block, stored))
            start += len(block)
            bar.update(len(block))
        bar.close()
    return Path(out_path)
