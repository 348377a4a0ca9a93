"""Prepare ``bench/gpu_payload/``: what :mod:`bench_gpu` needs on a GPU machine that only the working tree
reaches (no package index, no ``../shared``).

The folder holds

- ``wheels/``: the wheels of the packages the bench imports that the device machine lacks (pytorchvideo
  and its pure-Python needs fvcore, iopath, yacs, termcolor, parameterized; zarr with donfig, numcodecs
  and google-crc32c; diffusers with importlib-metadata and lazy-importer), at the versions of this
  checkout's virtualenv. Sdists are built into pure-Python wheels here; numcodecs and google-crc32c
  are the CPython 3.12 manylinux x86-64 builds. ``bench_gpu.py --payload`` installs the ones whose
  module is missing with ``pip install --no-deps --no-index --target`` into a temporary directory.
- ``ped2.npz``: UCSD Ped2 (16 training and 12 test videos, 4,560 frames) made for the one-class stage.
  It differs from the JPEG frames of ``../shared/data/ped2`` in three ways: every frame is resized to
  256 x 256 (``cv2.INTER_AREA``; the one-class models' input size, where the pipeline stores 384 x 256 and
  resizes when it reads), kept as one grey channel (the source's three channels are identical) and
  re-encoded as JPEG at quality 85 (mean absolute difference to the resized source about 1.2 grey
  levels). Arrays: ``jpeg`` (the encoded frames, concatenated), ``offsets`` ([frames + 1]),
  ``videos``, ``splits`` and ``counts`` (per video), ``labels`` (the test frames' labels, concatenated
  in video order) and ``meta`` (JSON).
- ``tvl1_opencv.npz`` + ``tvl1_opencv.json``: OpenCV's Dual TV-L1 (opencv-contrib) run on this machine's
  CPU on the frame pairs that the TV-L1 stage scores (rendered by :func:`vadlib.flow.synthetic.moving_figures`):
  the pairs (uint8), OpenCV's flows and the true flows (int16 in 1/64 px), and pairs/s with one thread
  and with every core. The device machine has no ``cv2.optflow``; the bench reads this as its baseline.
- ``manifest.json``: the wheels (file, distribution, module), the sizes, and the machine that made it.

    python bench/gpu_payload.py                          # -> bench/gpu_payload/ (about 58 MiB)
    python bench/gpu_payload.py --skip-ped2 --skip-opencv

The folder is ignored by git; the device call carries it (``carry: ["bench/gpu_payload"]``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import cpu_name  # noqa: E402

DEFAULT_OUT = ROOT / "bench" / "gpu_payload"
DEFAULT_PED2 = ROOT.parent / "shared" / "data" / "ped2"

#: (distribution, import name, binary) of the packages the bench needs and the device machine lacks.
WHEELS: tuple[tuple[str, str, bool], ...] = (
    ("pytorchvideo", "pytorchvideo", False),
    ("fvcore", "fvcore", False),
    ("iopath", "iopath", False),
    ("yacs", "yacs", False),
    ("termcolor", "termcolor", False),
    ("parameterized", "parameterized", False),
    ("zarr", "zarr", False),
    ("donfig", "donfig", False),
    ("numcodecs", "numcodecs", True),
    ("google-crc32c", "google_crc32c", True),
    ("diffusers", "diffusers", False),
    ("importlib-metadata", "importlib_metadata", False),
    ("lazy-importer", "lazy_importer", False),
)
#: The device machine's interpreter, for the binary wheels.
PLATFORM_ARGS = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                 "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                 "--platform", "manylinux2014_x86_64"]

PED2_SIZE = 256
JPEG_QUALITY = 85

#: The pairs of the TV-L1 stage: (height, width, pairs OpenCV is timed and scored on, seed).
TVL1_SIZES = ((256, 256, 4, 0), (480, 640, 2, 0))
FLOW_QUANTUM = 64  # flows stored as int16 in 1/64 px


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, stdout=subprocess.DEVNULL)


def fetch_wheels(folder: Path) -> list[dict]:
    """Download (or build) one wheel per entry of :data:`WHEELS` at this virtualenv's version."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for dist, module, binary in WHEELS:
        version = metadata.version(dist)
        with tempfile.TemporaryDirectory() as tmp:
            spec = f"{dist}=={version}"
            if binary:
                pip("download", "-q", "--no-deps", *PLATFORM_ARGS, "-d", tmp, spec)
            else:
                pip("download", "-q", "--no-deps", "-d", tmp, spec)
                for sdist in list(Path(tmp).glob("*.tar.gz")) + list(Path(tmp).glob("*.zip")):
                    pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp, str(sdist))
                    sdist.unlink()
            wheel = next(Path(tmp).glob("*.whl"))
            shutil.copy2(wheel, folder / wheel.name)
        rows.append({"wheel": wheel.name, "distribution": dist, "version": version, "module": module,
                     "bytes": (folder / wheel.name).stat().st_size})
        print(f"  {wheel.name} ({rows[-1]['bytes'] / 2**20:.2f} MiB)")
    return rows


def pack_ped2(root: Path, out: Path, quality: int = JPEG_QUALITY, size: int = PED2_SIZE) -> dict:
    """``ped2.npz`` (see the module docstring) from the frame folders and labels under ``root``."""
    import cv2

    from vadlib.data.decode import frame_files

    chunks, offsets, videos, splits, counts = [], [0], [], [], []
    error_sum, n_frames = 0.0, 0
    for split, folder in (("train", root / "training" / "frames"), ("test", root / "testing" / "frames")):
        for video_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = frame_files(video_dir)
            for path in files:
                image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
                small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
                ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
                if not ok:
                    raise RuntimeError(f"{path}: JPEG encoding failed")
                if n_frames % 50 == 0:
                    error_sum += float(np.abs(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float64)
                                              - small).mean())
                chunks.append(data.reshape(-1))
                offsets.append(offsets[-1] + data.size)
                n_frames += 1
            videos.append(f"{split}_{video_dir.name}")
            splits.append(split)
            counts.append(len(files))
    labels = np.load(root / "frame_labels_ped2.npy").reshape(-1).astype(np.uint8)
    test_frames = sum(c for c, s in zip(counts, splits) if s == "test")
    if labels.size != test_frames:
        raise ValueError(f"{root}: {labels.size} frame labels for {test_frames} test frames")
    meta = {"source": str(root), "size": [size, size], "channels": 1, "jpeg_quality": quality,
            "resize": "cv2.INTER_AREA from 240x360", "frames": n_frames,
            "mean_abs_error_vs_resized_source": round(error_sum / max(1, -(-n_frames // 50)), 3),
            "differs_from_source": "resized to 256x256, one grey channel (the source's three are equal), "
                                   f"re-encoded as JPEG quality {quality}"}
    path = out / "ped2.npz"
    np.savez(path, jpeg=np.concatenate(chunks), offsets=np.asarray(offsets, np.int64),
             videos=np.asarray(videos), splits=np.asarray(splits), counts=np.asarray(counts, np.int64),
             labels=labels, meta=np.asarray(json.dumps(meta)))
    print(f"  ped2.npz: {len(videos)} videos, {n_frames} frames, {path.stat().st_size / 2**20:.1f} MiB")
    return {**meta, "bytes": path.stat().st_size}


def tvl1_pairs(height: int, width: int, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frames ``[pairs + 1, H, W]`` and true flows of the TV-L1 stage's scored pairs."""
    from vadlib.flow.synthetic import moving_figures

    video, truth = moving_figures(height, width, pairs + 1, seed=seed, figures=4)
    return np.clip(np.round(video), 0, 255).astype(np.uint8), truth


def opencv_rates(gray: np.ndarray, threads: int, params=None) -> tuple[float, np.ndarray]:
    """Pairs/s of OpenCV's Dual TV-L1 (``params``: a :class:`TVL1Params`, OpenCV's defaults when None)
    over consecutive pairs of ``gray`` with ``threads`` threads, and the flows."""
    import cv2

    from vadlib.flow.tvl1_opencv import opencv_tvl1

    previous = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        op = opencv_tvl1(params)
        op.calc(gray[0], gray[1], None)  # warm-up (allocations)
        start = time.perf_counter()
        flows = np.stack([op.calc(gray[i], gray[i + 1], None) for i in range(len(gray) - 1)])
        seconds = time.perf_counter() - start
    finally:
        cv2.setNumThreads(previous)
    return (len(gray) - 1) / seconds, flows


def opencv_baseline(sizes=TVL1_SIZES, params=None) -> tuple[dict, dict]:
    """The OpenCV side of the TV-L1 stage on this machine: (JSON record, arrays for the npz);
    ``params``: a :class:`TVL1Params`, OpenCV's defaults when None (as the bench's full run)."""
    import cv2

    from vadlib.flow.synthetic import end_point_error
    from vadlib.flow.tvl1_params import TVL1Params

    record = {"machine": {"host": platform.node(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
                          "cv2": cv2.__version__, "python": platform.python_version(),
                          "load_average_1min": os.getloadavg()[0]},
              "parameters": (params or TVL1Params()).as_dict(), "flow_quantum_px": 1.0 / FLOW_QUANTUM, "sizes": {}}
    arrays = {}
    for height, width, pairs, seed in sizes:
        key = f"{height}x{width}"
        gray, truth = tvl1_pairs(height, width, pairs, seed)
        single, flows = opencv_rates(gray, 1, params)
        cores = os.cpu_count() or 1
        multi, _ = opencv_rates(gray, cores, params)
        record["sizes"][key] = {"pairs": pairs, "seed": seed, "pairs_per_s_1_thread": single,
                                f"pairs_per_s_{cores}_threads": multi, "pairs_per_s_all_cores": multi,
                                "threads_all_cores": cores,
                                "epe_opencv_vs_truth": end_point_error(flows, truth)}
        arrays[f"{key}/frames"] = gray
        arrays[f"{key}/opencv"] = np.round(flows * FLOW_QUANTUM).astype(np.int16)
        arrays[f"{key}/truth"] = np.round(truth * FLOW_QUANTUM).astype(np.int16)
        print(f"  OpenCV TV-L1 {key}: {single:.3f} pairs/s (1 thread), {multi:.3f} pairs/s ({cores} threads)")
    return record, arrays


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--ped2", type=Path, default=DEFAULT_PED2, help="UCSD Ped2 in the frame-folder layout")
    ap.add_argument("--quality", type=int, default=JPEG_QUALITY, help="JPEG quality of the Ped2 frames")
    ap.add_argument("--skip-wheels", action="store_true")
    ap.add_argument("--skip-ped2", action="store_true")
    ap.add_argument("--skip-opencv", action="store_true")
    args = ap.parse_args()

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if not args.skip_wheels:
        print("wheels:")
        shutil.rmtree(out / "wheels", ignore_errors=True)
        manifest["wheels"] = fetch_wheels(out / "wheels")
    if not args.skip_ped2:
        if (args.ped2 / "training").is_dir():
            print("Ped2:")
            manifest["ped2"] = pack_ped2(args.ped2, out, args.quality)
        else:
            print(f"Ped2: {args.ped2} not found, left out")
            manifest["ped2"] = None
    if not args.skip_opencv:
        import cv2

        if hasattr(cv2, "optflow"):
            print("OpenCV TV-L1 baseline:")
            record, arrays = opencv_baseline()
            np.savez_compressed(out / "tvl1_opencv.npz", **arrays)
            (out / "tvl1_opencv.json").write_text(json.dumps(record, indent=2) + "\n")
            manifest["tvl1_opencv"] = record["machine"]
        else:
            print("OpenCV TV-L1 baseline: cv2.optflow missing (needs opencv-contrib), left out")
    manifest["made_on"] = {"host": platform.node(), "cpu": cpu_name(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    manifest["bytes"] = folder_bytes(out)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{out}: {manifest['bytes'] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
