"""Evaluation: frame-level micro AUC / AP of every enabled method, ROC curves and timelines."""


rule evaluate:
    """Collect the frame scores of every enabled method and write auc.json with the ROC curves and a
    per-video timeline of scores against the ground truth."""
    input:
        manifest=f"{RESULTS}/{{dataset}}/manifest.csv",
        truth=f"{RESULTS}/{{dataset}}/ground_truth.npz",
        scores=lambda wc: score_files(wc.dataset),
        figures=lambda wc: report_figures(wc.dataset),  # not read: brings the examples into the report
    output:
        auc=f"{RESULTS}/{{dataset}}/auc.json",
        roc=report(f"{RESULTS}/{{dataset}}/roc.png", caption="../report/roc.rst", category="Evaluation"),
        timelines=report(f"{RESULTS}/{{dataset}}/timelines.png", caption="../report/timelines.rst",
                         category="Evaluation"),
    params:
        evaluate=config["evaluate"],
        config=config,
        code=code_version("evaluate", "scores.py", "data/manifest.py"),
    log:
        f"{RESULTS}/{{dataset}}/logs/evaluate.log",
    conda:
        "../envs/vadlib.yaml"
    script:
        "../workflow_scripts/evaluate.py"
