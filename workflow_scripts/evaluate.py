"""Frame-level evaluation of every enabled method (rule evaluate)."""
from vadlib.evaluate.report import evaluate
from vadlib.evaluate.table import write_html_table
from vadlib.runtime import stage

with stage(snakemake):
    p = snakemake.params
    report = evaluate(snakemake.input.manifest, snakemake.input.truth, list(snakemake.input.scores),
                      snakemake.output.auc, snakemake.output.roc, snakemake.output.timelines,
                      snakemake.wildcards.dataset, dict(p.config), p.evaluate.get("timeline_videos", 12), p.metric,
                      dict(p.published), out_components=snakemake.output.components)
    write_html_table(report, snakemake.output.table)
