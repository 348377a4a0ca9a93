"""Rule inpaint: LDM inpainting of one video's masked frames (vadlib.inpaint.inpaint_video).

Inputs: ``frames``, ``masks`` and ``model`` (``inpaint.weights`` or the train_ldm directory); params:
``inpaint`` (steps, eta, batch_size, seed) and ``device``.
"""

from vadlib.inpaint import inpaint_video
from vadlib.runtime import stage

with stage(snakemake) as device:
    inpaint_video(snakemake.input.frames, snakemake.input.masks, snakemake.output.inpainted, snakemake.input.model,
                  dict(snakemake.params.inpaint), device)
