"""Rule train_ldm: the embedded inpainting LDM, trained on the normal training frames
(vadlib.inpaint.train_ldm).

Inputs: ``frames`` (frames stores of the normal training videos); output: the model directory;
params: ``train`` (the ``inpaint.train`` section, with ``seed``) and ``device``.
"""

from vadlib.inpaint import train_ldm
from vadlib.runtime import stage

with stage(snakemake) as device:
    train_ldm(list(snakemake.input.frames), snakemake.output.model, dict(snakemake.params.train), device)
