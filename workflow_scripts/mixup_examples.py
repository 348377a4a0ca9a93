"""Rule mixup_examples: the report's flow / mixup flow figure of one video
(vadlib.flow.figures.mixup_grid)."""

from vadlib.flow.figures import mixup_grid
from vadlib.runtime import stage

with stage(snakemake):
    mixup_grid(snakemake.input.flow, snakemake.input.masks, snakemake.input.mixup, snakemake.output.figure)
