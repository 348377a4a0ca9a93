"""Decoding throughput: the decode stage (decord -> resized Zarr store) against a plain OpenCV
``VideoCapture`` loop that only reads the same files (no resize, no storage).

    python bench/bench_decode.py [--videos 4] [--frames 240] [--size 240 320] [--store-size 96 128]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vadlib.data.decode import decode_to_store  # noqa: E402

from common import best_of, write_results  # noqa: E402


def make_videos(folder: Path, count: int, frames: int, size: tuple[int, int]) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"v{i}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (size[1], size[0]))
        background = cv2.GaussianBlur(rng.integers(0, 255, (*size, 3), dtype=np.uint8), (0, 0), 3)
        for t in range(frames):
            frame = background.copy()
            cv2.circle(frame, (int(10 + t * 1.3) % size[1], size[0] // 2), 12, (20, 200, 240), -1)
            writer.write(frame)
        writer.release()
        paths.append(path)
    return paths


def opencv_loop(paths: list[Path]) -> int:
    count = 0
    for path in paths:
        capture = cv2.VideoCapture(str(path))
        while capture.read()[0]:
            count += 1
        capture.release()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", type=int, nargs=2, default=[240, 320])
    parser.add_argument("--store-size", type=int, nargs=2, default=[96, 128])
    args = parser.parse_args()
    os.environ.setdefault("VADLIB_PROGRESS", "0")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = make_videos(tmp, args.videos, args.frames, tuple(args.size))
        total = args.videos * args.frames

        def stage():
            for path in paths:
                out = tmp / f"{path.stem}.zarr"
                decode_to_store(path, "video", out, size=args.store_size)
                shutil.rmtree(out)

        t_stage = best_of(stage)
        t_cv = best_of(lambda: opencv_loop(paths))
    figures = {"videos": args.videos, "frames_per_video": args.frames, "source_size": args.size,
               "store_size": args.store_size,
               "decode_stage_fps": total / t_stage, "opencv_loop_fps": total / t_cv,
               "ratio_stage_over_opencv": t_cv / t_stage}
    print(f"decode stage (decord + resize + Zarr): {figures['decode_stage_fps']:.0f} frames/s")
    print(f"plain cv2.VideoCapture loop:           {figures['opencv_loop_fps']:.0f} frames/s")
    print(f"ratio (stage / OpenCV loop):           {figures['ratio_stage_over_opencv']:.2f}x")
    write_results("decode", figures)


if __name__ == "__main__":
    main()
