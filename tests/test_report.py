"""The Snakemake report of the tiny run (its AUC table, example figures and timings), and the table and
timings code behind it."""

from __future__ import annotations

import base64
import json
import re

import matplotlib.image
import pytest
import yaml

from vadlib.evaluate.table import html_table
from vadlib.evaluate.timings import collect_timings, read_benchmark, timings_report

from conftest import snakemake

RESULTS = "results/test/synthetic"
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _results(report_html: str) -> dict:
    """The report's embedded results: path -> entry, with each file's text decoded from its data URI."""
    results = json.loads(re.search(r"var results = (\{.*?\});\n", report_html, re.S).group(1))
    for entry in results.values():
        entry["text"] = base64.b64decode(entry["data_uri"].split("base64,", 1)[1]).decode("utf-8", "replace")
    return results


@pytest.mark.slow
def test_report_shows_the_table_figures_and_timings(tiny_run, tmp_path):
    out = tmp_path / "report.html"
    snakemake(tiny_run, "--report", str(out))
    results = _results(out.read_text())
    auc = json.loads((tiny_run / RESULTS / "auc.json").read_text())
    table = results[f"{RESULTS}/auc.html"]
    assert table["mime_type"] == "text/html"  # shown in the report, not offered as a download
    for row in auc["rows"]:
        assert f"<td>{row['label']}</td>" in table["text"]
    assert {"stpa/temporal", "memae_cvae/combined", "mlp_mtvae", "reference"} <= {r["label"] for r in auc["rows"]}
    videos = sorted(p.stem for p in (tiny_run / RESULTS / "figures/mixup").glob("*.png"))
    examples = yaml.safe_load((tiny_run / "config/test.yaml").read_text())["evaluate"]["example_videos"]
    assert len(videos) == examples >= 1
    for stage in ("mixup", "inpainting"):
        for video in videos:
            assert f"{RESULTS}/figures/{stage}/{video}.png" in results
    figures = ("roc", "roc_components", "timelines", "training", "timings")
    assert {f"{RESULTS}/{name}.png" for name in figures} <= set(results)
    assert results[f"{RESULTS}/training.png"]["mime_type"] == "image/png"
    timings = results[f"{RESULTS}/timings.html"]["text"]
    decodes = len(list((tiny_run / RESULTS / "benchmarks/decode").glob("*.tsv")))
    assert re.search(rf"<td>decode</td><td class=num>{decodes}</td><td class=num>[0-9.]+</td>", timings)
    assert "<td>train_ldm</td><td class=num>1</td>" in timings
    assert "Decode a video file" in timings  # the rule's docstring says what the stage does
    assert "Temporal (flow mixup)" in out.read_text()


def _auc_report():
    row = {"method": "luss", "row": "prp", "label": "luss/prp", "protocol": "oneclass", "pretrained": False,
           "auc": 0.61234, "ap": 0.7, "frames": 300, "videos": 8}
    weird = {**row, "method": "m<1>", "label": "m<1>", "auc": None, "ap": None, "frames": 0, "videos": 0,
             "protocol": "weak", "note": "dataset 'x' has no test split for protocol 'weak'"}
    return {"dataset": "x", "rows": [row, weird]}


def test_auc_html_table_escapes_and_notes():
    text = html_table(_auc_report())
    assert "<td>luss/prp</td>" in text and "<td class=num>61.23</td>" in text and "<td class=num>70.00</td>" in text
    assert "<td>m&lt;1&gt;</td>" in text and "<td class=num>-</td>" in text and "no test split" in text
    assert "<th>note</th>" in text
    assert "<th>note</th>" not in html_table({"dataset": "x", "rows": _auc_report()["rows"][:1]})


def _bench(path, *lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(line + "\n" for line in lines))


RULES = {"decode": {"benchmark": r"b/decode/(?P<video>[^/]+)\.tsv$", "doc": "Decode ``one`` video."},
         "train": {"benchmark": r"b/train/(?P<m>mlp|rtfm)\.tsv$", "doc": "Train."},
         "report": {"benchmark": None, "doc": "Not benchmarked."}}


def test_timings_sum_per_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _bench(tmp_path / "b/decode/v1.tsv", "2.0\t0:00:02\t100.5\t1\t1\t1\t0\t0\t50\t1.0")
    _bench(tmp_path / "b/decode/v2.tsv", "1.0\t0:00:01\t300\t1\t1\t1\t0\t0\t50\t1.0",
           "3.0\t0:00:03\t200\t1\t1\t1\t0\t0\t50\t1.0")  # two repeats: mean 2 s, max RSS 300
    _bench(tmp_path / "b/train/mlp.tsv", "10\t0:00:10\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA")
    _bench(tmp_path / "b/train/old_method.tsv", "5\t0:00:05\t10\t1\t1\t1\t0\t0\t50\t1.0")
    timings = {t.rule: t for t in collect_timings("b", RULES)}
    decode, train, stale = timings["decode"], timings["train"], timings["? train"]
    assert (decode.jobs, decode.total_s, decode.mean_s, decode.max_s, decode.max_rss_mb) == (2, 4.0, 2.0, 2.0, 300.0)
    assert (train.jobs, train.total_s, train.max_rss_mb) == (1, 10.0, None)
    assert stale.jobs == 1 and stale.total_s == 5.0
    assert decode.doc == "Decode one video." and not timings["report"].benchmarked
    assert [t.rule for t in collect_timings("b", RULES)] == ["train", "? train", "decode", "report"]

    rows = timings_report("b", RULES, "t.html", "t.png", "x")
    html = (tmp_path / "t.html").read_text()
    assert "<td>decode</td><td class=num>2</td><td class=num>4.00</td><td class=num>2.00</td>" in html
    assert "<td>report</td>" in html and "Not benchmarked. (no benchmark)" in html
    assert matplotlib.image.imread(tmp_path / "t.png").shape[0] > 100 and len(rows) == 4


def test_a_file_that_is_no_benchmark_fails_naming_it(tmp_path):
    path = tmp_path / "b/decode/v1.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match=r"v1\.tsv: not a Snakemake benchmark file"):
        read_benchmark(path)
