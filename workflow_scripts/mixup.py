"""Rule mixup: temporal pseudo-anomalies of one video by flow mixup (vadlib.flow.mixup.mixup_flow).

Inputs: ``flow`` and ``masks``; params: ``mixup`` (the config section, with ``seed``).
"""

from vadlib.flow.mixup import mixup_flow
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0])
mixup_flow(snakemake.input.flow, snakemake.input.masks, snakemake.output.mixup, dict(snakemake.params.mixup))
