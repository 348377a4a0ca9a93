"""The SLURM profile against a real SLURM: munged, slurmctld and slurmd started here on one node
(tests/slurm/cluster.py), jobs submitted by snakemake-executor-plugin-slurm, states read by squeue.

Two workflows run through it: a small one made here that exercises what the tiny pipeline does not
(``gpu=1`` rules, each a job with ``--gpus=1`` and its own card; a per-video group; a GPU group that
takes turns on one card) and the tiny pipeline itself. The node has two fake GPUs (gres.conf devices
that nothing opens), so SLURM's GPU bookkeeping and ``CUDA_VISIBLE_DEVICES`` are real.

Skipped only where the daemons cannot run here (no slurm and no root to install it, or a daemon that
does not start: its log is in the reason); ``VADLIB_REQUIRE_SLURM=1`` turns that skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import copy_workflow

sys.path.insert(0, str(Path(__file__).parent / "slurm"))
from cluster import ClusterUnavailable, SlurmCluster  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TARGET = "results/test/synthetic/auc.json"
# fast status checks: first after 2 s, then every 2 s after a job ended (+10 s per idle check)
STATUS_ARGS = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
               "--seconds-between-status-checks", "2"]
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
SBATCH = re.compile(r"^sbatch call: (.*)$", re.M)


@pytest.fixture(scope="module")
def cluster():
    started = time.monotonic()
    slurm = SlurmCluster()
    try:
        slurm.start()
    except ClusterUnavailable as err:
        slurm.stop()
        if os.environ.get("VADLIB_REQUIRE_SLURM") == "1":
            pytest.fail(f"SLURM cannot run here: {err}")
        pytest.skip(f"SLURM cannot run here: {err}")
    print(f"\n[slurm] cluster up in {time.monotonic() - started:.1f} s (install included), {slurm.root}")
    yield slurm
    slurm.stop()
    slurm.remove()


def run_snakemake(cluster: SlurmCluster, workdir: Path, *args: str, timeout: int = 600) -> str:
    """Run Snakemake with the SLURM profile under ``cluster``; return its output, failing with the
    output and the daemons' logs when it fails."""
    env = {**cluster.env, "VADLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "VADLIB_GPU_LOCKS": str(workdir / "gpu-locks")}
    # --cores 2: no job wider than the node; --retries 0: a broken job fails the test at once;
    # --verbose: the plugin logs its sbatch calls
    cmd = [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", *STATUS_ARGS, "--cores", "2",
           "--retries", "0", "--slurm-keep-successful-logs", "--verbose", *args]
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    out = result.stdout + result.stderr
    print(f"[slurm] {' '.join(args)}: {time.monotonic() - started:.1f} s")
    for line in SBATCH.findall(out):
        print(f"[slurm] sbatch call: {_shorten(line)}")
    if result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{out[-12000:]}\n{cluster.logs()}")
    return out


def _shorten(sbatch: str) -> str:
    """The sbatch call without the long --wrap payload."""
    return re.sub(r' --wrap=".*', ' --wrap="<snakemake job>"', sbatch)


def slurm_jobs(cluster: SlurmCluster, out: str) -> dict[str, str]:
    """SLURM job id -> state, for the jobs of this run as squeue lists them (MinJobAge keeps them)."""
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    listing = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T", "--name", run_id],
                             env=cluster.env, capture_output=True, text=True, check=True).stdout
    return dict(line.split("|") for line in listing.split())


def check_went_through_slurm(cluster: SlurmCluster, out: str, workdir: Path) -> list[tuple[str, str, Path]]:
    """Every submission has a SLURM job id that squeue lists as COMPLETED and a SLURM log file."""
    submitted = SUBMITTED.findall(out)
    assert submitted, f"no job was submitted to SLURM:\n{out[-4000:]}"
    states = slurm_jobs(cluster, out)
    for _, jobid, log in submitted:
        assert states.get(jobid) == "COMPLETED", (jobid, states)
        assert (workdir / log).is_file(), f"no SLURM log {log}"
    assert len(states) == len(submitted), (states, submitted)
    return [(sm, jobid, workdir / log) for sm, jobid, log in submitted]


GPU_WORKFLOW = textwrap.dedent('''
    """GPU rules and groups under SLURM: what each job saw is written to its output."""
    import json, os, time

    VIDEOS = ["v0", "v1", "v2"]

    rule all:
        input: expand("out/gpu_group/{v}.json", v=VIDEOS[:2]), expand("out/decode/{v}.txt", v=VIDEOS)

    def record(path, hold, partner=None):
        """Claim a card, note what this job saw, hold the card ``hold`` s (and until ``partner``,
        another job, holds its own: both then provably held a card at the same time)."""
        from vadlib.devices import claim_gpu
        with claim_gpu("auto", timeout=120) as device:
            seen = {"device": device, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                    "job": os.environ["SLURM_JOB_ID"], "start": time.time()}
            if partner:
                open(path + ".claimed", "w").close()
                deadline = time.time() + 120
                while not os.path.exists(partner + ".claimed") and time.time() < deadline:
                    time.sleep(0.2)
                seen["met_partner"] = os.path.exists(partner + ".claimed")
            time.sleep(hold)
            seen["end"] = time.time()
        with open(path, "w") as f:
            json.dump(seen, f)

    rule gpu_single:  # one SLURM job each, --gpus=1; both run at once on the 2-CPU node
        output: "out/gpu_single/{n}.json"
        resources: gpu=1, mem_mb=200, runtime=5
        run: record(output[0], 1, partner=f"out/gpu_single/{1 - int(wildcards.n)}.json")

    rule render:  # after gpu_single, so that those two have the node's 2 CPUs to themselves
        input: expand("out/gpu_single/{n}.json", n=[0, 1])
        output: "out/render/{v}.txt"
        group: "per_video"
        resources: mem_mb=200, runtime=5
        shell: "echo $SLURM_JOB_ID > {output}"

    rule decode:
        input: "out/render/{v}.txt"
        output: "out/decode/{v}.txt"
        group: "per_video"
        resources: mem_mb=200, runtime=5
        shell: "echo $SLURM_JOB_ID > {output}"

    rule gpu_group:  # two videos in one group job with one GPU: they take turns on it
        input: expand("out/gpu_single/{n}.json", n=[0, 1])
        output: "out/gpu_group/{v}.json"
        group: "per_video_gpu"
        resources: gpu=1, mem_mb=200, runtime=5
        run: record(output[0], 2)
''')


def test_gpu_rules_and_groups_go_through_slurm(cluster, tmp_path):
    if not cluster.gpu_files:
        pytest.skip("no fake GPU device files here (mknod not permitted): SLURM would set no "
                    "CUDA_VISIBLE_DEVICES to check")
    workdir = copy_workflow(tmp_path / "wf")
    (workdir / "Snakefile").write_text(GPU_WORKFLOW)
    out = run_snakemake(cluster, workdir, "--configfile", "config/test.yaml", "--", "all")
    jobs = check_went_through_slurm(cluster, out, workdir)
    calls = SBATCH.findall(out)
    kinds = sorted(_kind(c) for c in calls)
    assert len(jobs) == 4 and kinds == ["per_video", "per_video_gpu", "single", "single"], kinds
    sbatch = {_kind(c): c for c in calls}

    # gpu=1 became --gpus=1, for single jobs and for the GPU group; the CPU group asked for none
    assert all(" --gpus=1" in c for c in calls if _kind(c) != "per_video"), calls
    assert "--gpus" not in sbatch["per_video"]
    # a group job is budgeted for its members one after the other: one CPU, summed runtimes
    assert " -t 30 " in sbatch["per_video"] and "--cpus-per-task=1 " in sbatch["per_video"]  # 6 x 5 min
    assert " -t 10 " in sbatch["per_video_gpu"]  # 2 x 5 min

    # the two single GPU jobs ran at once, in two SLURM jobs, on the two cards SLURM gave them
    single = [json.loads((workdir / f"out/gpu_single/{n}.json").read_text()) for n in (0, 1)]
    assert single[0]["job"] != single[1]["job"]
    assert single[0]["met_partner"] and single[1]["met_partner"], single  # they held cards at once
    assert {s["cuda"] for s in single} == {"0", "1"}, single
    assert all(s["device"] == "cuda:0" for s in single), single  # claim_gpu took SLURM's card

    # the three videos' CPU stages ran in one SLURM job
    assert len({(workdir / f"out/{stage}/v{i}.txt").read_text() for stage in ("render", "decode")
                for i in range(3)}) == 1

    # the GPU group: one SLURM job, one card, its jobs one after the other on it
    grouped = sorted((json.loads((workdir / f"out/gpu_group/v{i}.json").read_text()) for i in (0, 1)),
                     key=lambda s: s["start"])
    assert grouped[0]["job"] == grouped[1]["job"] and grouped[0]["cuda"] == grouped[1]["cuda"], grouped
    assert grouped[0]["end"] <= grouped[1]["start"], grouped


def _kind(sbatch: str) -> str:
    """``single`` (a rule's own job) or the group's name, from the SLURM log path of an sbatch call."""
    log = re.search(r"--output (\S+)", sbatch).group(1)
    if "/slurm_logs/rule_" in log:
        return "single"
    found = re.search(r"/slurm_logs/group_(per_video_gpu|per_video)_", log)
    return found.group(1) if found else log


def test_tiny_pipeline_runs_through_slurm(cluster, tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    # The node's GPUs are fake (character devices standing in for cards), so the GPU stages run on the
    # CPU; the trained detectors stay off to keep the run within CI's budget (the local end-to-end tests
    # run them): this test is about the jobs going through SLURM.
    (workdir / "slurm_test.yaml").write_text(
        "device: cpu\nmethods: {mlp: false, mlp_mtvae: false, rtfm: false, rtfm_mtvae: false, lanet: false, "
        "luss: false, memae_cvae: false, stpa: false}\n")
    # 5 videos per group job: the 9 videos make 2 group jobs, one per CPU of the node
    out = run_snakemake(cluster, workdir, "--group-components", "per_video=5", "--configfile",
                        "config/test.yaml", "slurm_test.yaml", "--", TARGET)
    report = json.loads((workdir / TARGET).read_text())
    assert any(r["label"] == "reference" and r["auc"] > 0.5 for r in report["rows"]), report["rows"]

    jobs = check_went_through_slurm(cluster, out, workdir)
    table = out.split("Job stats:", 1)[1].strip().split("\n\n", 1)[0]  # rule / count, then total
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    total = int(stats.pop("total"))
    # the per-video stages were batched: 2 group jobs, far fewer SLURM jobs than Snakemake jobs
    groups = [log for _, _, log in jobs if re.search(r"/group_per_video_(?!gpu)", str(log))]
    assert len(groups) == 2, ("expected 2 SLURM jobs of group per_video (profiles/slurm puts the per-video rules "
                              f"in it), got the jobs {[str(log) for _, _, log in jobs]}")
    assert 2 * len(jobs) < total, (len(jobs), total)
    # every rule of the run finished inside the SLURM jobs (their logs say so), each video in a group
    logs = "\n".join(log.read_text() for _, _, log in jobs)
    assert set(re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)$", logs, re.M)) == set(stats), stats
    group_logs = "\n".join(log.read_text() for log in groups)
    for video in {p.stem for p in (workdir / "results/test/synthetic/source/videos").glob("*.mp4")}:
        assert f"video={video}" in group_logs, video
