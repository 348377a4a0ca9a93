"""Rule timings: the benchmark files of the dataset summed per rule, table and figure
(vadlib.evaluate.timings.timings_report)."""

from vadlib.evaluate.timings import timings_report
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0])
p = snakemake.params
timings_report(p.folder, dict(p.rules), snakemake.output.table, snakemake.output.figure, snakemake.wildcards.dataset)
