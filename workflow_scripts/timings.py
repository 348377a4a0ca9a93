"""Rule timings: the benchmark files of the dataset summed per rule, table and figure
(vadlib.evaluate.timings.timings_report)."""

from vadlib.evaluate.timings import timings_report
from vadlib.runtime import stage

with stage(snakemake):
    p = snakemake.params
    timings_report(p.folder, dict(p.rules), snakemake.output.table, snakemake.output.figure,
                   snakemake.wildcards.dataset)
