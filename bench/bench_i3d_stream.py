"""Memory and disk of I3D extraction on a long video: streamed from the video (features.i3d.source:
video) against the frames-store path (decode to ``frames/{video}.zarr``, then extract).

Each path runs in its own process, which reports its peak resident memory (``VmHWM``), the same after
building the network (the baseline of imports and weights), its wall time and the bytes it left on
disk. The streamed path also runs on a video a quarter as long: a bounded extractor has the same peak
on both. Disk figures are scaled to an hour of 25 fps video; the frames store at the default
``decode.size`` (256) is measured on a separate 1,000-frame video of the same content.

    python bench/bench_i3d_stream.py                         # 20,000 frames of 320 x 240, CPU, a few minutes
    python bench/bench_i3d_stream.py --frames 90000 --decode-size 256 --short-side 256 --crop 224 \\
        --crops 10 --device cuda                             # an hour of video at the papers' sizes

Writes ``bench/results/i3d_stream.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import code_state, write_results  # noqa: E402

FPS = 25
HOUR = 3600 * FPS


def make_video(path: Path, n_frames: int, height: int = 240, width: int = 320) -> Path:
    """An MPEG-4 video of a textured background panning under moving blobs (compresses like footage,
    unlike noise)."""
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 256, (height // 8, 2 * width // 8, 3), dtype=np.uint8),
                         (2 * width, height), interpolation=cv2.INTER_CUBIC)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
    for t in range(n_frames):
        x = (t * 2) % width
        frame = np.ascontiguousarray(texture[:, x:x + width])
        cv2.circle(frame, ((t * 3) % width, height // 2), 20, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class RssTrace:
    """Resident memory sampled every ``every`` seconds in a daemon thread (is it flat, or growing?)."""

    def __init__(self, every: float = 2.0):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(rss_mb())

    def __enter__(self) -> RssTrace:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def deciles(self) -> list[float]:
        """The RSS at 10 %, 20 %, ..., 100 % of the run."""
        if not self.samples:
            return []
        n = len(self.samples)
        return [round(self.samples[min(n - 1, int(n * k / 10) - 1 if k else 0)], 1) for k in range(1, 11)]


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) if Path(path).exists() else 0


def child(args: argparse.Namespace) -> None:
    """One extraction in this process; prints its figures as JSON."""
    os.environ["VADLIB_PROGRESS"] = "0"
    import torch

    torch.set_num_threads(args.threads)
    from vadlib.data.decode import decode_to_store
    from vadlib.features.extract import extract_features, extract_features_from_source, get_extractor

    params = {"short_side": args.short_side, "crop": args.crop, "crops": args.crops, "batch": args.batch,
              "tail": args.tail}
    get_extractor(params, args.device)                     # build (and cache) the network first
    baseline = peak_rss_mb()
    work = Path(args.work)
    start = time.perf_counter()
    frames_bytes = 0
    with RssTrace() as trace:
        if args.child == "stream":
            extract_features_from_source(args.video, "video", work / "features.zarr", params, args.device,
                                         size=args.decode_size, chunk=16)
        else:
            frames = decode_to_store(args.video, "video", work / "frames.zarr", size=args.decode_size, chunk=16)
            decoded = time.perf_counter() - start
            frames_bytes = tree_bytes(frames)
            extract_features(frames, work / "features.zarr", params, args.device)
    wall = time.perf_counter() - start
    out = {"peak_rss_mb": round(peak_rss_mb(), 1), "baseline_rss_mb": round(baseline, 1), "wall_s": round(wall, 1),
           "rss_deciles_mb": trace.deciles(), "features_bytes": tree_bytes(work / "features.zarr"),
           "frames_bytes": frames_bytes, "frames_store_left": (work / "frames.zarr").exists()}
    if args.child == "frames":
        out["decode_s"] = round(decoded, 1)
    print(json.dumps(out))


def run_child(mode: str, video: Path, args: argparse.Namespace, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", mode, "--video", str(video), "--work", str(work),
           "--decode-size", str(args.decode_size), "--short-side", str(args.short_side),
           "--crop", str(args.crop), "--crops", str(args.crops), "--batch", str(args.batch), "--tail", args.tail,
           "--device", args.device, "--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=20_000, help="frames of the long video (25 fps)")
    ap.add_argument("--decode-size", type=int, default=40, help="decode.size (short side) of both paths")
    ap.add_argument("--short-side", type=int, default=40)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--crops", type=int, default=1, choices=(1, 5, 10))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tail", default="slide", choices=("pad", "slide", "drop"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", choices=("stream", "frames"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--video", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    with tempfile.TemporaryDirectory(prefix="bench_i3d_stream_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        long_video = make_video(tmp / "long.mp4", args.frames)
        short_video = make_video(tmp / "short.mp4", args.frames // 4)
        sample = make_video(tmp / "sample.mp4", 1000)
        made = time.perf_counter() - t0
        print(f"videos written in {made:.0f} s ({long_video.stat().st_size / 1e6:.1f} MB for {args.frames} frames)")
        runs = {"stream_long": run_child("stream", long_video, args, tmp / "stream_long"),
                "stream_short": run_child("stream", short_video, args, tmp / "stream_short"),
                "frames_long": run_child("frames", long_video, args, tmp / "frames_long")}
        for name, figures in runs.items():
            print(name, figures)
        from vadlib.data.decode import decode_to_store

        default_store = decode_to_store(sample, "video", tmp / "sample.zarr", size=256, chunk=16)
        default_frames_per_hour = tree_bytes(default_store) * HOUR / 1000
        video_bytes = long_video.stat().st_size

    per_hour = HOUR / args.frames
    stream, frames = runs["stream_long"], runs["frames_long"]
    figures = {
        "settings": {"frames": args.frames, "video_size": [240, 320], "fps": FPS, "decode_size": args.decode_size,
                     "short_side": args.short_side, "crop": args.crop, "crops": args.crops, "batch": args.batch,
                     "tail": args.tail, "device": args.device, "torch_threads": args.threads},
        "code": code_state(),
        "runs": runs,
        "per_hour_of_video": {
            "source_video_gb": round(video_bytes * per_hour / 1e9, 3),
            "stream": {"peak_rss_mb": stream["peak_rss_mb"],
                       "disk_gb": round(stream["features_bytes"] * per_hour / 1e9, 3), "frames_store_gb": 0.0},
            "frames_store_path": {"peak_rss_mb": frames["peak_rss_mb"],
                                  "disk_gb": round((frames["features_bytes"] + frames["frames_bytes"])
                                                   * per_hour / 1e9, 3),
                                  "frames_store_gb": round(frames["frames_bytes"] * per_hour / 1e9, 3),
                                  "frames_store_gb_at_decode_size_256": round(default_frames_per_hour / 1e9, 2)},
            "features_gb_at_10_crops_float16": round(-(-HOUR // 16) * 10 * 2048 * 2 / 1e9, 3),
        },
        "stream_peak_growth_mb": round(stream["peak_rss_mb"] - runs["stream_short"]["peak_rss_mb"], 1),
    }
    print(json.dumps(figures["per_hour_of_video"], indent=2))
    print(f"streamed peak RSS: {stream['peak_rss_mb']} MB on {args.frames} frames, "
          f"{runs['stream_short']['peak_rss_mb']} MB on {args.frames // 4} (growth "
          f"{figures['stream_peak_growth_mb']} MB)")
    write_results("i3d_stream", figures)


if __name__ == "__main__":
    main()
