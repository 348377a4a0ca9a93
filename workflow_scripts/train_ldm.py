"""Rule train_ldm: the embedded inpainting LDM, trained on the normal training frames
(vadlib.inpaint.train_ldm).

Inputs: ``frames`` (frames stores of the normal training videos); output: the model directory;
params: ``train`` (the ``inpaint.train`` section, with ``seed``) and ``device``.
"""

import torch

from vadlib.devices import claim_gpu
from vadlib.inpaint import train_ldm
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
with claim_gpu(snakemake.params.device) as device:
    train_ldm(list(snakemake.input.frames), snakemake.output.model, dict(snakemake.params.train), device)
