"""Rule flow: TV-L1 optical flow of one video (vadlib.flow.compute.compute_flow).

Inputs: ``frames``; params: ``flow`` (the config section) and ``device``.
"""

from vadlib.flow.compute import compute_flow
from vadlib.runtime import stage

with stage(snakemake) as device:
    compute_flow(snakemake.input.frames, snakemake.output[0], dict(snakemake.params.flow), device=device)
