"""bench/bench_gpu.py: the smoke run's JSON, the OpenCV baseline taken elsewhere, and the payload's Ped2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_gpu  # noqa: E402
import gpu_payload  # noqa: E402

STAGES = ("i3d", "tvl1", "decode_i3d", "inpaint", "oneclass")


def _positive_numbers(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


@pytest.mark.slow
def test_smoke_run_measures_or_skips_every_stage(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "VADLIB_PROGRESS": "0"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--smoke", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["benchmark"] == "gpu" and record["mode"] == "smoke" and record["complete"] is True
    machine = record["machine"]
    for key in ("host", "cpu", "torch", "python", "gpu"):
        assert key in machine
    assert set(record["stages"]) == set(STAGES)
    for name, stage in record["stages"].items():
        assert stage["status"] in ("measured", "skipped"), (name, stage.get("reason"), stage.get("traceback"))
        assert stage["seconds"] >= 0 and "budget_s" in stage
        if stage["status"] == "skipped":
            assert isinstance(stage["reason"], str) and stage["reason"], name
            continue
        assert stage["headline"], name
        assert all(_positive_numbers(v) for v in stage["headline"].values()), (name, stage["headline"])
        assert stage["ran_on"] if name != "tvl1" else stage["torch"]["ran_on"]
    i3d = record["stages"]["i3d"]
    if i3d["status"] == "measured":
        assert i3d["gflop_per_clip"] > 0 and i3d["achieved_tflops"] > 0
        assert i3d["peak_dense_tflops"] is None and i3d["fraction_of_peak"] is None  # no card on the CPU
        assert i3d["compiled"]["status"] == "skipped" and i3d["compiled"]["reason"]
    tvl1 = record["stages"]["tvl1"]
    if tvl1["status"] == "measured":
        assert tvl1["opencv_source"] in ("this machine", "baseline file", "absent")
        for size in tvl1["sizes"].values():
            assert size["epe_torch_vs_truth"] >= 0 and size["pairs_per_s"] > 0
            if size["opencv"] is not None:
                assert size["opencv"]["pairs_per_s_1_thread"] > 0 and "targets" in size
    oneclass = record["stages"]["oneclass"]
    if oneclass["status"] == "measured":
        assert oneclass["data"]["train_videos"] > 0 and oneclass["data"]["differs_from_source"]
        for method in oneclass["methods"].values():
            assert method["status"] in ("measured", "skipped"), method.get("reason")
            if method["status"] == "measured":
                assert method["seconds_per_epoch"] > 0 and "micro_auc" in method
    elif not (ROOT.parent / "shared" / "data" / "ped2").is_dir():
        assert "Ped2" in oneclass["reason"]
    assert record["targets"]["definitions"] == bench_gpu.TARGETS


def test_tvl1_stage_reads_the_opencv_baseline_when_this_machine_has_no_contrib(tmp_path, monkeypatch):
    import cv2

    if not hasattr(cv2, "optflow"):
        pytest.skip("making the baseline needs opencv-contrib")
    from vadlib.flow.tvl1_params import TVL1Params

    sizes = tuple((h, w, n, 0) for (h, w, _, _), n in zip(bench_gpu.SMOKE["tvl1"]["sizes"],
                                                            bench_gpu.SMOKE["tvl1"]["scored_pairs"]))
    params = TVL1Params(**bench_gpu.SMOKE["tvl1"]["params"])
    record, arrays = gpu_payload.opencv_baseline(sizes, params)
    np.savez_compressed(tmp_path / "tvl1_opencv.npz", **arrays)
    (tmp_path / "tvl1_opencv.json").write_text(json.dumps(record))
    monkeypatch.delattr(cv2, "optflow")
    import torch

    ctx = {"device": torch.device("cpu"), "sizes": bench_gpu.SMOKE, "where": "CPU here", "no_compile": True,
           "opencv_baseline": tmp_path / "tvl1_opencv.json"}
    out = bench_gpu.stage_tvl1(ctx, budget=120)
    assert out["opencv_source"] == "baseline file" and "no cv2.optflow" in out["opencv_ran_on"]
    for key, row in out["sizes"].items():
        assert row["opencv"]["pairs_per_s_1_thread"] == pytest.approx(record["sizes"][key]["pairs_per_s_1_thread"])
        assert row["epe_opencv_vs_truth"] == pytest.approx(record["sizes"][key]["epe_opencv_vs_truth"], abs=0.02)
        assert row["epe_torch_vs_opencv"] < 0.05  # the same algorithm, the same parameters
        assert row["epe_torch_vs_opencv"] >= 0 and isinstance(row["targets"]["ratio_ge_100"], bool)
    assert out["parameters"] == record["parameters"]

    # Neither contrib nor a baseline: the GPU side still runs, the OpenCV side says why it is absent.
    ctx["opencv_baseline"] = None
    out = bench_gpu.stage_tvl1(ctx, budget=120)
    assert out["opencv_source"] == "absent" and "cv2.optflow" in out["opencv_absent_reason"]
    assert all(row["opencv"] is None and row["pairs_per_s"] > 0 for row in out["sizes"].values())


def _fake_ped2(root: Path, frames: int = 20) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(0)
    for split, count in (("training", 2), ("testing", 2)):
        for v in range(count):
            folder = root / split / "frames" / f"{v + 1:02d}"
            folder.mkdir(parents=True)
            for t in range(frames):
                image = np.repeat(rng.integers(0, 255, (24, 36, 1), dtype=np.uint8), 3, axis=-1)
                cv2.imwrite(str(folder / f"{t:03d}.jpg"), image)
    labels = (np.arange(2 * frames) % frames >= frames // 2).astype(np.int64)
    np.save(root / "frame_labels_ped2.npy", labels[None])
    return labels


def test_payload_ped2_round_trip_and_install_without_wheels(tmp_path):
    labels = _fake_ped2(tmp_path / "ped2")
    payload = tmp_path / "payload"
    payload.mkdir()
    meta = gpu_payload.pack_ped2(tmp_path / "ped2", payload, size=32)
    assert meta["frames"] == 80 and meta["size"] == [32, 32]
    (payload / "manifest.json").write_text(json.dumps({"wheels": [
        {"wheel": "numpy-0-py3-none-any.whl", "distribution": "numpy", "version": "0", "module": "numpy"}]}))
    info = bench_gpu.install_payload(payload)
    assert info["present"] == ["numpy"] and info["installed"] == [] and "error" not in info

    ctx = {"sizes": {"oneclass": {**bench_gpu.FULL["oneclass"], "frame_size": 32, "frames": 10}},
           "payload_dir": payload, "ped2": None}
    frames, truth, source = bench_gpu.load_ped2(ctx)
    assert sorted(frames) == ["test_01", "test_02", "train_01", "train_02"]
    assert all(f.shape == (10, 32, 32) and f.dtype == np.uint8 for f in frames.values())
    kept = np.round(np.linspace(0, 19, 10)).astype(int)
    assert truth["test_01"].tolist() == labels[kept].tolist()
    assert truth["test_02"].tolist() == labels[20 + kept].tolist()
    assert "JPEG" in source["differs_from_source"]

    ctx = {**ctx, "payload_dir": None, "ped2": tmp_path / "missing"}
    with pytest.raises(bench_gpu.StageSkipped, match="no Ped2"):
        bench_gpu.load_ped2(ctx)


def test_peak_table_matches_card_names():
    assert bench_gpu.peak_tflops("NVIDIA H200")[0] == 989.0
    assert bench_gpu.peak_tflops("NVIDIA H100 80GB HBM3")[0] == 989.0
    assert bench_gpu.peak_tflops("NVIDIA H100 PCIe")[0] == 756.0
    assert bench_gpu.peak_tflops("NVIDIA A100-SXM4-80GB")[0] == 312.0
    assert bench_gpu.peak_tflops("NVIDIA L4")[0] == 121.0
    assert bench_gpu.peak_tflops("NVIDIA L40S")[0] == 362.0
    assert bench_gpu.peak_tflops("NVIDIA GH200 480GB")[0] == 989.0
    assert bench_gpu.peak_tflops("Some Future Card") == (None, None)
