"""Rule training_curves: the loss curves of every trained model, read from the sidecars beside the
checkpoints (vadlib.evaluate.training.training_report)."""

from vadlib.evaluate.training import training_report
from vadlib.runtime import stage

with stage(snakemake):
    training_report([*snakemake.input.models, *snakemake.input.mtvae, *snakemake.input.ldm], snakemake.output.figure,
                    snakemake.wildcards.dataset)
