"""GPU figures: the GPU stages against their baselines, in one run of at most 8 minutes on one card.

Stages, each with its own time budget (the whole run fits ``--budget`` seconds, 420 by default), each
written to the JSON as soon as it ends, so a run cut short keeps what it measured:

``i3d``
    I3D R50 ten-crop features at the papers' sizes (frames 256 x 341, short side 256, crops 224): a naive
    loop (one snippet read and preprocessed at a time, one crop per forward pass, fp32) against the
    batched extractor (:class:`vadlib.features.extract.SnippetExtractor`: 8 snippets of 10 crops per
    pass, autocast, channels-last), then the same with the network under ``torch.compile``.
    Snippets/s, the ratio, the network's FLOPs (``torch.utils.flop_counter``) and the achieved TFLOP/s
    against the card's dense fp16/bf16 peak (:data:`PEAK_DENSE_TFLOPS`; null for a card not in it),
    the network alone on ready clips, and a profile of its kernels (convolutions against the rest).
``tvl1``
    The batched PyTorch Dual TV-L1 (:mod:`vadlib.flow.tvl1_torch`, compiled on CUDA) at 256 x 256 and
    480 x 640 against OpenCV's ``DualTVL1`` (:mod:`vadlib.flow.tvl1_opencv`, opencv-contrib) on the CPU,
    one thread and every core, on the same pairs (:func:`vadlib.flow.synthetic.moving_figures`, whose
    true flow is known): pairs/s, the ratios, and the end-point errors against OpenCV and against the
    truth. When this machine has no ``cv2.optflow`` the OpenCV side comes from a baseline taken on a CPU
    machine (``--opencv-baseline``, by default the payload's ``tvl1_opencv.json``, made by
    ``bench/gpu_payload.py``): its pairs, flows and rates; the JSON names the machine each side ran on.
``decode_i3d``
    Synthetic videos (:mod:`vadlib.data.synthetic`, 240 x 320) written as MPEG-4 files with OpenCV's
    ``VideoWriter`` and decoded with :func:`vadlib.data.decode.iter_video` (decord when installed, else
    OpenCV), resized to short side 256 and sent through the batched extractor, the next video decoded
    while the current one is extracted: videos per minute.
``inpaint``
    The LDM inpainting of :mod:`vadlib.inpaint` (the released CompVis architecture, seeded random
    weights: the speed does not depend on them) on 8 frames of 256 x 256 with 50 DDIM steps: frames/s,
    as the pipeline runs it (fp32) and under bf16 autocast.
``oneclass``
    LUSS-AE, MemAE + CVAE and STPA on UCSD Ped2 at the papers' sizes (256 x 256, full widths, the batch
    of config/config.yaml): the stores each trains on are made first (frames; TV-L1 flow on the GPU;
    masks by background subtraction; mixup flows; I3D features), then each method trains for one short
    probe epoch (a strided subset of the windows) that gives its seconds per full epoch, trains again
    for as many (full or strided) epochs as its budget allows and scores the test videos: frame-level
    micro AUC beside the published one. STPA's spatial pseudo-anomalies are inpainted with
    ``cv2.inpaint`` (Telea) instead of the LDM, whose 50 DDIM steps per frame do not fit the budget.
    Ped2 comes from the payload's ``ped2.npz`` (frames resized to 256 x 256, one grey channel,
    re-encoded as JPEG quality 85; see bench/gpu_payload.py) or from ``--ped2`` (the JPEG frame folders,
    resized and kept as grey in memory the same way); without either the stage is skipped.

A stage whose dependency is missing (zarr, pytorchvideo, diffusers, Ped2) is recorded as skipped with
the reason; one that fails records the error; the run goes on. Where a target is missed (I3D batched
>= 10x the naive loop and >= 35% of peak; TV-L1 on the GPU >= 100x OpenCV on one thread with its EPE to
the truth within 5% of OpenCV's) the stage's ``bound`` says what limits it, from what was measured.

On a CPU machine with the package index and ../shared (once):

    python bench/gpu_payload.py                       # -> bench/gpu_payload/ (about 58 MiB, ignored)

On the GPU machine (device tool: carry ["bench/gpu_payload"], timeout_s 600):

    PYTHONUNBUFFERED=1 python3 bench/bench_gpu.py --payload bench/gpu_payload --out $OUT/gpu.json

then copy the returned gpu.json to bench/results/gpu.json. ``make bench-gpu`` runs the same with
``.venv/bin/python``. ``--smoke`` runs every stage at tiny sizes on the CPU in well under a minute
(``tests/test_bench_gpu.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import cpu_name  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "gpu.json"
DEFAULT_PED2 = ROOT.parent / "shared" / "data" / "ped2"

#: Dense (no sparsity) fp16 / bf16 tensor-core peak in TFLOP/s, by the card's name as CUDA reports it
#: (without "NVIDIA "); the first entry that the name contains as a word wins, so the specific ones
#: come first.
PEAK_DENSE_TFLOPS: tuple[tuple[str, float], ...] = (
    ("GH200", 989.0), ("H200 NVL", 835.0), ("H200", 989.0),
    ("H100 NVL", 835.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("H800 PCIe", 756.0), ("H800", 989.0),
    ("B200", 2250.0), ("B100", 1750.0),
    ("A100", 312.0), ("A800", 312.0), ("A30", 165.0), ("A40", 149.7), ("A10", 125.0),
    ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("T4", 65.0), ("V100", 125.0),
    ("RTX 6000 Ada", 364.0), ("RTX A6000", 154.8), ("RTX 4090", 165.2), ("RTX 3090", 71.0),
)

#: Targets of the issue: I3D batched over naive, fraction of peak; TV-L1 over OpenCV on one thread, the
#: relative excess of its EPE to the truth over OpenCV's.
TARGETS = {"i3d_ratio": 10.0, "i3d_fraction_of_peak": 0.35, "tvl1_ratio_1_thread": 100.0,
           "tvl1_epe_excess": 0.05}

#: Shares of the run's budget: each stage gets its share of what is left, so what one leaves goes on.
STAGE_SHARES = {"i3d": 0.17, "tvl1": 0.17, "decode_i3d": 0.10, "inpaint": 0.09, "oneclass": 0.47}

FULL: dict[str, Any] = {
    "i3d": {"frame_size": (256, 341), "short_side": 256, "crop": 224, "crops": 10, "batch": 8,
            "snippets": 48, "naive_snippets": 2, "model_passes": 4},
    "tvl1": {"sizes": ((256, 256, 64, 2), (480, 640, 16, 2)), "scored_pairs": (4, 2), "seed": 0, "params": {}},
    "decode_i3d": {"videos": 6, "frames": 128, "size": (240, 320), "short_side": 256, "crop": 224,
                   "crops": 10, "batch": 8},
    "inpaint": {"size": 256, "batch": 8, "steps": 50, "arch": None},
    "oneclass": {"limit": None, "frames": None, "frame_size": 256, "overrides": {}, "probe_batches": 8,
                 "max_epochs": None, "probe_only": False},
}
SMOKE: dict[str, Any] = {
    "i3d": {"frame_size": (16, 24), "short_side": 16, "crop": 16, "crops": 1, "batch": 2,
            "snippets": 2, "naive_snippets": 1, "model_passes": 1},
    "tvl1": {"sizes": ((32, 32, 4, 1), (48, 64, 2, 1)), "scored_pairs": (2, 1), "seed": 0,
             "params": {"nscales": 2, "warps": 1, "outer_iterations": 1, "inner_iterations": 10}},
    "decode_i3d": {"videos": 2, "frames": 16, "size": (32, 64), "short_side": 16, "crop": 16, "crops": 1,
                   "batch": 2},
    "inpaint": {"size": 32, "batch": 2, "steps": 2,
                "arch": {"vq_channels": [8, 16], "vq_layers": 1, "latent_channels": 3, "codes": 16,
                         "unet_channels": [16, 32], "unet_layers": 1, "unet_attention": [False, True],
                         "attention_head_dim": 8}},
    "oneclass": {"limit": 2, "frames": 16, "frame_size": 32, "probe_batches": 1, "max_epochs": 1,
                 "probe_only": True,
                 "overrides": {"size": 32, "clip_len": 8, "batch": 4, "widths": [4, 8, 8, 8],
                               "luss": {}, "memae_cvae": {"cvae_widths": [4, 8, 8, 8], "latent": 8,
                                                          "history": 2, "norm_windows": 8},
                               "stpa": {"batch": 4, "disc_hidden": 16, "disc_epochs": 1},
                               "i3d": {"short_side": 16, "crop": 16, "crops": 1, "batch": 2},
                               "flow": {"batch": 8, "nscales": 2, "warps": 1, "outer_iterations": 1,
                                        "inner_iterations": 5, "compile": False}}},
}


# --- running, timing, recording ---------------------------------------------------------------------

class StageSkipped(Exception):
    """A stage cannot run here (a missing package, data, or time); the message says why."""


def sync(device) -> None:
    if getattr(device, "type", None) == "cuda":
        import torch

        torch.cuda.synchronize(device)


@contextlib.contextmanager
def timed(device, out: dict, key: str):
    """Wall seconds of the block (device work included) into ``out[key]``."""
    sync(device)
    start = time.perf_counter()
    yield
    sync(device)
    out[key] = time.perf_counter() - start


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats rounded to ``digits`` significant digits, through dicts and lists (for a readable JSON)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, np.generic):
        return rounded(value.item(), digits)
    return value


class Recorder:
    """The run's JSON, rewritten (atomically) after every stage."""

    def __init__(self, path: Path, record: dict):
        self.path, self.record = path, record

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(rounded(self.record), indent=2, default=str) + "\n")
        os.replace(tmp, self.path)


def missing_reason(err: BaseException) -> str:
    name = getattr(err, "name", None)
    return f"module {name!r} is not installed ({err})" if name else str(err)


def run_stage(name: str, fn: Callable[[dict, float], dict], ctx: dict, budget: float) -> dict:
    """``fn(ctx, budget)`` -> the stage's record, with its status, seconds and budget; never raises."""
    start = time.perf_counter()
    print(f"[{name}] budget {budget:.0f} s", flush=True)
    try:
        if budget <= 1:
            raise StageSkipped("the run's time budget is spent")
        record = {"status": "measured", **fn(ctx, budget)}
    except StageSkipped as err:
        record = {"status": "skipped", "reason": str(err)}
    except ImportError as err:
        record = {"status": "skipped", "reason": missing_reason(err)}
    except Exception as err:  # noqa: BLE001 - a stage's failure is recorded, the run goes on
        record = {"status": "failed", "reason": f"{type(err).__name__}: {err}",
                  "traceback": traceback.format_exc(limit=8).splitlines()[-12:]}
    record["seconds"] = time.perf_counter() - start
    record["budget_s"] = budget
    summary = record.get("headline") or record.get("reason")
    print(f"[{name}] {record['status']} in {record['seconds']:.1f} s: {summary}", flush=True)
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    return record


# --- machine ----------------------------------------------------------------------------------------

def peak_tflops(name: str) -> tuple[float | None, str | None]:
    """The dense fp16/bf16 peak of a card from :data:`PEAK_DENSE_TFLOPS` and the entry that matched."""
    bare = name.replace("NVIDIA", "").strip()
    for key, peak in PEAK_DENSE_TFLOPS:
        if re.search(rf"(^|[\s-]){re.escape(key)}([\s-]|$)", bare):
            return peak, key
    return None, None


def driver_version() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        return out.strip().splitlines()[0].strip() or None
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # noqa: BLE001 - no NVML here
        return None


def machine(device) -> dict:
    import torch

    info = {"host": platform.node(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "device": str(device), "gpu": None}
    try:
        import cv2

        info["cv2"] = cv2.__version__
        info["cv2_optflow"] = hasattr(cv2, "optflow")
    except ImportError:
        info["cv2"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        peak, key = peak_tflops(props.name)
        info["gpu"] = {"name": props.name, "driver": driver_version(), "cuda": torch.version.cuda,
                       "cudnn": torch.backends.cudnn.version(), "capability": f"{props.major}.{props.minor}",
                       "multiprocessors": props.multi_processor_count,
                       "memory_gib": props.total_memory / 2**30, "bf16": torch.cuda.is_bf16_supported(),
                       "peak_dense_tflops_fp16_bf16": peak, "peak_table_entry": key}
    return info


# --- the payload --------------------------------------------------------------------------------------

def install_payload(payload: Path) -> dict:
    """Install the payload's wheels whose module this interpreter lacks into a temporary directory put
    on ``sys.path`` (``pip install --no-deps --no-index --target``); returns what was done."""
    info: dict[str, Any] = {"path": str(payload), "installed": [], "present": []}
    manifest_path = payload / "manifest.json"
    if not manifest_path.exists():
        info["error"] = f"{manifest_path} is missing (run bench/gpu_payload.py)"
        return info
    manifest = json.loads(manifest_path.read_text())
    info["bytes"] = manifest.get("bytes")
    info["made_on"] = manifest.get("made_on")
    wanted = []
    for row in manifest.get("wheels") or []:
        if importlib.util.find_spec(row["module"]) is None:
            wanted.append(row)
        else:
            info["present"].append(row["module"])
    if wanted:
        target = Path(tempfile.mkdtemp(prefix="bench_gpu_site_"))
        wheels = [str(payload / "wheels" / row["wheel"]) for row in wanted]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                               "--no-compile", "--no-cache-dir", "--target", str(target), *wheels],
                              capture_output=True, text=True)
        info["install_seconds"] = time.perf_counter() - start
        if done.returncode != 0:
            info["error"] = done.stderr.strip()[-2000:]
        else:
            sys.path.insert(0, str(target))
            importlib.invalidate_caches()
            info["installed"] = [f"{row['distribution']}=={row['version']}" for row in wanted]
            info["site"] = str(target)
    return info


# --- stage: I3D -------------------------------------------------------------------------------------

def smooth_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 ``[n, H, W, 3]`` of blocky random content (content does not change the cost)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    return np.ascontiguousarray(base.repeat(8, axis=1).repeat(8, axis=2)[:, :height, :width])


def kernel_profile(fn: Callable[[], object], device) -> dict | None:
    """CUDA kernel time of ``fn()`` split into convolution / matrix kernels and the rest (normalisation,
    activations, copies: memory-bound), with the number of kernels launched."""
    if device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        sync(device)
    conv_us = other_us = 0.0
    launches = 0
    top = []
    for event in prof.key_averages():
        us = getattr(event, "device_time_total", None)
        if us is None:
            us = getattr(event, "cuda_time_total", 0.0)
        if not us or event.key.startswith(("aten::", "cuda", "Memcpy", "Memset")) and "kernel" not in event.key:
            continue
        launches += event.count
        key = event.key.lower()
        if any(s in key for s in ("conv", "gemm", "xmma", "cudnn", "implicit", "cutlass", "sm80", "sm90", "wgrad",
                                  "dgrad", "fprop")):
            conv_us += us
        else:
            other_us += us
        top.append((us, event.key[:90]))
    total = conv_us + other_us
    top.sort(reverse=True)
    return {"kernel_ms": total / 1e3, "conv_matmul_share": conv_us / total if total else None,
            "other_share": other_us / total if total else None, "kernels": launches,
            "top_kernels": [{"ms": us / 1e3, "name": name} for us, name in top[:6]]}


def extractor_params(cfg: dict) -> dict:
    """``features.i3d`` of config/config.yaml with the stage's sizes: the I3D stages and the one-class
    stage's features then share one extractor (:func:`vadlib.features.extract.get_extractor` caches it
    by its parameters), built and calibrated once."""
    import yaml

    section = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["features"]["i3d"]
    return {**section, **{k: cfg[k] for k in ("short_side", "crop", "crops", "batch")}}


def stage_i3d(ctx: dict, budget: float) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vadlib.features.extract import get_extractor
    from vadlib.features.tencrop import preprocess_snippets
    from vadlib.snippets import SNIPPET_LEN, snippet_frame_indices

    cfg, device = ctx["sizes"]["i3d"], ctx["device"]
    deadline = time.perf_counter() + budget
    params = extractor_params(cfg)
    frames = smooth_frames(cfg["snippets"] * SNIPPET_LEN, *cfg["frame_size"])
    out: dict[str, Any] = {"ran_on": ctx["where"], "sizes": {**{k: cfg[k] for k in ("short_side", "crop", "crops",
                                                                                "batch")},
                                                            "frame_size": list(cfg["frame_size"]),
                                                            "snippets": cfg["snippets"],
                                                            "naive_snippets": cfg["naive_snippets"]},
                           "weights": "seeded random initialisation (the speed does not depend on weights)"}
    t: dict[str, float] = {}

    extractor = get_extractor(params, str(device))
    out["compute"] = extractor.attrs()["compute"]
    naive_model = copy.deepcopy(extractor.model).to(memory_format=torch.contiguous_format)
    clip = torch.zeros(1, 3, SNIPPET_LEN, cfg["crop"], cfg["crop"], device=device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        naive_model(clip)
    flops = int(counter.get_total_flops())
    out["gflop_per_clip"] = flops / 1e9
    out["gflop_per_snippet"] = flops * cfg["crops"] / 1e9

    # Batched extractor (warm-up, then every snippet).
    extractor(frames[:SNIPPET_LEN * cfg["batch"]], desc="warm-up")
    with timed(device, t, "batched"):
        batched = extractor(frames, desc="batched")
    batched_rate = cfg["snippets"] / t["batched"]

    # Naive loop: one snippet at a time, one crop per forward pass, fp32.
    index = snippet_frame_indices(len(frames))[:cfg["naive_snippets"]]
    naive = np.empty((len(index), cfg["crops"], batched.shape[-1]), np.float32)

    def naive_one(i: int) -> None:
        rows = index[i:i + 1]
        lo, hi = int(rows.min()), int(rows.max()) + 1
        block = torch.from_numpy(np.ascontiguousarray(frames[lo:hi])).to(device)
        with torch.inference_mode():
            clips = preprocess_snippets(block, torch.from_numpy(rows - lo).to(device), cfg["short_side"],
                                        cfg["crop"], cfg["crops"])
            for c in range(len(clips)):
                naive[i, c] = naive_model(clips[c:c + 1])[0].cpu().numpy()

    naive_one(0)
    with timed(device, t, "naive"):
        for i in range(len(index)):
            naive_one(i)
    naive_rate = len(index) / t["naive"]
    rel = float(np.abs(batched[:len(index)] - naive).max() / max(np.abs(naive).max(), 1e-12))

    # The network alone on ready clips (no reading, copying or preprocessing), and its kernels.
    block = torch.from_numpy(frames[:SNIPPET_LEN * cfg["batch"]]).to(device)
    rows = torch.from_numpy(snippet_frame_indices(len(block))).to(device)
    with torch.inference_mode():
        with timed(device, t, "preprocess_batch"):
            clips = preprocess_snippets(block, rows, cfg["short_side"], cfg["crop"], cfg["crops"])
    if device.type == "cuda":
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    autocast = (torch.autocast("cuda", dtype=extractor.autocast_dtype) if extractor.autocast_dtype is not None
                else contextlib.nullcontext())

    def network(model) -> None:
        with torch.inference_mode(), autocast:
            model(clips)

    network(extractor.model)
    with timed(device, t, "model_only"):
        for _ in range(cfg["model_passes"]):
            network(extractor.model)
    model_rate = cfg["model_passes"] * cfg["batch"] / t["model_only"]
    try:
        out["kernels"] = kernel_profile(lambda: network(extractor.model), device)
    except Exception as err:  # noqa: BLE001 - the profiler is optional
        out["kernels"] = {"error": f"{type(err).__name__}: {err}"}

    # The same under torch.compile, when there is time for the compilation.
    compiled: dict[str, Any] = {"status": "skipped"}
    left = deadline - time.perf_counter()
    if device.type != "cuda":
        compiled["reason"] = "compiled only on CUDA"
    elif ctx["no_compile"]:
        compiled["reason"] = "--no-compile"
    elif left < 45:
        compiled["reason"] = f"{left:.0f} s left of the stage's budget, too little for the compilation"
    else:
        eager = extractor.model
        try:
            extractor.model = torch.compile(eager)
            with timed(device, t, "compile_warmup"):
                extractor(frames[:SNIPPET_LEN * cfg["batch"]], desc="compile")
            with timed(device, t, "compiled"):
                extractor(frames, desc="compiled")
            compiled = {"status": "measured", "compile_seconds": t["compile_warmup"],
                        "batched_snippets_per_s": cfg["snippets"] / t["compiled"]}
            with timed(device, t, "compiled_model_only"):
                for _ in range(cfg["model_passes"]):
                    network(extractor.model)
            compiled["model_only_snippets_per_s"] = cfg["model_passes"] * cfg["batch"] / t["compiled_model_only"]
        except Exception as err:  # noqa: BLE001 - a compiler failure leaves the eager figures
            compiled = {"status": "failed", "reason": f"{type(err).__name__}: {err}"[:500]}
        finally:
            extractor.model = eager
    out["compiled"] = compiled

    best = max(batched_rate, compiled.get("batched_snippets_per_s", 0.0))
    peak = (ctx["machine"].get("gpu") or {}).get("peak_dense_tflops_fp16_bf16")

    def tflops(rate: float) -> float:
        return flops * cfg["crops"] * rate / 1e12

    out.update({
        "naive_snippets_per_s": naive_rate,
        "batched_snippets_per_s": batched_rate,
        "best_snippets_per_s": best,
        "best_is": "compiled" if best > batched_rate else "eager",
        "ratio_batched_over_naive": batched_rate / naive_rate,
        "ratio_best_over_naive": best / naive_rate,
        "model_only_snippets_per_s": model_rate,
        "extractor_over_model_only": batched_rate / model_rate,
        "preprocess_seconds_per_batch": t["preprocess_batch"],
        "achieved_tflops": tflops(best),
        "achieved_tflops_model_only": tflops(max(model_rate, compiled.get("model_only_snippets_per_s", 0.0))),
        "naive_achieved_tflops": tflops(naive_rate),
        "peak_dense_tflops": peak,
        "fraction_of_peak": None if not peak else tflops(best) / peak,
        "fraction_of_peak_model_only": None if not peak else tflops(max(model_rate, compiled.get(
            "model_only_snippets_per_s", 0.0))) / peak,
        "max_rel_diff_batched_vs_naive": rel,
        "timings": t,
    })
    ratio_ok = out["ratio_best_over_naive"] >= TARGETS["i3d_ratio"]
    peak_ok = None if out["fraction_of_peak"] is None else out["fraction_of_peak"] >= TARGETS["i3d_fraction_of_peak"]
    out["targets"] = {"ratio_ge_10": ratio_ok, "fraction_of_peak_ge_0.35": peak_ok}
    out["bound"] = i3d_bound(out, ratio_ok, peak_ok)
    out["headline"] = {"naive_snippets_per_s": naive_rate, "batched_snippets_per_s": best,
                       "ratio": out["ratio_best_over_naive"]}
    return out


def i3d_bound(out: dict, ratio_ok: bool, peak_ok: bool | None) -> str | None:
    """What limits the batched extractor, from the figures measured (None when every target is met)."""
    if ratio_ok and peak_ok is not False:
        return None
    notes = []
    share = out["extractor_over_model_only"]
    if share < 0.8:
        notes.append(f"the data path: the extractor runs at {100 * share:.0f}% of the network alone on ready "
                     f"clips (reading the frames, the host-to-device copy and the resize/crops, "
                     f"{out['preprocess_seconds_per_batch'] * 1e3:.1f} ms per batch of preprocessing)")
    kernels = out.get("kernels") or {}
    if kernels.get("conv_matmul_share") is not None:
        notes.append(f"{100 * kernels['other_share']:.0f}% of the network's kernel time is outside the "
                     f"convolutions (BatchNorm, ReLU, pooling, layout copies: memory traffic), "
                     f"{kernels['kernels']} kernels per pass of {out['sizes']['batch']} snippets")
    if peak_ok is False and out.get("fraction_of_peak_model_only") is not None:
        notes.append(f"the network alone reaches {100 * out['fraction_of_peak_model_only']:.0f}% of the dense "
                     f"peak: 3D convolutions of 64-512 channels at 16 x 56 x 56 .. 2 x 7 x 7 (after the "
                     f"stem) are small GEMMs for cuDNN's tensor-core kernels")
    if not ratio_ok:
        notes.append(f"the naive loop already gets {out['naive_achieved_tflops']:.3g} TFLOP/s from one clip "
                     f"per pass, so batching gains less")
    if not out["ran_on"].startswith("GPU"):
        notes.append("both sides ran on the CPU, where the targets do not apply")
    return "; ".join(notes) or "not established"


# --- stage: TV-L1 -------------------------------------------------------------------------------------

def load_opencv_baseline(path: Path | None) -> tuple[dict | None, dict | None, str | None]:
    """(JSON record, npz arrays, reason when absent) of a baseline made by bench/gpu_payload.py."""
    if path is None:
        return None, None, "no --opencv-baseline file was given (and no payload holds one)"
    if not path.exists():
        return None, None, f"{path} does not exist"
    record = json.loads(path.read_text())
    npz = path.with_suffix(".npz")
    arrays = dict(np.load(npz)) if npz.exists() else None
    return record, arrays, None


def stage_tvl1(ctx: dict, budget: float) -> dict:
    import torch

    from vadlib.flow.synthetic import end_point_error, moving_figures
    from vadlib.flow.tvl1_params import TVL1Params
    from vadlib.flow.tvl1_torch import DualTVL1

    cfg, device = ctx["sizes"]["tvl1"], ctx["device"]
    deadline = time.perf_counter() + budget
    params = TVL1Params(**cfg["params"])
    compile_ = device.type == "cuda" and not ctx["no_compile"]
    module = DualTVL1(params, compile=compile_)
    try:
        import cv2

        live_opencv = hasattr(cv2, "optflow")
    except ImportError:
        live_opencv = False
    baseline, arrays, absent = (None, None, None)
    if not live_opencv:
        baseline, arrays, absent = load_opencv_baseline(ctx["opencv_baseline"])
    out: dict[str, Any] = {"parameters": params.as_dict(), "torch": {"ran_on": ctx["where"], "compile": compile_},
                           "opencv_source": ("this machine" if live_opencv else
                                             "baseline file" if baseline else "absent")}
    if live_opencv:
        out["opencv_ran_on"] = f"this machine (CPU: {cpu_name()}, {os.cpu_count()} cores)"
    elif baseline:
        m = baseline["machine"]
        out["opencv_ran_on"] = (f"{m['host']} (CPU: {m['cpu']}, {m['cpu_count']} cores, cv2 {m['cv2']}), from "
                                f"{ctx['opencv_baseline']}; this machine has no cv2.optflow")
    else:
        out["opencv_ran_on"] = None
        out["opencv_absent_reason"] = f"cv2.optflow is missing here (opencv without contrib) and {absent}"

    def flows_of(gray: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(gray).to(device).float()
            return module(x[:-1], x[1:]).cpu().numpy()

    sizes = {}
    for (height, width, batch, repeats), scored in zip(cfg["sizes"], cfg["scored_pairs"]):
        key = f"{height}x{width}"
        if time.perf_counter() > deadline - 5:
            sizes[key] = {"status": "skipped", "reason": "the stage's time budget is spent"}
            continue
        row: dict[str, Any] = {"batch": batch}
        t: dict[str, float] = {}
        video, _ = moving_figures(height, width, batch + 1, seed=cfg["seed"], figures=4)
        gray = np.clip(np.round(video), 0, 255).astype(np.uint8)
        frames = torch.from_numpy(gray).to(device).float()
        with timed(device, t, "warmup"), torch.no_grad():
            module(frames[:-1], frames[1:])
        with timed(device, t, "timed"), torch.no_grad():
            for _ in range(repeats):
                module(frames[:-1], frames[1:])
        iterations = module.stats["iterations"]
        rate = batch * repeats / t["timed"]
        # The same with a quarter of the batch: per-iteration time that barely grows with the batch
        # means the launches / host syncs bound it, not the arithmetic or the memory traffic.
        quarter = max(1, batch // 4)
        with timed(device, t, "quarter"), torch.no_grad():
            module(frames[:quarter], frames[1:quarter + 1])
        quarter_iterations = module.stats["iterations"]
        per_iter = t["timed"] / repeats / max(iterations, 1)
        per_iter_quarter = t["quarter"] / max(quarter_iterations, 1)
        level_pixels = height * width / (1 - params.scale_step ** 2)
        bytes_per_pixel_iteration = 22 * 4  # u (2), p (4), I1w', |I1w'|^2, rho_c read; u, p written (fp32)
        row.update({"pairs_per_s": rate, "warmup_seconds": t["warmup"], "iterations_per_batch": iterations,
                    "ms_per_iteration": per_iter * 1e3, "ms_per_iteration_quarter_batch": per_iter_quarter * 1e3,
                    "estimated_gb_per_s": batch * level_pixels * bytes_per_pixel_iteration / per_iter / 1e9})

        # Scored pairs: the baseline's (or rendered here with its seed), flowed by both sides.
        if arrays is not None and f"{key}/frames" in arrays:
            pairs_gray = arrays[f"{key}/frames"]
            truth = arrays[f"{key}/truth"].astype(np.float32) / 64.0
            cv_flows = arrays[f"{key}/opencv"].astype(np.float32) / 64.0
            rec = baseline["sizes"][key]
            cv_single, cv_multi, cv_threads = (rec["pairs_per_s_1_thread"], rec["pairs_per_s_all_cores"],
                                               rec["threads_all_cores"])
        else:
            from gpu_payload import opencv_rates, tvl1_pairs

            pairs_gray, truth = tvl1_pairs(height, width, scored, cfg["seed"])
            cv_flows = cv_single = cv_multi = cv_threads = None
            if live_opencv:
                cv_single, cv_flows = opencv_rates(pairs_gray, 1, params)
                cv_threads = os.cpu_count() or 1
                cv_multi, _ = opencv_rates(pairs_gray, cv_threads, params)
        ours = flows_of(pairs_gray)
        row["scored_pairs"] = len(ours)
        row["mean_motion_px"] = float(np.sqrt((truth ** 2).sum(-1)).mean())
        row["epe_torch_vs_truth"] = end_point_error(ours, truth)
        if cv_flows is not None:
            row["epe_opencv_vs_truth"] = end_point_error(cv_flows, truth)
            row["epe_torch_vs_opencv"] = end_point_error(ours, cv_flows)
            row["epe_excess_over_opencv"] = row["epe_torch_vs_truth"] / max(row["epe_opencv_vs_truth"], 1e-9) - 1
            row["opencv"] = {"pairs_per_s_1_thread": cv_single, "pairs_per_s_all_cores": cv_multi,
                             "threads_all_cores": cv_threads}
            row["ratio_over_opencv_1_thread"] = rate / cv_single
            row["ratio_over_opencv_all_cores"] = rate / cv_multi
            ok_ratio = row["ratio_over_opencv_1_thread"] >= TARGETS["tvl1_ratio_1_thread"]
            ok_epe = row["epe_excess_over_opencv"] <= TARGETS["tvl1_epe_excess"]
            row["targets"] = {"ratio_ge_100": ok_ratio, "epe_within_5_percent": ok_epe}
            row["bound"] = tvl1_bound(row, ok_ratio, ok_epe, device.type == "cuda")
        else:
            row["opencv"] = None
        row["timings"] = t
        sizes[key] = row
    out["sizes"] = sizes
    measured = {k: v for k, v in sizes.items() if "pairs_per_s" in v}
    if not measured:
        raise StageSkipped("no size fitted the stage's budget")
    first = next(iter(measured.values()))
    ctx["tvl1_pairs_per_s"] = {k: v["pairs_per_s"] for k, v in measured.items()}
    ctx["tvl1_module"] = module
    out["headline"] = {f"torch_pairs_per_s_{k}": v["pairs_per_s"] for k, v in measured.items()}
    if first.get("ratio_over_opencv_1_thread"):
        out["headline"]["ratio_over_opencv_1_thread"] = first["ratio_over_opencv_1_thread"]
    return out


def tvl1_bound(row: dict, ok_ratio: bool, ok_epe: bool, on_gpu: bool) -> str | None:
    if ok_ratio and ok_epe:
        return None
    notes = [] if on_gpu else ["the PyTorch side ran on the CPU, where the targets do not apply"]
    if not ok_ratio:
        growth = row["ms_per_iteration"] / max(row["ms_per_iteration_quarter_batch"], 1e-9)
        if growth < 1.6:
            notes.append(f"kernel launches and host syncs: an iteration takes {row['ms_per_iteration']:.2f} ms "
                         f"for the batch and {row['ms_per_iteration_quarter_batch']:.2f} ms for a quarter of it "
                         f"(x{growth:.1f} for 4x the pairs); {row['iterations_per_batch']} iterations per batch")
        else:
            notes.append(f"memory traffic: about {row['estimated_gb_per_s']:.3g} GB/s moved by the iterations "
                         f"(fp32 u, p and the warped gradients, every pyramid level; an estimate), time "
                         f"growing with the batch (x{growth:.1f} for 4x the pairs)")
    if not ok_epe:
        notes.append(f"accuracy: EPE to the truth {row['epe_torch_vs_truth']:.4f} px against OpenCV's "
                     f"{row['epe_opencv_vs_truth']:.4f} px")
    return "; ".join(notes)


# --- stage: decode -> I3D -----------------------------------------------------------------------------

def synthetic_videos(count: int, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """``count`` rendered videos of the built-in synthetic dataset, uint8 ``[T, H, W, 3]``."""
    import yaml

    from vadlib.data.synthetic import check_config, plan_videos
    from vadlib.data.synthetic.render import render_arrays

    cfg = dict(yaml.safe_load((ROOT / "config" / "datasets" / "synthetic.yaml").read_text())["synthetic"])
    cfg.update({"size": list(size), "frames": [frames, frames], "train_normal": count, "train_abnormal": 0,
                "test_normal": 0, "test_abnormal": len(cfg["anomaly_types"])})
    cfg = check_config(cfg)
    plans = [p for p in plan_videos(cfg) if p.split_oneclass == "train"][:count]
    with ThreadPoolExecutor(max_workers=min(len(plans), os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda plan: render_arrays(plan, cfg)[0], plans))


def stage_decode_i3d(ctx: dict, budget: float) -> dict:
    import cv2

    from vadlib.data.decode import iter_video, resize, target_size
    from vadlib.features.extract import get_extractor

    cfg, device = ctx["sizes"]["decode_i3d"], ctx["device"]
    t: dict[str, float] = {}
    start = time.perf_counter()
    videos = synthetic_videos(cfg["videos"], cfg["frames"], cfg["size"])
    t["render"] = time.perf_counter() - start
    extractor = get_extractor(extractor_params(cfg), str(device))
    height, width = cfg["size"]
    stored = target_size(height, width, cfg["short_side"])
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, frames in enumerate(videos):
            path = Path(tmp) / f"video_{i}.mp4"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height))
            if not writer.isOpened():
                paths = None
                break
            for frame in frames:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            writer.release()
            paths.append(path)
        decoder = "decord" if importlib.util.find_spec("decord") else "OpenCV VideoCapture (FFmpeg backend)"
        if paths:
            source = f"MPEG-4 Part 2 (mp4v) files written by cv2.VideoWriter, decoded by {decoder}"

            def decode(i: int) -> np.ndarray:
                return resize(np.concatenate(list(iter_video(paths[i]))), stored)
        else:
            source = "frames rendered in memory by the synthetic generator (cv2.VideoWriter could not write mp4v)"

            def decode(i: int) -> np.ndarray:
                return resize(videos[i], stored)

        extractor(decode(0)[:16 * cfg["batch"]], desc="warm-up")
        decode_seconds = [0.0]

        def timed_decode(i: int) -> np.ndarray:
            begin = time.perf_counter()
            frames = decode(i)
            decode_seconds[0] += time.perf_counter() - begin
            return frames

        snippets = 0
        with timed(device, t, "chain"), ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(timed_decode, 0)
            for i in range(len(videos)):
                frames = pending.result()
                if i + 1 < len(videos):
                    pending = pool.submit(timed_decode, i + 1)
                snippets += len(extractor(frames, desc=f"video {i}"))
    t["decode_total"] = decode_seconds[0]
    rate = len(videos) * 60.0 / t["chain"]
    return {"ran_on": ctx["where"], "source": source, "decoder": decoder if paths else None,
            "videos": len(videos), "frames_per_video": cfg["frames"], "video_size": list(cfg["size"]),
            "stored_size": list(stored), "snippets": snippets,
            "videos_per_minute": rate, "snippets_per_s": snippets / t["chain"],
            "decode_share": t["decode_total"] / t["chain"],
            "overlap": "the next video is decoded in a thread while the current one is extracted",
            "timings": t, "headline": {"videos_per_minute": rate}}


# --- stage: LDM inpainting ------------------------------------------------------------------------------

def stage_inpaint(ctx: dict, budget: float) -> dict:
    import torch

    from vadlib.inpaint.model import ARCHITECTURE, InpaintingLDM
    from vadlib.inpaint.sample import inpaint_frames

    cfg, device = ctx["sizes"]["inpaint"], ctx["device"]
    deadline = time.perf_counter() + budget
    arch = cfg["arch"] or ARCHITECTURE
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = InpaintingLDM.build(arch).to(device).eval()
    size, batch = cfg["size"], cfg["batch"]
    frames = smooth_frames(batch, size, size)
    masks = np.zeros((batch, size, size), bool)
    masks[:, size // 4:size // 2, size // 3:2 * size // 3] = True
    t: dict[str, float] = {}

    def run(steps: int, amp: bool) -> None:
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda"
                    else contextlib.nullcontext())
        with autocast:
            inpaint_frames(model, frames, masks, steps, 0.0, torch.Generator().manual_seed(0), device)

    with timed(device, t, "warmup"):
        run(2, False)
    with timed(device, t, "fp32"):
        run(cfg["steps"], False)
    out = {"ran_on": ctx["where"], "architecture": arch, "weights": "seeded random initialisation",
           "size": [size, size], "batch": batch, "ddim_steps": cfg["steps"],
           "frames_per_s": batch / t["fp32"], "seconds_per_step": t["fp32"] / cfg["steps"],
           "precision": "fp32, as vadlib.inpaint samples"}
    if device.type == "cuda":
        if deadline - time.perf_counter() > 2.5 * t["fp32"]:
            try:
                with timed(device, t, "bf16_warmup"):
                    run(2, True)
                with timed(device, t, "bf16"):
                    run(cfg["steps"], True)
                out["frames_per_s_bf16_autocast"] = batch / t["bf16"]
            except Exception as err:  # noqa: BLE001 - the fp32 figure stands without it
                out["bf16_autocast"] = f"failed: {type(err).__name__}: {err}"[:400]
        else:
            out["bf16_autocast"] = "skipped: too little of the stage's budget left"
    out["timings"] = t
    out["headline"] = {"frames_per_s": out["frames_per_s"]}
    return out


# --- stage: one-class training on Ped2 ----------------------------------------------------------------

def load_ped2(ctx: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """(videos name -> uint8 ``[T, H, W]`` grey frames at 256 x 256, test name -> frame labels, source)."""
    import cv2

    cfg = ctx["sizes"]["oneclass"]
    limit, max_frames, size = cfg["limit"], cfg["frames"], cfg["frame_size"]
    frames_note = ("every frame of every video" if limit is None and max_frames is None else
                   f"the first {limit} videos of each split, {max_frames} frames spread evenly over each")

    def pick(count: int) -> np.ndarray:
        """The frames kept of a video of ``count``: all, or ``max_frames`` spread evenly over it (so
        that a shortened test video still holds normal and anomalous frames)."""
        if max_frames is None or count <= max_frames:
            return np.arange(count)
        return np.round(np.linspace(0, count - 1, max_frames)).astype(np.int64)

    def fit(image: np.ndarray) -> np.ndarray:
        if image.shape[:2] == (size, size):
            return image
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)

    payload = ctx["payload_dir"]
    npz = payload / "ped2.npz" if payload else None
    frames: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    if npz is not None and npz.exists():
        data = np.load(npz)
        meta = json.loads(str(data["meta"]))
        jpeg, offsets = data["jpeg"], data["offsets"]
        start, label_start = 0, 0
        seen = {"train": 0, "test": 0}
        for video, split, count in zip(data["videos"], data["splits"], data["counts"]):
            count = int(count)
            keep = (limit is None or seen[split] < limit)
            seen[split] += 1
            if keep:
                kept = pick(count)
                frames[str(video)] = np.stack([fit(cv2.imdecode(jpeg[offsets[i]:offsets[i + 1]],
                                                                cv2.IMREAD_GRAYSCALE))
                                               for i in start + kept])
                if split == "test":
                    labels[str(video)] = data["labels"][label_start + kept]
            start += count
            label_start += count if split == "test" else 0
        meta["differs_from_source"] += f"; resized to {size}x{size}" if size != meta["size"][0] else ""
        return frames, labels, {"source": f"{npz}", **meta, "size": [size, size], "frames_kept": frames_note}
    root = ctx["ped2"]
    if root is None or not (root / "training" / "frames").is_dir():
        raise StageSkipped(f"no Ped2 here: neither a payload's ped2.npz nor {root}/training/frames "
                           f"(run bench/gpu_payload.py, or give --ped2)")
    from vadlib.data.decode import frame_files

    all_labels = np.load(root / "frame_labels_ped2.npy").reshape(-1).astype(np.uint8)
    label_start = 0
    for split, folder in (("train", root / "training" / "frames"), ("test", root / "testing" / "frames")):
        for k, video_dir in enumerate(sorted(p for p in folder.iterdir() if p.is_dir())):
            files = frame_files(video_dir)
            if limit is None or k < limit:
                kept = pick(len(files))
                frames[f"{split}_{video_dir.name}"] = np.stack([fit(cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE))
                                                               for i in kept])
                if split == "test":
                    labels[f"{split}_{video_dir.name}"] = all_labels[label_start + kept]
            if split == "test":
                label_start += len(files)
    return frames, labels, {"source": str(root), "size": [size, size], "channels": 1, "frames_kept": frames_note,
                            "differs_from_source": f"resized to {size}x{size} (INTER_AREA), one grey channel "
                                                   "(the source's three are equal), kept in memory"}


def oneclass_config(overrides: dict) -> dict:
    """The config sections the one-class stage uses (config/config.yaml), with ``overrides``."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    shared = {**cfg["oneclass"], **{k: v for k, v in overrides.items()
                                    if k not in ("luss", "memae_cvae", "stpa", "i3d", "flow")}}
    methods = {m: {**shared, **cfg[m], **overrides.get(m, {}), "seed": cfg["seed"]}
               for m in ("luss", "memae_cvae", "stpa")}
    ped2 = yaml.safe_load((ROOT / "config" / "datasets" / "ped2.yaml").read_text())
    for m in methods:
        methods[m].update({k: v for k, v in (ped2.get("params") or {}).get(m, {}).items()})
    return {"methods": methods, "flow": {**cfg["flow"], **overrides.get("flow", {})},
            "masks": {**cfg["masks"], "seed": cfg["seed"]}, "mixup": {**cfg["mixup"], "seed": cfg["seed"]},
            "i3d": {**cfg["features"]["i3d"], **overrides.get("i3d", {})},
            "published": ped2.get("published", {})}


def telea_inpaint(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Frames with their masked pixels filled by ``cv2.inpaint`` (Telea, radius 3), in threads."""
    import cv2

    def one(i: int) -> np.ndarray:
        if not masks[i].any():
            return frames[i]
        return cv2.inpaint(frames[i], masks[i].astype(np.uint8), 3, cv2.INPAINT_TELEA)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return np.stack(list(pool.map(one, range(len(frames)))))


def micro_auc(rows: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray]) -> dict[str, float | None]:
    from sklearn.metrics import roc_auc_score

    videos = sorted(labels)
    truth = np.concatenate([labels[v] for v in videos])
    out = {}
    for row, per_video in rows.items():
        scores = np.concatenate([np.asarray(per_video[v], np.float64)[:len(labels[v])] for v in videos])
        ok = len(np.unique(truth)) == 2 and np.isfinite(scores).all()
        out[row] = float(roc_auc_score(truth, scores)) if ok else None
    return out


def stage_oneclass(ctx: dict, budget: float) -> dict:
    import torch

    from vadlib.features.extract import extract_features
    from vadlib.flow.mixup import mixup_flow
    from vadlib.flow.tvl1_params import TVL1Params
    from vadlib.flow.tvl1_torch import DualTVL1
    from vadlib.masks.stage import make_masks
    from vadlib.oneclass import score_luss, score_memae_cvae, score_stpa, train_luss, train_memae_cvae, train_stpa
    from vadlib.oneclass.clips import Windows
    from vadlib.stores import open_store, write_store

    cfg, device = ctx["sizes"]["oneclass"], ctx["device"]
    deadline = time.perf_counter() + budget
    conf = oneclass_config(cfg["overrides"])
    frames, labels, source = load_ped2(ctx)
    train = sorted(v for v in frames if v.startswith("train"))
    test = sorted(v for v in frames if v.startswith("test"))
    out: dict[str, Any] = {"ran_on": ctx["where"], "data": {**source, "train_videos": len(train),
                                                            "test_videos": len(test),
                                                            "train_frames": sum(len(frames[v]) for v in train),
                                                            "test_frames": sum(len(frames[v]) for v in test)}}
    t: dict[str, float] = {}
    dev = str(device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def path(kind: str, video: str) -> str:
            return str(root / kind / f"{video}.zarr")

        start = time.perf_counter()
        for video, grey in frames.items():
            rgb = np.repeat(grey[..., None], 3, axis=-1)
            write_store(path("frames", video), "frames", rgb,
                        {"source": source["source"], "fps": 10, "original_size": [240, 360],
                         "stored_size": list(rgb.shape[1:3])})
        t["frames_stores"] = time.perf_counter() - start

        # TV-L1 flow of every video, on this device; fewer iterations when the TV-L1 stage's rate says
        # the pipeline's settings would not fit a third of the stage's budget.
        flow_params = dict(conf["flow"], method="torch")
        pairs = sum(len(frames[v]) - 1 for v in frames)
        measured = (ctx.get("tvl1_pairs_per_s") or {}).get("256x256")
        flow_note = ("the pipeline's TV-L1 settings (config/config.yaml flow:)" if not cfg["overrides"].get("flow")
                     else "config/config.yaml flow: with this run's overrides")
        if measured and pairs / measured > budget / 3:
            factor = (budget / 3) / (pairs / measured)
            flow_params["outer_iterations"] = max(1, int(flow_params["outer_iterations"] * factor))
            flow_note = (f"outer_iterations cut to {flow_params['outer_iterations']} to fit the budget (the "
                         f"TV-L1 stage's {measured:.1f} pairs/s at 256x256)")
        # One module for every video (compute_flow builds one per video, and on CUDA each would compile
        # again); the TV-L1 stage's, already compiled, when it ran. The frames are grey already.
        tvl1 = TVL1Params.from_config(flow_params)
        compiled = device.type == "cuda" if flow_params["compile"] == "auto" else bool(flow_params["compile"])
        module = ctx.get("tvl1_module") if compiled and ctx.get("tvl1_module") is not None else None
        module = module or DualTVL1(tvl1, compile=compiled)
        module.params = tvl1
        with timed(device, t, "flow"), torch.no_grad():
            for video, grey in frames.items():
                flows = []
                for first in range(0, len(grey) - 1, flow_params["batch"]):
                    x = torch.from_numpy(grey[first:first + flow_params["batch"] + 1]).to(device).float()
                    flows.append(module(x[:-1], x[1:]).cpu().numpy().astype(np.float16))
                write_store(path("flow", video), "flow", np.concatenate(flows),
                            {"method": "torch", "parameters": tvl1.as_dict(), "size": list(grey.shape[1:]),
                             "frames": path("frames", video), "device": dev, "compiled": compiled,
                             "frame_size": list(grey.shape[1:]), "color": "grey (the frames' three channels)"})
        out["flow"] = {"pairs": pairs, "pairs_per_s": pairs / t["flow"], "settings": flow_note,
                       "parameters": {k: flow_params[k] for k in ("nscales", "warps", "inner_iterations",
                                                                  "outer_iterations", "batch")}}

        start = time.perf_counter()
        for video in train:
            make_masks(path("frames", video), path("masks", video), conf["masks"])
            masks = open_store(path("masks", video), "masks").read()
            rgb = np.repeat(frames[video][..., None], 3, axis=-1)
            write_store(path("inpainted", video), "inpainted", telea_inpaint(rgb, masks),
                        {"model": "cv2.inpaint (Telea, radius 3): a stand-in for the LDM", "pretrained": False,
                         "parameters": {"radius": 3}})
            mixup_flow(path("flow", video), path("masks", video), path("mixup", video), conf["mixup"])
        t["masks_inpaint_mixup"] = time.perf_counter() - start
        with timed(device, t, "i3d_features"):
            for video in frames:
                extract_features(path("frames", video), path("i3d", video), conf["i3d"], dev)
            for video in train:
                extract_features(path("inpainted", video), path("i3d_inpainted", video), conf["i3d"], dev,
                                 kind="inpainted")
        out["prepare_seconds"] = dict(t)
        out["inputs"] = {"masks": f"{conf['masks']['kind']} (background subtraction: Ped2 has no object masks)",
                         "inpainted": "cv2.inpaint (Telea) under the masks, not the LDM (50 DDIM steps per frame "
                                      "do not fit the budget; the inpaint stage times the LDM)",
                         "features": f"I3D R50, {conf['i3d']['crops']} crop(s) per snippet, seeded random "
                                     f"initialisation (no weights on the machine)"}

        lengths = [len(frames[v]) for v in train]
        test_lengths = [len(frames[v]) for v in test]
        methods = {
            "luss": {"span": 1, "train": lambda p, m: train_luss([path("frames", v) for v in train], m, p, dev),
                     "score": lambda p, m, s: score_luss(m, {v: path("frames", v) for v in test}, s, p, dev)},
            "memae_cvae": {
                "span": 1,
                "train": lambda p, m: train_memae_cvae([path("frames", v) for v in train],
                                                       [path("flow", v) for v in train], m, p, dev),
                "score": lambda p, m, s: score_memae_cvae(m, {v: path("frames", v) for v in test},
                                                          {v: path("flow", v) for v in test}, s, p, dev)},
            "stpa": {
                "span": 0,
                "train": lambda p, m: train_stpa(
                    [path("frames", v) for v in train], [path("flow", v) for v in train],
                    [path("inpainted", v) for v in train], [path("masks", v) for v in train],
                    [path("mixup", v) for v in train], [path("i3d", v) for v in train],
                    [path("i3d_inpainted", v) for v in train], m, p, dev),
                "score": lambda p, m, s: score_stpa(m, {v: path("frames", v) for v in test},
                                                    {v: path("flow", v) for v in test},
                                                    {v: path("i3d", v) for v in test}, s, p, dev)},
        }
        results = {}
        for k, (name, spec) in enumerate(methods.items()):
            left = deadline - time.perf_counter()
            share = left / (len(methods) - k)
            if share < 5:
                results[name] = {"status": "skipped", "reason": f"{left:.0f} s left of the stage's budget"}
                continue
            try:
                results[name] = train_method(name, spec, conf["methods"][name], conf["published"], lengths,
                                             test_lengths, labels, share, cfg, root, device, Windows)
            except Exception as err:  # noqa: BLE001 - one method's failure leaves the others
                results[name] = {"status": "failed", "reason": f"{type(err).__name__}: {err}"[:600],
                                 "traceback": traceback.format_exc(limit=6).splitlines()[-8:]}
            if device.type == "cuda":
                torch.cuda.empty_cache()
    out["methods"] = results
    out["timings"] = t
    measured = {k: v["seconds_per_epoch"] for k, v in results.items() if v.get("seconds_per_epoch")}
    if not measured:
        raise RuntimeError(f"no method was measured: {json.dumps(rounded(results))[:800]}")
    out["headline"] = {f"{k}_seconds_per_epoch": v for k, v in measured.items()}
    return out


def train_method(name: str, spec: dict, params: dict, published: dict, lengths: list[int],
                 test_lengths: list[int], labels: dict, budget: float, cfg: dict, root: Path, device,
                 Windows) -> dict:
    """Probe epoch, budgeted training and scoring of one method; seconds per full epoch and the AUC."""
    deadline = time.perf_counter() + budget
    L = params["clip_len"]
    span = L + spec["span"]
    full = len(Windows(lengths, span, 1))
    test_windows = len(Windows(test_lengths, span, 1))
    batch = params["batch"]
    epochs_key = {"luss": ("epochs",), "memae_cvae": ("memae_epochs", "cvae_epochs"), "stpa": ("epochs",)}[name]
    paper_epochs = params[epochs_key[0]]

    def run(stride: int, epochs: int, tag: str) -> tuple[float, int, dict]:
        p = {**params, "train_stride": stride, **{k: epochs for k in epochs_key}}
        model = str(root / "models" / f"{name}_{tag}.pt")
        start = time.perf_counter()
        spec["train"](p, model)
        wall = time.perf_counter() - start
        extra = json.loads(Path(model).with_suffix(".json").read_text())["extra"]
        return float(extra.get("train_seconds", wall)), len(Windows(lengths, span, stride)) * epochs, \
            {"model": model, "params": p, "wall": wall}

    probe_stride = max(1, full // (cfg["probe_batches"] * batch))
    probe_seconds, probe_windows, probe = run(probe_stride, 1, "probe")
    per_window = probe_seconds / probe_windows
    record: dict[str, Any] = {"status": "measured", "batch": batch, "size": params["size"],
                              "widths": params["widths"], "clip_len": L, "train_windows_per_epoch": full,
                              "paper_epochs": paper_epochs,
                              "probe": {"train_stride": probe_stride, "windows": probe_windows,
                                        "seconds": probe_seconds, "wall_seconds": probe["wall"]},
                              "seconds_per_epoch": per_window * full,
                              "seconds_per_epoch_from": "probe (first epoch, warm-up included)"}
    last = probe
    trained = {"epochs": 1, "train_stride": probe_stride, "windows": probe_windows}
    left = deadline - time.perf_counter()
    score_cost = 0.4 * per_window * test_windows
    test_stride = max(1, math.ceil(score_cost / max(0.3 * left, 1e-6)))
    train_budget = left - score_cost / test_stride - 0.1 * left
    max_epochs = cfg["max_epochs"] or paper_epochs
    if train_budget > 2 * probe_seconds and not cfg["probe_only"]:
        epochs = int(min(max_epochs, train_budget // (per_window * full)))
        stride = 1 if epochs >= 1 else math.ceil(full * per_window / train_budget)
        epochs = max(epochs, 1)
        seconds, windows, last = run(stride, epochs, "main")
        trained = {"epochs": epochs, "train_stride": stride, "windows": windows, "seconds": seconds}
        record["seconds_per_epoch"] = seconds / windows * full
        record["seconds_per_epoch_from"] = (f"the budgeted run ({epochs} epoch(s) at train_stride {stride})"
                                            + ("" if stride == 1 else ", scaled to every window"))
    record["trained"] = trained
    record["windows_per_s"] = full / record["seconds_per_epoch"]
    score_params = {**last["params"], "test_stride": test_stride}
    start = time.perf_counter()
    rows = spec["score"](score_params, last["model"], str(root / "scores" / f"{name}.npz"))
    record["score"] = {"test_stride": test_stride, "seconds": time.perf_counter() - start}
    aucs = micro_auc(rows, labels)
    record["micro_auc"] = aucs
    record["auc_combined"] = aucs.get("combined")
    record["published_auc_combined"] = published.get(f"{name}/combined")
    record["note"] = (f"AUC after {trained['epochs']} epoch(s) at train_stride {trained['train_stride']} "
                      f"(the paper trains {paper_epochs} epochs at stride 1)")
    if time.perf_counter() > deadline + 5:
        record["over_budget_s"] = time.perf_counter() - deadline
    return record


# --- main -------------------------------------------------------------------------------------------

STAGES: dict[str, Callable[[dict, float], dict]] = {
    "i3d": stage_i3d, "tvl1": stage_tvl1, "decode_i3d": stage_decode_i3d, "inpaint": stage_inpaint,
    "oneclass": stage_oneclass,
}


def targets_summary(stages: dict) -> dict:
    i3d, tvl1 = stages.get("i3d", {}), stages.get("tvl1", {})
    summary: dict[str, Any] = {"definitions": TARGETS}
    if i3d.get("status") == "measured":
        summary["i3d"] = {**i3d["targets"], "bound": i3d.get("bound")}
    if tvl1.get("status") == "measured":
        summary["tvl1"] = {k: {**v.get("targets", {}), "bound": v.get("bound")} if "targets" in v
                           else "no OpenCV figures to compare with" for k, v in tvl1["sizes"].items()}
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--out", type=Path, default=RESULTS, help="the JSON written (default bench/results/gpu.json)")
    ap.add_argument("--payload", type=Path, default=None, help="folder made by bench/gpu_payload.py")
    ap.add_argument("--opencv-baseline", type=Path, default=None,
                    help="OpenCV TV-L1 baseline JSON (default: the payload's tvl1_opencv.json)")
    ap.add_argument("--ped2", type=Path, default=DEFAULT_PED2, help="UCSD Ped2 frame folders (without a payload)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for all stages (420; with --smoke 600: its sizes, not the budget, bound it)")
    ap.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES))
    ap.add_argument("--device", default="auto", help="auto | cuda | cpu")
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, on the CPU, under a minute")
    args = ap.parse_args(argv)

    began = time.perf_counter()
    os.environ.setdefault("VADLIB_PROGRESS", "0")
    payload_info = install_payload(args.payload) if args.payload else None
    import torch

    from vadlib.runtime import torch_device

    from common import code_state

    device = torch_device("cpu" if args.smoke and args.device == "auto" else args.device)
    budget = args.budget or (600.0 if args.smoke else 420.0)
    baseline = args.opencv_baseline
    if baseline is None and args.payload and (args.payload / "tvl1_opencv.json").exists():
        baseline = args.payload / "tvl1_opencv.json"
    info = machine(device)
    where = (f"GPU {info['gpu']['name']} of {info['host']}" if info["gpu"] else
             f"CPU of {info['host']} ({info['cpu']}, {info['torch_threads']} torch threads)")
    ctx = {"device": device, "sizes": SMOKE if args.smoke else FULL, "machine": info, "where": where,
           "payload_dir": args.payload, "ped2": args.ped2, "opencv_baseline": baseline,
           "no_compile": args.no_compile or args.smoke}
    record = {"benchmark": "gpu", "mode": "smoke" if args.smoke else "full", "command": sys.argv if argv is None
              else ["bench/bench_gpu.py", *argv], "when": time.strftime("%Y-%m-%d %H:%M:%S"),
              "code": code_state(), "machine": info, "payload": payload_info, "budget_s": budget,
              "stages": {}, "complete": False}
    recorder = Recorder(args.out, record)
    recorder.write()
    print(f"bench_gpu ({record['mode']}) on {where}, torch {torch.__version__}, budget {budget:.0f} s", flush=True)
    stage_start = time.perf_counter()
    for k, name in enumerate(args.stages):
        left = budget - (time.perf_counter() - stage_start)
        stage_budget = left * STAGE_SHARES[name] / sum(STAGE_SHARES[s] for s in args.stages[k:])
        record["stages"][name] = run_stage(name, STAGES[name], ctx, stage_budget)
        record["elapsed_s"] = time.perf_counter() - began
        record["targets"] = targets_summary(record["stages"])
        recorder.write()
    record["complete"] = True
    record["elapsed_s"] = time.perf_counter() - began
    recorder.write()
    print(f"wrote {args.out} ({record['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
