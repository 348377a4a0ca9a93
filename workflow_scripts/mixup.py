"""Rule mixup: temporal pseudo-anomalies of one video by flow mixup (vadlib.flow.mixup.mixup_flow).

Inputs: ``flow`` and ``masks``; params: ``mixup`` (the config section, with ``seed``).
"""

from vadlib.flow.mixup import mixup_flow
from vadlib.runtime import stage

with stage(snakemake):
    mixup_flow(snakemake.input.flow, snakemake.input.masks, snakemake.output.mixup, dict(snakemake.params.mixup))
