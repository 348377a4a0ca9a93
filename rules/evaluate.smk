"""Evaluation: frame-level micro and macro AUC, AP and PR-AUC of every enabled method, ROC curves and
timelines, and the benchmark timings of the run; the report's front page (``snakemake --report``)."""


report: "../report/workflow.rst"


rule timings:
    """Sum the benchmark files of the dataset's jobs per rule (jobs; total, mean and largest wall
    seconds; largest resident memory) into a table, with each rule's docstring, and a bar figure. Its
    inputs are the end products of every benchmarked job (scores and example figures), so it runs after
    them; a benchmark file cannot itself be an input."""
    input:
        scores=lambda wc: score_files(wc.dataset),
        figures=lambda wc: report_figures(wc.dataset),  # not read: only run after the figures' jobs
    output:
        table=report(f"{RESULTS}/{{dataset}}/timings.html", caption="../report/timings.rst", category="Timings"),
        figure=report(f"{RESULTS}/{{dataset}}/timings.png", caption="../report/timings.rst", category="Timings"),
    params:
        folder=lambda wc: f"{RESULTS}/{wc.dataset}/benchmarks",
        # rule -> regex of its benchmark files (Snakemake's own, wildcard constraints included) and docstring
        rules=lambda wc: {r.name: {"benchmark": r.benchmark.regex().pattern if r.benchmark else None,
                                   "doc": r.docstring or ""} for r in workflow.rules},
        code=code_version("evaluate"),
    log:
        f"{RESULTS}/{{dataset}}/logs/timings.log",
    conda:
        "../envs/vadlib.yaml"
    script:
        "../workflow_scripts/timings.py"


rule evaluate:
    """Collect the frame scores of every enabled method and write auc.json, its table (every method
    and score component: micro and macro AUC, AP and PR-AUC, frames, videos, pretrained or not; titled
    with the dataset's metric), the ROC curves and a per-video timeline of scores against the ground
    truth."""
    input:
        manifest=f"{RESULTS}/{{dataset}}/manifest.csv",
        truth=f"{RESULTS}/{{dataset}}/ground_truth.npz",
        scores=lambda wc: score_files(wc.dataset),
        figures=lambda wc: report_figures(wc.dataset),  # not read: brings the examples into the report
        timings=f"{RESULTS}/{{dataset}}/timings.html",  # not read: brings the timings into the report
    output:
        auc=f"{RESULTS}/{{dataset}}/auc.json",
        table=report(f"{RESULTS}/{{dataset}}/auc.html", caption="../report/auc.rst", category="Evaluation"),
        roc=report(f"{RESULTS}/{{dataset}}/roc.png", caption="../report/roc.rst", category="Evaluation"),
        timelines=report(f"{RESULTS}/{{dataset}}/timelines.png", caption="../report/timelines.rst",
                         category="Evaluation"),
    params:
        evaluate=config["evaluate"],
        metric=lambda wc: dataset_cfg(wc.dataset).get("metric", "auc"),
        published=lambda wc: dataset_cfg(wc.dataset).get("published") or {},
        config=config,
        code=code_version("evaluate", "scores.py", "data/manifest.py"),
    log:
        f"{RESULTS}/{{dataset}}/logs/evaluate.log",
    conda:
        "../envs/vadlib.yaml"
    script:
        "../workflow_scripts/evaluate.py"
