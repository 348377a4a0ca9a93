"""End-to-end runs of the tiny pipeline: the report, the DAG, and stale-only reruns."""

import json
import shutil

import numpy as np
import pytest

from conftest import ROOT, copy_workflow, snakemake

pytestmark = pytest.mark.slow
TARGET = "results/test/synthetic/auc.json"


def jobs(result) -> dict[str, int]:
    """Rule -> job count from the job-stats table of a (dry) run; empty when nothing is to be done."""
    counts = {}
    for line in (result.stdout + result.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            counts[parts[0]] = int(parts[1])
    return counts


def mtimes(workdir, pattern):
    return {p.relative_to(workdir): p.stat().st_mtime_ns for p in sorted(workdir.glob(pattern))}


def test_report_has_the_reference_row_above_chance(tiny_run):
    report = json.loads((tiny_run / TARGET).read_text())
    rows = {(r["label"], r["protocol"]): r for r in report["rows"]}
    ref = rows[("reference", "oneclass")]
    assert ref["auc"] > 0.5, ref
    assert ref["videos"] == 4 and ref["frames"] >= 4 * 32
    weak = {label for (label, protocol) in rows if protocol == "weak"}
    assert {"mlp", "mlp_mtvae", "rtfm", "rtfm_mtvae", "lanet"} <= weak
    oneclass = {label for (label, protocol) in rows if protocol == "oneclass"}
    assert {"luss/combined", "luss/combined_minmax", "luss/prp", "memae_cvae/combined", "memae_cvae/compactness",
            "stpa/combined", "stpa/combined_nodisc", "stpa/discriminator"} <= oneclass
    assert all(np.isfinite(r["auc"]) for r in report["rows"]), report["rows"]
    assert report["config"]["decode"]["size"] == [32, 48]
    assert (tiny_run / "results/test/synthetic/roc.png").exists()


def test_job_logs_hold_no_zarr_warning(tiny_run):
    """Snakemake's ``.snakemake_timestamp`` inside a directory output is no Zarr component: opening a store
    must not list its members (zarr warns once per store about the stranger)."""
    logs = sorted((tiny_run / "results/test/synthetic/logs").rglob("*.log"))
    assert logs
    warned = [str(p.relative_to(tiny_run)) for p in logs if "ZarrUserWarning" in p.read_text(errors="replace")]
    assert not warned, warned


def test_dry_run_lists_the_whole_dag(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    out = snakemake(workdir, "-n").stdout
    for rule in ("synthesize_video", "manifest", "decode", "reference_scores", "i3d", "train_detector",
                 "train_mtvae", "pseudo_videos", "score_detector", "flow", "masks", "train_ldm", "inpaint",
                 "inpaint_examples", "mixup", "train_oneclass", "score_oneclass", "evaluate"):
        assert rule in out, f"rule {rule} missing from the dry run:\n{out}"


@pytest.fixture
def fresh_run(tiny_run, tmp_path):
    """A private copy of the finished tiny run (outputs and Snakemake's metadata)."""
    workdir = tmp_path / "wf"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    return workdir


def test_evaluation_change_reruns_only_evaluation(fresh_run):
    frames = mtimes(fresh_run, "results/test/synthetic/frames/*.zarr/zarr.json")
    scores = mtimes(fresh_run, "results/test/synthetic/scores/*.npz")
    before = (fresh_run / TARGET).stat().st_mtime_ns
    change = {"evaluate": {"timeline_videos": 3}}
    planned = snakemake(fresh_run, "-n", "--quiet", "rules", config=change)
    assert jobs(planned) == {"evaluate": 1}
    snakemake(fresh_run, config=change)
    assert (fresh_run / TARGET).stat().st_mtime_ns > before
    assert mtimes(fresh_run, "results/test/synthetic/frames/*.zarr/zarr.json") == frames
    assert mtimes(fresh_run, "results/test/synthetic/scores/*.npz") == scores
    assert jobs(snakemake(fresh_run, "-n", "--quiet", "rules", config=change)) == {}  # nothing left to do


def test_decode_size_change_reruns_everything_downstream_of_decoding(fresh_run):
    """Snakemake's own plan after the edit: every stage fed by the frames, and nothing upstream."""
    planned = jobs(snakemake(fresh_run, "-n", "--quiet", "rules", config={"decode": {"size": [24, 32], "chunk": 16}}))
    results = fresh_run / "results/test/synthetic"
    count = {stage: len(list((results / stage).glob("*.zarr")))
             for stage in ("frames", "flow", "masks", "frames_inpainted")}
    assert "synthesize_video" not in planned and "manifest" not in planned
    assert planned["decode"] == count["frames"] and planned["i3d"] == count["frames"] + count["frames_inpainted"]
    assert planned["flow"] == count["flow"]
    assert planned["masks"] == planned["inpaint"] == planned["mixup"] == count["masks"]
    assert planned["reference_scores"] == 1 and planned["evaluate"] == 1
    assert planned["train_detector"] == 5 and planned["train_mtvae"] == 1 and planned["score_detector"] == 5
    assert planned["train_ldm"] == 1 and planned["train_oneclass"] == 3 and planned["score_oneclass"] == 3


def test_mtvae_alpha_change_reruns_only_mtvae_and_what_uses_it(fresh_run):
    planned = jobs(snakemake(fresh_run, "-n", "--quiet", "rules", config={"mtvae": {"alpha": 0.5}}))
    assert planned == {"train_mtvae": 1, "pseudo_videos": 1, "train_detector": 2, "score_detector": 2,
                       "training_curves": 1, "timings": 1, "evaluate": 1}, planned


def test_a_datasets_params_reach_its_weak_stage_alone(fresh_run):
    """A dataset file's ``params: {lanet: ...}`` (as XD-Violence's LA-Net settings) retrains LA-Net alone."""
    planned = jobs(snakemake(fresh_run, "-n", "--quiet", "rules",
                             config={"datasets": {"synthetic": {"params": {"lanet": {"sigma": 2.0}}}}}))
    assert planned == {"train_detector": 1, "score_detector": 1, "training_curves": 1, "timings": 1,
                       "evaluate": 1}, planned


def test_an_edit_of_a_vadlib_module_reruns_the_rules_whose_scripts_import_it(fresh_run):
    """Code versions come from the import graph of each rule's script (vadlib.codehash): a copy of vadlib
    in the working directory (the one the run imports) is edited, and Snakemake plans what runs it."""
    shutil.copytree(ROOT / "vadlib", fresh_run / "vadlib", ignore=shutil.ignore_patterns("__pycache__"))
    assert jobs(snakemake(fresh_run, "-n", "--quiet", "rules")) == {}  # the same sources: the same versions
    losses = fresh_run / "vadlib" / "weak" / "losses.py"
    losses.write_text(losses.read_text() + "\n# an edit\n")
    planned = jobs(snakemake(fresh_run, "-n", "--quiet", "rules"))
    reports = {"timings", "training_curves", "evaluate"}  # what reads the retrained models' outputs
    assert {"train_detector": 5, "train_mtvae": 1, "pseudo_videos": 1, "score_detector": 5}.items() <= planned.items()
    assert set(planned) - reports == {"train_detector", "train_mtvae", "pseudo_videos", "score_detector"}, planned
    # the importer of published features runs in no stage of a dataset of videos: nothing to redo
    losses.write_text(losses.read_text().removesuffix("\n# an edit\n"))
    importer = fresh_run / "vadlib" / "features" / "importer.py"
    importer.write_text(importer.read_text() + "\n# an edit\n")
    assert jobs(snakemake(fresh_run, "-n", "--quiet", "rules")) == {}


def test_another_datasets_config_leaves_this_report_alone(fresh_run):
    """The evaluation records (and is versioned by) the config its dataset's methods read, not the whole
    config: an edit of another dataset plans nothing."""
    change = {"datasets": {"ped2": {"root": "/elsewhere/ped2"}}}
    assert jobs(snakemake(fresh_run, "-n", "--quiet", "rules", config=change)) == {}
    report = json.loads((fresh_run / TARGET).read_text())
    assert set(report["config"]["datasets"]) == {"synthetic"} and report["config"]["seed"] == 0
    assert {"decode", "features", "flow", "oneclass", "luss", "mlp", "mtvae"} <= set(report["config"])


def test_seed_change_reruns_no_decoding_and_no_flow(fresh_run):
    """Decoding and TV-L1 draw no random number, so a new seed (a second training run, say) re-plans
    neither; the stages that draw from it (the seeded I3D initialisation, masks, inpainting, training) rerun."""
    planned = jobs(snakemake(fresh_run, "-n", "--quiet", "rules", config={"seed": 1}))
    results = fresh_run / "results/test/synthetic"
    count = {stage: len(list((results / stage).glob("*.zarr"))) for stage in ("frames", "masks", "frames_inpainted")}
    assert not {"synthesize_video", "manifest", "decode", "flow"} & set(planned), planned
    assert planned["i3d"] == count["frames"] + count["frames_inpainted"]  # no I3D weights: a seeded initialisation
    assert planned["masks"] == planned["inpaint"] == planned["mixup"] == count["masks"]
    assert planned["train_oneclass"] == 3 and planned["evaluate"] == 1
