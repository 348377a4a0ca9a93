"""DAG building: wall time of ``snakemake -n`` on two datasets of 1,900 videos (the size of UCF-Crime)
and of a no-op rerun after a finished tiny run against a bare ``snakemake --version`` start-up.

- The synthetic dataset grown to 1,900 videos, with every default method enabled: the DAG holds every
  stage (rendering, decoding, I3D of frames and inpainted frames, flow, masks, LDM inpainting, mixup,
  the weakly supervised and one-class detectors), about five jobs per video. Its baseline is the same
  dry run at 19 videos. The videos are never rendered: the synthetic adapter plans them from the config.
- UCF-Crime in its release layout (1,610 training and 290 test videos, written as empty files: planning
  opens no video) with its own protocol, weakly supervised: decoding, I3D and the weak detectors, what
  a user's dry run on the real dataset plans.

The issue's target: a dry run of 1,900 videos < 15 s. A second reference is Snakemake's own floor: a
workflow of as many trivial jobs (one input, one output, a shell command), which shows how much of the
time any workflow of that size pays. Seconds move with the machine (the floor itself went from 8 s to
14 s between two 2-core VMs); the ratio over the floor does not.

    python bench/bench_dag.py [--videos 1900] [--tiny-run DIR]

``--tiny-run`` reuses a finished run of the tiny pipeline (``config/test.yaml``, e.g. the tests'
``tiny_run``) instead of running one here (minutes on two cores).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import write_results  # noqa: E402
from conftest import copy_workflow  # noqa: E402  (the tests' copy of the workflow, not of vadlib)
from ucf_layout import FULL_SIZE, write_ucf_crime_release  # noqa: E402

# The default synthetic dataset's shape (config/datasets/synthetic.yaml has 40 / 21 / 20 / 28), scaled so
# that the baseline is 19 videos and the large run 100 times more; test_abnormal >= 7 anomaly types.
SPLIT_OF_19 = {"train_normal": 6, "train_abnormal": 4, "test_normal": 2, "test_abnormal": 7}
TARGET = "results/synthetic/auc.json"
UCF_TARGET = "results/ucf_crime/auc.json"
TINY_TARGET = "results/test/synthetic/auc.json"


def counts(videos: int) -> dict[str, int]:
    """Split counts adding to ``videos`` (a multiple of 19) in the proportions of ``SPLIT_OF_19``."""
    if videos % 19:
        raise SystemExit(f"--videos {videos}: must be a multiple of 19 (the baseline's split, scaled)")
    return {key: value * (videos // 19) for key, value in SPLIT_OF_19.items()}


CPU_SECONDS: list[float] = []  # CPU time (user + system) of each command run, in order


def run(workdir: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time and result of ``python -m snakemake ARGS`` in ``workdir``; a failure stops the bench.
    Its CPU time goes to ``CPU_SECONDS``: on a loaded machine it moves less than the wall time."""
    env = {**os.environ, "VADLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "snakemake", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {workdir} ({result.returncode}):\n"
                         f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return elapsed, result


def job_count(result: subprocess.CompletedProcess) -> int:
    """The ``total`` of Snakemake's job-stats table; 0 when nothing is to be done."""
    match = re.search(r"^total\s+(\d+)\s*$", result.stdout + result.stderr, re.M)
    return int(match.group(1)) if match else 0


def best_dry_run(workdir: Path, target: str, repeat: int) -> dict:
    """Best of ``repeat`` dry runs of ``target`` in ``workdir`` (with its ``override.yaml``), and the
    same without printing every job (what the DAG itself costs, without the listing)."""
    options = ("--cores", "2", "--configfile", "override.yaml", "--", target)
    times, cpu, jobs = [], [], 0
    for _ in range(repeat):
        elapsed, result = run(workdir, "-n", *options)
        times.append(elapsed)
        cpu.append(CPU_SECONDS[-1])
        jobs = job_count(result)
    quiet = min(run(workdir, "-n", "--quiet", "rules", *options)[0] for _ in range(repeat))
    return {"jobs": jobs, "seconds": min(times), "all_seconds": times, "cpu_seconds": min(cpu), "quiet_seconds": quiet}


def dry_run(root: Path, videos: int, repeat: int) -> dict:
    """The default pipeline (every method) on a ``videos``-video synthetic dataset."""
    workdir = copy_workflow(root / f"dag{videos}")
    (workdir / "override.yaml").write_text(yaml.safe_dump({"datasets": {"synthetic": {"synthetic": counts(videos)}}}))
    return {"videos": videos, **best_dry_run(workdir, TARGET, repeat)}


def ucf_crime_dry_run(root: Path, repeat: int) -> dict:
    """UCF-Crime at its full size in the release layout, with the dataset's own config (weak protocol)."""
    data = write_ucf_crime_release(root / "ucf_crime_data", **FULL_SIZE)
    workdir = copy_workflow(root / "ucf_crime")
    # no Kinetics checkpoint here: random features on purpose (planning opens no weights either way)
    (workdir / "override.yaml").write_text(yaml.safe_dump({"datasets": {"ucf_crime": {"root": str(data)}},
                                                           "features": {"i3d": {"weights": "untrained"}}}))
    return {"videos": sum(FULL_SIZE.values()), **best_dry_run(workdir, UCF_TARGET, repeat)}


FLOOR_SNAKEFILE = """\
rule all:
    input: expand("r/{{i}}.b", i=range({pairs}))
rule make:
    output: "r/{{i}}.a"
    shell: "touch {{output}}"
rule step:
    input: "r/{{i}}.a"
    output: "r/{{i}}.b"
    shell: "touch {{output}}"
"""


def snakemake_floor(workdir: Path, jobs: int, repeat: int) -> dict:
    """Snakemake's own cost at this job count: a dry run of a workflow of trivial jobs (one input, one
    output, a shell command; no params, log, benchmark, resources, conda or script), as many jobs."""
    workdir.mkdir()
    pairs = max(1, (jobs - 1) // 2)
    (workdir / "Snakefile").write_text(FLOOR_SNAKEFILE.format(pairs=pairs))
    times = []
    for _ in range(repeat):
        elapsed, result = run(workdir, "-n", "--cores", "2")
        times.append(elapsed)
    return {"jobs": job_count(result), "seconds": min(times), "all_seconds": times}


def noop_rerun(root: Path, tiny_run: Path | None, repeat: int) -> dict:
    """A finished tiny run: ``snakemake`` with nothing to do and its dry run, against ``--version``."""
    options = ("--cores", "2", "--resources", "gpu=1", "--configfile", "config/test.yaml", "--", TINY_TARGET)
    full_run_s = None
    if tiny_run is None:
        tiny_run = copy_workflow(root / "tiny")
        full_run_s, _ = run(tiny_run, *options)
    version = min(run(tiny_run, "--version")[0] for _ in range(repeat))
    figures = {"workdir": str(tiny_run), "full_run_seconds": full_run_s, "version_seconds": version}
    for name, extra in (("dry_rerun", ("-n",)), ("rerun", ())):  # the dry run first: it checks for a no-op
        times = []
        for _ in range(repeat):
            elapsed, result = run(tiny_run, *extra, *options)
            times.append(elapsed)
            if job_count(result):
                raise SystemExit(f"{tiny_run}: {job_count(result)} jobs to run, not a no-op: an unfinished run, "
                                 f"or code or config edited since it ran")
        figures[f"{name}_seconds"] = min(times)
        figures[f"ratio_{name}_over_version"] = min(times) / version
    return figures


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=1900)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs of each command")
    parser.add_argument("--tiny-run", type=Path, help="a finished tiny run to reuse for the no-op rerun")
    parser.add_argument("--skip-rerun", action="store_true", help="time the dry runs only")
    args = parser.parse_args()
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = dry_run(root, 19, args.repeat)
        large = dry_run(root, args.videos, args.repeat)
        ucf = ucf_crime_dry_run(root, args.repeat)
        floor = snakemake_floor(root / "floor", large["jobs"], args.repeat)
        ucf_floor = snakemake_floor(root / "floor_ucf_crime", ucf["jobs"], args.repeat)
        rerun = None if args.skip_rerun else noop_rerun(root, args.tiny_run.resolve() if args.tiny_run else None,
                                                         args.repeat)
    per_video_ms = 1000 * (large["seconds"] - base["seconds"]) / (args.videos - 19)
    figures = {"load_before": load_before, "load_after": load(),
               "dry_run_baseline": base, "dry_run": large, "dry_run_ucf_crime": ucf, "target_seconds": 15.0,
               "snakemake_floor": floor, "snakemake_floor_ucf_crime": ucf_floor,
               "ratio_dry_run_over_floor": large["seconds"] / floor["seconds"],
               "ratio_ucf_crime_over_floor": ucf["seconds"] / ucf_floor["seconds"],
               "ratio_dry_run_over_baseline": large["seconds"] / base["seconds"],
               "ratio_jobs": large["jobs"] / max(1, base["jobs"]), "per_video_ms": per_video_ms,
               "noop_rerun": rerun}
    print(f"dry run, synthetic, {base['videos']} videos ({base['jobs']} jobs):     {base['seconds']:.1f} s (baseline)")
    print(f"dry run, synthetic, {large['videos']} videos ({large['jobs']} jobs):  {large['seconds']:.1f} s "
          f"(target < 15 s; {per_video_ms:.1f} ms per added video)")
    print(f"  its CPU time:                              {large['cpu_seconds']:.1f} s "
          f"(baseline {base['cpu_seconds']:.1f} s)")
    print(f"  the same with --quiet rules:               {large['quiet_seconds']:.1f} s "
          f"(baseline {base['quiet_seconds']:.1f} s)")
    print(f"  ratio over the baseline:                   {figures['ratio_dry_run_over_baseline']:.1f}x time for "
          f"{figures['ratio_jobs']:.0f}x jobs")
    print(f"  Snakemake's floor, {floor['jobs']} trivial jobs:    {floor['seconds']:.1f} s "
          f"(the dry run is {figures['ratio_dry_run_over_floor']:.2f}x it)")
    print(f"dry run, UCF-Crime, {ucf['videos']} videos ({ucf['jobs']} jobs):  {ucf['seconds']:.1f} s (target < 15 s)")
    print(f"  Snakemake's floor, {ucf_floor['jobs']} trivial jobs:    {ucf_floor['seconds']:.1f} s "
          f"(the dry run is {figures['ratio_ucf_crime_over_floor']:.2f}x it)")
    if rerun:
        print(f"snakemake --version:                  {rerun['version_seconds']:.1f} s (baseline)")
        print(f"no-op rerun of the tiny run:          {rerun['rerun_seconds']:.1f} s "
              f"({rerun['ratio_rerun_over_version']:.1f}x)")
        print(f"dry run of the no-op rerun:           {rerun['dry_rerun_seconds']:.1f} s "
              f"({rerun['ratio_dry_rerun_over_version']:.1f}x)")
    print(f"load: {load_before} -> {figures['load_after']}")
    write_results("dag", figures)


if __name__ == "__main__":
    main()
