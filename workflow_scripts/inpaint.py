"""Rule inpaint: LDM inpainting of one video's masked frames (vadlib.inpaint.inpaint_video).

Inputs: ``frames``, ``masks`` and ``model`` (``inpaint.weights`` or the train_ldm directory); params:
``inpaint`` (steps, eta, batch_size, seed) and ``device``.
"""

import torch

from vadlib.devices import claim_gpu
from vadlib.inpaint import inpaint_video
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
with claim_gpu(snakemake.params.device) as device:
    inpaint_video(snakemake.input.frames, snakemake.input.masks, snakemake.output.inpainted, snakemake.input.model,
                  dict(snakemake.params.inpaint), device)
