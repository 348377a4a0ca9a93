"""TV-L1 optical flow: pairs per second of the batched PyTorch TV-L1 against OpenCV's Dual TV-L1.

Both run in this process on the same 256x256 frame pairs of a rendered scene of moving textured figures,
with OpenCV's default parameters. OpenCV (the baseline) is timed one ``calc`` per pair on the CPU with
its default thread count; PyTorch in batches on ``--device``. The ratio PyTorch / OpenCV is printed, and
the figures, with the machine and versions, go to bench/results/tvl1.json under a key per device and
mode (``cpu``, ``cpu-compiled``, ``cuda-compiled``, ...), so the runs sit side by side. The flows of the
pairs both computed are compared (mean end-point error between them, and against the true motion).

    python bench/bench_tvl1.py                                  # CPU
    python bench/bench_tvl1.py --threads 1 --compile            # CPU, one thread each, compiled
    python bench/bench_tvl1.py --device cuda --batch 256 --pairs 1024 --compile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlib.flow.synthetic import end_point_error, moving_figures  # noqa: E402
from vadlib.flow.tvl1_opencv import opencv_tvl1  # noqa: E402
from vadlib.flow.tvl1_params import TVL1Params  # noqa: E402
from vadlib.flow.tvl1_torch import DualTVL1  # noqa: E402
from vadlib.runtime import torch_device  # noqa: E402


def machine(device) -> dict:
    import cv2
    import torch

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "cv2": cv2.__version__,
            "cv2_threads": cv2.getNumThreads(), "torch_threads": torch.get_num_threads(),
            "load_average_1min": os.getloadavg()[0]}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (PyTorch side)")
    parser.add_argument("--batch", type=int, default=8, help="pairs per PyTorch batch")
    parser.add_argument("--pairs", type=int, default=16, help="pairs timed for PyTorch")
    parser.add_argument("--opencv-pairs", type=int, default=8, help="pairs timed for OpenCV")
    parser.add_argument("--size", type=int, default=256, help="frame side (square frames)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the PyTorch iterations")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for both OpenCV and PyTorch (0: each library's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "tvl1.json"))
    args = parser.parse_args()

    import torch

    if args.threads:
        import cv2

        cv2.setNumThreads(args.threads)
        torch.set_num_threads(args.threads)
    device = torch_device(args.device)
    params = TVL1Params()
    pairs = max(args.pairs, args.batch)
    clip_len = max(pairs, args.opencv_pairs) + 1
    video, true_flow = moving_figures(args.size, args.size, clip_len, seed=args.seed, figures=4)
    gray = np.clip(np.round(video), 0, 255).astype(np.uint8)

    # Baseline: OpenCV, one calc per pair.
    op = opencv_tvl1(params)
    op.calc(gray[0], gray[1], None)  # warm-up (allocations)
    start = time.perf_counter()
    cv_flows = np.stack([op.calc(gray[i], gray[i + 1], None) for i in range(args.opencv_pairs)])
    cv_seconds = time.perf_counter() - start
    cv_rate = args.opencv_pairs / cv_seconds

    # PyTorch, batched.
    module = DualTVL1(params, compile=args.compile)
    frames = torch.from_numpy(gray).to(device).float()

    def run(first: int, count: int) -> torch.Tensor:
        with torch.no_grad():
            return module(frames[first:first + count], frames[first + 1:first + 1 + count])

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    start = time.perf_counter()
    run(0, args.batch)
    sync()
    warmup_seconds = time.perf_counter() - start
    torch_flows, iterations = [], []
    start = time.perf_counter()
    for first in range(0, pairs, args.batch):
        torch_flows.append(run(first, min(args.batch, pairs - first)))
        iterations.append(module.stats["iterations"])
    sync()
    torch_seconds = time.perf_counter() - start
    done = sum(len(f) for f in torch_flows)
    torch_rate = done / torch_seconds
    ours = torch.cat(torch_flows).cpu().numpy()

    shared = min(args.opencv_pairs, len(ours))
    motion = float(np.sqrt((true_flow[:shared] ** 2).sum(-1)).mean())
    agreement = {
        "pairs": shared,
        "epe_torch_vs_opencv": end_point_error(ours[:shared], cv_flows[:shared]),
        "epe_opencv_vs_truth": end_point_error(cv_flows[:shared], true_flow[:shared]),
        "epe_torch_vs_truth": end_point_error(ours[:shared], true_flow[:shared]),
        "mean_motion": motion,
    }
    result = {
        "machine": machine(device),
        "size": [args.size, args.size],
        "parameters": params.as_dict(),
        "opencv": {"pairs": args.opencv_pairs, "seconds": cv_seconds, "pairs_per_s": cv_rate, "device": "cpu"},
        "torch": {"pairs": done, "batch": args.batch, "seconds": torch_seconds, "pairs_per_s": torch_rate,
                  "device": str(device), "compile": args.compile, "warmup_seconds": warmup_seconds,
                  "iterations_per_batch": iterations},
        "ratio_torch_over_opencv": torch_rate / cv_rate,
        "agreement": agreement,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(f"OpenCV Dual TV-L1 (CPU, {result['machine']['cv2_threads']} threads): {cv_rate:.2f} pairs/s")
    print(f"PyTorch TV-L1 ({device}, batch {args.batch}, compile={args.compile}): {torch_rate:.2f} pairs/s "
          f"(warm-up {warmup_seconds:.1f} s)")
    print(f"ratio PyTorch / OpenCV: {torch_rate / cv_rate:.2f}x")
    print(f"agreement on {shared} pairs: EPE(torch, opencv) = {agreement['epe_torch_vs_opencv']:.5f} px, "
          f"mean motion {motion:.3f} px, EPE to truth opencv {agreement['epe_opencv_vs_truth']:.3f} / "
          f"torch {agreement['epe_torch_vs_truth']:.3f} px")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = json.loads(out.read_text()) if out.exists() else {}
    figures[device.type + ("-compiled" if args.compile else "")] = result
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(figures, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
