"""Benchmark: I3D ten-crop extraction, batched extractor vs a naive loop, in the same process.

The batched extractor is :class:`vadlib.features.extract.SnippetExtractor` (``batch`` snippets with all
their crops per forward pass, frames read ahead in a thread, autocast and channels-last on CUDA). The
naive loop reads one snippet at a time from the same frames store and runs one crop at a time in fp32.
Both use the same preprocessing code and the same weights; the bench also reports how far their
features differ. The achieved TFLOP/s of the batched run comes from a FLOP count of the network
(``torch.utils.flop_counter.FlopCounterMode``); give ``--peak-tflops`` (e.g. 989 for an H100 SXM in
bf16 dense) to get the fraction of peak.

    python bench/bench_i3d.py                                    # CPU defaults, about a minute
    python bench/bench_i3d.py --sweep                            # + seconds per snippet per size
    python bench/bench_i3d.py --device cuda --short-side 256 --crop 224 --snippets 64 --batch 8 \
        --frame-size 256 341 --naive-snippets 4 --peak-tflops 989

Writes ``bench/results/i3d.json`` (one entry per device and size, merged with earlier entries).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vadlib.features.extract import SnippetExtractor
from vadlib.features.i3d import build_i3d
from vadlib.features.tencrop import preprocess_snippets
from vadlib.runtime import torch_device
from vadlib.snippets import SNIPPET_LEN, snippet_frame_indices
from vadlib.stores import open_store, write_store

RESULTS = Path(__file__).resolve().parent / "results" / "i3d.json"


def machine(device: torch.device) -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"host": platform.node(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_frames(path: Path, n_frames: int, height: int, width: int, seed: int = 0) -> None:
    """A frames store of smooth random content (content does not change the cost)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n_frames, height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    frames = np.ascontiguousarray(base.repeat(8, axis=1).repeat(8, axis=2)[:, :height, :width])
    write_store(path, "frames", frames, {"source": "bench", "fps": 25, "original_size": [height, width],
                                         "stored_size": [height, width]})


def flops_per_clip(model: torch.nn.Module, crop: int, device: torch.device) -> int:
    """FLOPs of one forward pass of one ``[3, 16, crop, crop]`` clip."""
    clip = torch.zeros(1, 3, SNIPPET_LEN, crop, crop, device=device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(clip)
    return int(counter.get_total_flops())


class Timer:
    """Wall and process CPU seconds of a block (CPU time is steadier on a shared machine)."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self) -> Timer:
        sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        sync(self.device)
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_batched(extractor: SnippetExtractor, frames) -> tuple[Timer, np.ndarray]:
    extractor(frames[:SNIPPET_LEN * extractor.params["batch"]], desc="warm-up")
    with Timer(extractor.device) as timer:
        feats = extractor(frames, desc="batched")
    return timer, feats


def run_naive(model: torch.nn.Module, frames, params: dict, device: torch.device,
              n_snippets: int) -> tuple[Timer, np.ndarray]:
    """One snippet read and preprocessed at a time, one crop per forward pass, fp32."""
    index = snippet_frame_indices(int(frames.shape[0]))[:n_snippets]
    out = np.empty((len(index), params["crops"], 2048), dtype=np.float32)

    def one(i: int) -> None:
        rows = index[i:i + 1]
        lo, hi = int(rows.min()), int(rows.max()) + 1
        block = torch.from_numpy(np.ascontiguousarray(frames[lo:hi])).to(device)
        with torch.inference_mode():
            clips = preprocess_snippets(block, torch.from_numpy(rows - lo).to(device),
                                        params["short_side"], params["crop"], params["crops"])
            for c in range(len(clips)):
                out[i, c] = model(clips[c:c + 1])[0].cpu().numpy()

    one(0)  # warm-up
    with Timer(device) as timer:
        for i in range(len(index)):
            one(i)
    return timer, out


def sweep(frames, device: str, sizes: list[tuple[int, int]], n_snippets: int) -> list[dict]:
    """Seconds per snippet of the batched extractor for each (short side, crop) and 10 / 1 crops."""
    rows = []
    for short_side, crop in sizes:
        for crops in (10, 1):
            params = {"short_side": short_side, "crop": crop, "crops": crops, "batch": n_snippets}
            extractor = SnippetExtractor(params, device)
            extractor(frames[:SNIPPET_LEN], desc="warm-up")
            with Timer(extractor.device) as timer:
                extractor(frames[:SNIPPET_LEN * n_snippets], desc=f"{short_side}/{crop}x{crops}")
            wall, cpu = timer.wall / n_snippets, timer.cpu / n_snippets
            rows.append({"short_side": short_side, "crop": crop, "crops": crops,
                         "seconds_per_snippet": round(wall, 4), "cpu_seconds_per_snippet": round(cpu, 4)})
            print(f"  short side {short_side:3d} crop {crop:3d} x{crops:2d} crops: {wall:8.3f} s/snippet "
                  f"({cpu:.3f} CPU s)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--short-side", type=int, default=64)
    ap.add_argument("--crop", type=int, default=56)
    ap.add_argument("--crops", type=int, default=10, choices=(1, 5, 10))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--snippets", type=int, default=8, help="snippets of the batched run")
    ap.add_argument("--naive-snippets", type=int, default=None,
                    help="snippets of the naive run (default: as many as the batched run)")
    ap.add_argument("--frame-size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for the fraction")
    ap.add_argument("--sweep", action="store_true",
                    help="also time the batched extractor per (short side, crop) with 10 and 1 crops")
    ap.add_argument("--sweep-sizes", nargs="+", default=["256:224", "128:112", "64:56"],
                    metavar="SHORT:CROP")
    ap.add_argument("--sweep-frame-size", type=int, nargs=2, default=(256, 341), metavar=("H", "W"))
    ap.add_argument("--sweep-snippets", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    os.environ.setdefault("VADLIB_PROGRESS", "0")
    device = torch_device(args.device)
    params = {"short_side": args.short_side, "crop": args.crop, "crops": args.crops, "batch": args.batch}
    naive_snippets = min(args.naive_snippets or args.snippets, args.snippets)
    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "bench.zarr"
        make_frames(store_path, args.snippets * SNIPPET_LEN, *args.frame_size)
        frames = open_store(store_path, "frames").data

        extractor = SnippetExtractor(params, str(device))
        naive_model = build_i3d()[0].to(device)
        flops = flops_per_clip(naive_model, args.crop, device)
        t_batched, f_batched = run_batched(extractor, frames)
        t_naive, f_naive = run_naive(naive_model, frames, extractor.params, device, naive_snippets)
        diff = np.abs(f_batched[:naive_snippets] - f_naive)
        rel = float(diff.max() / max(np.abs(f_naive).max(), 1e-12))

        sweep_rows = None
        if args.sweep:
            sweep_path = Path(tmp) / "sweep.zarr"
            make_frames(sweep_path, args.sweep_snippets * SNIPPET_LEN, *args.sweep_frame_size)
            print(f"sweep on {device} ({torch.get_num_threads()} threads), frames {args.sweep_frame_size}:")
            sizes = [tuple(int(v) for v in size.split(":")) for size in args.sweep_sizes]
            sweep_rows = sweep(open_store(sweep_path, "frames").data, str(device), sizes, args.sweep_snippets)

    batched_rate = args.snippets / t_batched.wall
    naive_rate = naive_snippets / t_naive.wall
    ratio = batched_rate / naive_rate
    cpu_ratio = (args.snippets / t_batched.cpu) / (naive_snippets / t_naive.cpu)
    tflops = flops * args.crops * batched_rate / 1e12
    record = {
        "machine": machine(device),
        "device": str(device),
        "sizes": {**params, "frame_size": list(args.frame_size), "snippets": args.snippets,
                  "naive_snippets": naive_snippets, "snippet_len": SNIPPET_LEN},
        "compute": extractor.attrs()["compute"],
        "gflop_per_clip": round(flops / 1e9, 3),
        "batched_snippets_per_s": round(batched_rate, 4),
        "naive_snippets_per_s": round(naive_rate, 4),
        "ratio": round(ratio, 3),
        "batched_cpu_seconds_per_snippet": round(t_batched.cpu / args.snippets, 4),
        "naive_cpu_seconds_per_snippet": round(t_naive.cpu / naive_snippets, 4),
        "cpu_time_ratio": round(cpu_ratio, 3),
        "achieved_tflops": round(tflops, 4),
        "peak_tflops": args.peak_tflops,
        "fraction_of_peak": None if not args.peak_tflops else round(tflops / args.peak_tflops, 4),
        "max_rel_diff_batched_vs_naive": rel,
        "sweep": None if sweep_rows is None else {"frame_size": list(args.sweep_frame_size),
                                                   "rows": sweep_rows},
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(f"device {device}, {args.crops} crops of {args.crop} (short side {args.short_side}), "
          f"{flops / 1e9:.2f} GFLOP per clip")
    peak = f" ({100 * tflops / args.peak_tflops:.1f}% of {args.peak_tflops} peak)" if args.peak_tflops else ""
    print(f"batched: {batched_rate:8.3f} snippets/s   naive: {naive_rate:8.3f} snippets/s   "
          f"ratio {ratio:.2f}x (CPU-time ratio {cpu_ratio:.2f}x)   achieved {tflops:.3f} TFLOP/s{peak}")
    print(f"max relative difference batched vs naive features: {rel:.2e}")

    runs = {}
    if args.out.exists():
        runs = json.loads(args.out.read_text()).get("runs", {})
    runs[f"{device.type}:{args.short_side}/{args.crop}x{args.crops}"] = record
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_name(f".{args.out.name}.tmp")
    tmp_out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    os.replace(tmp_out, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
