"""UCSD Ped2 as it is held (``../shared/data/ped2``, see its README): the three label sources agree
frame for frame, the published figures and the benchmark config are well formed, and a subset of two
training and two test videos runs the whole one-class chain through Snakemake.

The tests that need the data skip where it is absent."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from vadlib.data.adapters import build, list_videos
from vadlib.data.adapters.base import count_images
from vadlib.data.adapters.ucsd_avenue import ucsd_m_labels

from conftest import copy_workflow, snakemake

ROOT = Path(__file__).resolve().parents[1]
PED2 = ROOT.parent / "shared" / "data" / "ped2"   # ../shared from the project's root
DATASETS = ROOT / "config" / "datasets"
ONECLASS_ROWS = {"reference", "luss/combined", "luss/combined_minmax", "luss/prp", "memae_cvae/combined",
                 "memae_cvae/reconstruction", "memae_cvae/prediction", "memae_cvae/compactness",
                 "stpa/combined", "stpa/combined_nodisc", "stpa/spatial", "stpa/temporal", "stpa/discriminator"}


def need_ped2() -> None:
    needed = [PED2 / "training" / "frames", PED2 / "testing" / "frames", PED2 / "frame_labels_ped2.npy",
              PED2 / "UCSDped2.m"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"UCSD Ped2 is not here: {missing} (../shared/data/ped2 from the project's root, see its README)")


def dataset_file(name: str) -> dict:
    return yaml.safe_load((DATASETS / f"{name}.yaml").read_text())


def ped2_cfg(**overrides) -> dict:
    return {**dataset_file("ped2"), "root": str(PED2), **overrides}


def schema() -> dict:
    return yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())


# --- the label sources ------------------------------------------------------------------------------


def test_the_three_label_sources_agree_frame_for_frame():
    """``frame_labels_ped2.npy`` (MNAD's, concatenated), ``UCSDped2.m`` (the release's ranges, placed by
    the frame folders' counts) and the adapter's per-video ground truth, with either file."""
    need_ped2()
    concatenated = np.load(PED2 / "frame_labels_ped2.npy").reshape(-1)
    assert concatenated.size == 2010 and int(concatenated.sum()) == 1648
    folders = sorted(p for p in (PED2 / "testing" / "frames").iterdir() if p.is_dir())
    counts = [count_images(p) for p in folders]
    assert len(folders) == 12 and sum(counts) == 2010
    from_m = np.concatenate(ucsd_m_labels(PED2 / "UCSDped2.m", counts, [p.name for p in folders]))
    np.testing.assert_array_equal(from_m, concatenated)

    entries, truth = build(ped2_cfg())
    tests = [e for e in entries if e.split_oneclass == "test"]
    assert [e.n_frames for e in tests] == counts
    np.testing.assert_array_equal(np.concatenate([truth[e.video] for e in tests]), concatenated)
    _, truth_m = build(ped2_cfg(labels="UCSDped2.m", label_format="ucsd_m"))
    assert truth_m.keys() == truth.keys()
    for video in truth:
        np.testing.assert_array_equal(truth_m[video], truth[video], err_msg=video)
    train = [e for e in entries if e.split_oneclass == "train"]
    assert len(train) == 16 and sum(e.n_frames for e in train) == 2550
    assert all(e.label == 1 for e in tests)  # every Ped2 test video holds an anomaly


def test_limit_subsets_the_real_dataset_with_its_labels():
    need_ped2()
    cfg = ped2_cfg(limit={"train": 2, "test": 2})
    assert [e.video for e in list_videos(cfg)] == ["train_01", "train_02", "test_01", "test_02"]
    entries, truth = build(cfg)
    concatenated = np.load(PED2 / "frame_labels_ped2.npy").reshape(-1)
    n1, n2 = (e.n_frames for e in entries[2:])
    np.testing.assert_array_equal(np.concatenate([truth["test_01"], truth["test_02"]]), concatenated[:n1 + n2])


# --- the published figures and the benchmark config ------------------------------------------------


def test_dataset_files_validate_with_their_published_figures():
    sub = {"$defs": schema()["$defs"], **schema()["$defs"]["dataset"]}
    for name in ("ped2", "ped2_ucsd"):
        jsonschema.validate(dataset_file(name), sub)
    published = dataset_file("ped2")["published"]
    assert published == dataset_file("ped2_ucsd")["published"]  # one dataset, two layouts
    assert published["luss/combined"] == 98.52 and published["memae_cvae/combined"] == 98.1
    assert published["stpa/combined"] == 93.53
    assert set(published) <= ONECLASS_ROWS
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**dataset_file("ped2"), "published": {"luss/combined": 0.9852e3}}, sub)


# Every key config/ped2_cpu.yaml may set: sizes (of frames, flow pyramids, networks, clips, the LDM's
# training set, the masked share of frames and the windows of an epoch), epochs, the flow's implementation
# (the same TV-L1) and the weakly supervised methods off. Anything else would change a method away from
# its paper's settings.
REDUCTIONS = {
    ("methods",), ("decode", "size"), ("flow", "method"), ("flow", "size"), ("flow", "nscales"), ("flow", "warps"),
    ("features", "i3d", "short_side"), ("features", "i3d", "crop"), ("features", "i3d", "batch"),
    ("masks", "frame_prob"), ("masks", "hold"), ("inpaint", "steps"), ("inpaint", "train"),
    ("oneclass", "size"), ("oneclass", "clip_len"), ("oneclass", "widths"), ("oneclass", "train_stride"),
    ("luss", "epochs"),
    ("memae_cvae", "memae_epochs"), ("memae_cvae", "cvae_epochs"), ("memae_cvae", "cvae_widths"),
    ("memae_cvae", "latent"), ("stpa", "epochs"),
}


def merge(base: dict, override: dict) -> dict:
    """Snakemake's merge of a configfile over the defaults (a nested dict's keys one by one)."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def leaves(tree: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in tree.items():
        path = (*prefix, key)
        out += [path] if path in REDUCTIONS or not isinstance(value, dict) else leaves(value, path)
    return out


# not a reduction: no Kinetics checkpoint is here, and a real dataset's extraction needs the consent
CONSENTS = {("features", "i3d", "weights"): "untrained"}


def test_the_ped2_cpu_config_only_shrinks_sizes_and_epochs():
    bench = yaml.safe_load((ROOT / "config" / "ped2_cpu.yaml").read_text())
    assert set(leaves(bench)) <= REDUCTIONS | set(CONSENTS), sorted(set(leaves(bench)) - REDUCTIONS - set(CONSENTS))
    assert all(bench[a][b][c] == value for (a, b, c), value in CONSENTS.items())
    assert not any(bench["methods"].values())  # only methods switched off
    merged = merge(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), bench)
    jsonschema.validate(merged, schema())  # as the Snakefile validates it


# --- the whole one-class chain on a subset -----------------------------------------------------------


@pytest.mark.slow
def test_a_ped2_subset_runs_the_whole_oneclass_chain(tmp_path):
    """Two training and two test videos of the real dataset, the tests' tiny sizes and one epoch: every
    one-class stage through Snakemake, and auc.json has a finite AUC on every one-class row, the
    published rows among them."""
    need_ped2()
    workdir = copy_workflow(tmp_path / "wf")
    override = {"datasets": {"ped2": {"root": str(PED2), "limit": {"train": 2, "test": 2}}},
                "methods": {m: False for m in ("mlp", "mlp_mtvae", "rtfm", "rtfm_mtvae", "lanet")},
                "features": {"i3d": {"weights": "untrained"}}}  # STPA's features: no Kinetics checkpoint here
    target = "results/test/ped2/auc.json"
    snakemake(workdir, targets=(target,), config=override)
    report = json.loads((workdir / target).read_text())
    rows = {r["label"]: r for r in report["rows"]}
    assert ONECLASS_ROWS <= set(rows), sorted(ONECLASS_ROWS - set(rows))
    assert {r["protocol"] for r in report["rows"]} == {"oneclass"}
    frames = 360  # test_01 and test_02: 180 frames each
    for label, row in rows.items():
        assert row["auc"] is not None and math.isfinite(row["auc"]), (label, row)
        assert row["videos"] == 2 and row["frames"] == frames, (label, row)
    assert set(dataset_file("ped2")["published"]) <= set(rows)
    truth = np.load(workdir / "results/test/ped2/ground_truth.npz")
    concatenated = np.load(PED2 / "frame_labels_ped2.npy").reshape(-1)
    np.testing.assert_array_equal(np.concatenate([truth["test_01"], truth["test_02"]]), concatenated[:frames])
    assert report["config"]["datasets"]["ped2"]["published"] == dataset_file("ped2")["published"]
