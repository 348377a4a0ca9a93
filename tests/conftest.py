"""Shared fixtures: running the workflow on a copy of it in a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def snakemake(workdir: Path, *options: str, targets: tuple[str, ...] = ("results/test/synthetic/auc.json",),
              config: dict | None = None, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir`` with the tiny test config (plus ``config`` overrides, written to a
    file as a user would); returns the completed process."""
    env = {**os.environ, "VADLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    configs = ["config/test.yaml"]
    if config:
        (workdir / "override.yaml").write_text(yaml.safe_dump(config))
        configs.append("override.yaml")
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--resources", "gpu=1", *options,
           "--configfile", *configs, "--", *targets]
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
