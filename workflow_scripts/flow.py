"""Rule flow: TV-L1 optical flow of one video (vadlib.flow.compute.compute_flow).

Inputs: ``frames``; params: ``flow`` (the config section) and ``device``.
"""

from vadlib.flow.compute import compute_flow
from vadlib.devices import claim_gpu
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0] if snakemake.log else None)
with claim_gpu(snakemake.params.device) as device:
    compute_flow(snakemake.input.frames, snakemake.output[0], dict(snakemake.params.flow), device=device)
