"""Shared fixtures: running the workflow on a copy of it in a temporary directory, and the tiny
pipeline killed mid-way and resumed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from vadlib.stores import StoreError, open_store

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ["Snakefile", "rules", "workflow_scripts", "config", "report", "profiles", "envs"]


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow (not vadlib, which is installed) into ``dest`` and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / part)
    return dest


def fingerprint(path: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of a file, or of every file under a directory (a store): equal means
    untouched, neither rewritten nor touched."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    assert files, f"{path}: nothing to fingerprint"
    return {str(f.relative_to(path) if path.is_dir() else f.name):
            (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in files}


def snakemake_command(workdir: Path, *options: str, targets: tuple[str, ...] = ("results/test/synthetic/auc.json",),
                      config: dict | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run Snakemake in ``workdir`` with the tiny test config (plus
    ``config`` overrides, written to a file as a user would)."""
    env = {**os.environ, "VADLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    configs = ["config/test.yaml"]
    if config:
        (workdir / "override.yaml").write_text(yaml.safe_dump(config))
        configs.append("override.yaml")
    # no card here: the GPU rules run on the CPU, two at once like any other job (as `make demo` does);
    # one thread per job: the tiny pipeline's jobs spend most of their time importing torch on one core,
    # so two side by side finish sooner than one with two threads (a tiny run 183 s -> 153 s, 2 cores)
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--resources", "gpu=2", "--max-threads", "1", *options,
           "--configfile", *configs, "--", *targets]
    return cmd, env


def snakemake(workdir: Path, *options: str, targets: tuple[str, ...] = ("results/test/synthetic/auc.json",),
              config: dict | None = None, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run Snakemake (:func:`snakemake_command`) and return the completed process."""
    cmd, env = snakemake_command(workdir, *options, targets=targets, config=config)
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(cmd[3:])} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny pipeline run once to completion: returns its working directory."""
    workdir = copy_workflow(tmp_path_factory.mktemp("tiny") / "workflow")
    snakemake(workdir)
    return workdir


# --- the tiny pipeline killed mid-way, then resumed ---------------------------------------------------

RESULTS = "results/test/synthetic"


def stores(workdir: Path) -> list[Path]:
    """Every Zarr store at a final path (temporaries start with a dot)."""
    return sorted(p for p in (workdir / RESULTS).rglob("*.zarr") if not p.name.startswith("."))


def temporaries(workdir: Path) -> list[Path]:
    """Stores being written (or left by a killed writer): ``.{name}.zarr.tmp-{pid}``."""
    return sorted((workdir / RESULTS).rglob(".*.zarr.tmp-*"))


def kind(store: Path) -> str:
    return json.loads((store / "zarr.json").read_text())["attributes"]["kind"]


def assert_every_store_complete(workdir: Path) -> None:
    """No store at a final path lacks its completion mark; a writer's temporary is refused as incomplete."""
    for path in stores(workdir):
        open_store(path, kind(path))
    for tmp in temporaries(workdir):
        with pytest.raises(StoreError, match="incomplete"):
            open_store(tmp, kind(tmp))


def job_log(text: str) -> tuple[dict[int, tuple[str, list[str]]], set[int]]:
    """Snakemake's console output -> (job id -> (rule, outputs), ids of the finished jobs). A dry run
    prints the jobs of a group indented under the group."""
    jobs = {}
    for block in re.split(r"\n(?=[ \t]*(?:local)?rule \w+:\n)", text):
        block = block.split("\n\n")[0]
        rule = re.match(r"\s*(?:local)?rule (\w+):\n", block)
        output = re.search(r"^\s+output: (.+)$", block, re.M)
        jobid = re.search(r"^\s+jobid: (\d+)$", block, re.M)
        if rule and output and jobid:
            jobs[int(jobid.group(1))] = (rule.group(1), [o.strip() for o in output.group(1).split(",")])
    return jobs, {int(i) for i in re.findall(r"Finished jobid: (\d+)", text)}


def outputs(jobs: dict[int, tuple[str, list[str]]], ids) -> set[str]:
    return {o for i in ids for o in jobs[i][1]}


def poll(condition, timeout: float, process: subprocess.Popen, what: str) -> None:
    """Wait for ``condition()`` by polling the filesystem; fail if the pipeline ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the pipeline ended ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.1)


FRAMES = re.compile(rf"{re.escape(RESULTS)}/frames/[^/]+\.zarr$")
PER_VIDEO_STORE = re.compile(rf"{re.escape(RESULTS)}/(?!frames/).+/[^/]+\.zarr$")


@pytest.fixture(scope="session")
def killed_and_resumed(tmp_path_factory):
    """The tiny pipeline killed (SIGTERM to its process group) while a per-video stage runs, then planned
    and rerun with ``--rerun-incomplete``: what was killed, finished, planned and rerun (also the second
    run of the same config that the determinism test compares with ``tiny_run``)."""
    tmp_path = tmp_path_factory.mktemp("resume")
    workdir = copy_workflow(tmp_path / "wf")
    cmd, env = snakemake_command(workdir)
    log_path = tmp_path / "killed.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        def per_video_stage_under_way() -> bool:
            jobs, finished = job_log(log_path.read_text())
            done = outputs(jobs, finished)
            running = outputs(jobs, set(jobs) - finished)
            return (sum(bool(FRAMES.match(o)) for o in done) >= 2
                    and any(PER_VIDEO_STORE.match(o) for o in running))

        poll(per_video_stage_under_way, 600, process, "per-video stage under way")
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    jobs, finished = job_log(log_path.read_text())
    run = {"workdir": workdir, "returncode": process.returncode,
           "auc_after_kill": (workdir / RESULTS / "auc.json").exists(),
           "killed": outputs(jobs, set(jobs) - finished), "done": outputs(jobs, finished)}
    try:
        assert_every_store_complete(workdir)
        run["complete_after_kill"] = True
    except (StoreError, AssertionError, pytest.fail.Exception):
        run["complete_after_kill"] = False
    run["before"] = {o: fingerprint(workdir / o) for o in run["done"]}
    plan = snakemake(workdir, "-n", "--rerun-incomplete")
    planned_jobs, _ = job_log(plan.stdout + plan.stderr)
    run["planned"] = outputs(planned_jobs, planned_jobs)
    rerun = snakemake(workdir, "--rerun-incomplete")
    rerun_jobs, _ = job_log(rerun.stdout + rerun.stderr)
    run["rerun"] = outputs(rerun_jobs, rerun_jobs)
    return run
