"""Rule inpaint: LDM inpainting of one video's masked frames (vadlib.inpaint.inpaint_video).

Inputs: ``frames``, ``masks`` and ``model`` (``inpaint.weights`` or the train_ldm directory); params:
``inpaint`` (the config section, with ``seed``) and ``device``. An optional output ``grid`` gets the
original / mask / inpainted figure of the video.
"""

import torch

from vadlib.inpaint import example_grid, inpaint_video
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0] if snakemake.log else None)
torch.set_num_threads(snakemake.threads)
inpaint_video(snakemake.input.frames, snakemake.input.masks, snakemake.output[0], snakemake.input.model,
              dict(snakemake.params.inpaint), snakemake.params.device)
if snakemake.output.get("grid"):
    example_grid(snakemake.input.frames, snakemake.input.masks, snakemake.output[0], snakemake.output.grid)
