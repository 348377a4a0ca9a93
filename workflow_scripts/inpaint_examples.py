"""Rule inpaint_examples: the report's original / mask / inpainted figure of one video
(vadlib.inpaint.example_grid)."""

from vadlib.inpaint import example_grid
from vadlib.runtime import stage

with stage(snakemake):
    example_grid(snakemake.input.frames, snakemake.input.masks, snakemake.input.inpainted, snakemake.output.figure)
