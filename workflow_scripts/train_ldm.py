"""Rule train_ldm: the embedded inpainting LDM, trained on the normal training frames
(vadlib.inpaint.train_ldm).

Inputs: ``frames`` (frames stores of the normal training videos); output: the model directory;
params: ``train`` (the ``inpaint.train`` section, with ``seed``) and ``device``.
"""

import torch

from vadlib.inpaint import train_ldm
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0] if snakemake.log else None)
torch.set_num_threads(snakemake.threads)
train_ldm(list(snakemake.input.frames), snakemake.output[0], dict(snakemake.params.train), snakemake.params.device)
