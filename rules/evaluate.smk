"""Evaluation: frame-level micro and macro AUC, AP and PR-AUC of every enabled method, ROC curves and
timelines, the training curves of every trained model, and the benchmark timings of the run; the
report's front page (``snakemake --report``)."""


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
    log:
        f"{RESULTS}/{{dataset}}/logs/timings.log",
    conda:
        "../envs/vadlib.yaml"
    params:
        folder=lambda wc: f"{RESULTS}/{wc.dataset}/benchmarks",
        # rule -> regex of its benchmark files (Snakemake's own, wildcard constraints included) and docstring
        rules=lambda wc: {
            r.name: {"benchmark": r.benchmark.regex().pattern if r.benchmark else None, "doc": r.docstring or ""}
            for r in workflow.rules
        },
        code=code_version("timings.py"),
    script:
        "../workflow_scripts/timings.py"


rule training_curves:
    """Plot the training loss of every model the dataset's enabled methods trained (the detectors, the
    MT-VAE of the pseudo videos, the embedded inpainting LDM), one panel per model, from the JSON
    sidecar each training writes beside its checkpoint."""
    input:
        # the enabled methods' checkpoints (a training-free scorer, the reference, has none)
        models=lambda wc: [
            f"{RESULTS}/{wc.dataset}/models/{m}.pt"
            for m in enabled_methods(wc.dataset)
            if m in ONECLASS or METHODS[m] == "weak"
        ],
        # the MT-VAE, where a detector trains with its pseudo videos
        mtvae=lambda wc: (
            [f"{RESULTS}/{wc.dataset}/models/mtvae.pt"]
            if any(m.endswith("_mtvae") for m in enabled_methods(wc.dataset))
            else []
        ),
        # the embedded LDM, where a method trains on inpainted frames and inpaint.weights names no model
        ldm=lambda wc: (
            [LDM_MODEL.format(dataset=wc.dataset)]
            if not config["inpaint"]["weights"]
            and any("frames_inpainted" in ONECLASS[m][0] for m in enabled_methods(wc.dataset) if m in ONECLASS)
            else []
        ),
    output:
        figure=report(f"{RESULTS}/{{dataset}}/training.png", caption="../report/training.rst", category="Training"),
    log:
        f"{RESULTS}/{{dataset}}/logs/training_curves.log",
    conda:
        "../envs/vadlib.yaml"
    params:
        code=code_version("training_curves.py"),
    script:
        "../workflow_scripts/training_curves.py"


rule evaluate:
    """Collect the frame scores of every enabled method and write auc.json, its table (every method
    and score component: micro and macro AUC, AP and PR-AUC, frames, videos, pretrained or not, the
    paper's number where published; titled with the dataset's metric), the ROC curves of each
    method's main row (one panel per protocol) and of every method's score components, and a
    per-video timeline of the main rows' scores against the ground truth."""
    input:
        manifest=f"{RESULTS}/{{dataset}}/manifest.csv",
        truth=f"{RESULTS}/{{dataset}}/ground_truth.npz",
        scores=lambda wc: score_files(wc.dataset),
        figures=lambda wc: report_figures(wc.dataset),  # not read: brings the examples into the report
        timings=f"{RESULTS}/{{dataset}}/timings.html",  # not read: brings the timings into the report
        training=f"{RESULTS}/{{dataset}}/training.png",  # not read: brings the training curves into the report
    output:
        auc=f"{RESULTS}/{{dataset}}/auc.json",
        table=report(f"{RESULTS}/{{dataset}}/auc.html", caption="../report/auc.rst", category="Evaluation"),
        roc=report(f"{RESULTS}/{{dataset}}/roc.png", caption="../report/roc.rst", category="Evaluation"),
        components=report(
            f"{RESULTS}/{{dataset}}/roc_components.png", caption="../report/roc_components.rst", category="Evaluation"
        ),
        timelines=report(
            f"{RESULTS}/{{dataset}}/timelines.png", caption="../report/timelines.rst", category="Evaluation"
        ),
    log:
        f"{RESULTS}/{{dataset}}/logs/evaluate.log",
    conda:
        "../envs/vadlib.yaml"
    params:
        evaluate=config["evaluate"],
        metric=lambda wc: dataset_cfg(wc.dataset).get("metric", "auc"),
        published=lambda wc: dataset_cfg(wc.dataset).get("published") or {},
        config=lambda wc: run_config(wc.dataset),
        code=code_version("evaluate.py"),
    script:
        "../workflow_scripts/evaluate.py"
