"""Rule train_oneclass: train one one-class detector (vadlib.oneclass.train_{method}).

Inputs: the per-video stores the method trains on, named as its function's arguments; params: ``train``
(``oneclass`` + the method's section + the dataset's overrides, with ``seed``) and ``device``.
"""

import torch

from vadlib import oneclass
from vadlib.devices import claim_gpu
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
train = getattr(oneclass, f"train_{snakemake.wildcards.method}")
with claim_gpu(snakemake.params.device) as device:
    train(**{name: list(paths) for name, paths in snakemake.input.items()}, out_model=snakemake.output.model,
          params=dict(snakemake.params.train), device=device)
