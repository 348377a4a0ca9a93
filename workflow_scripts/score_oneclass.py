"""Rule score_oneclass: frame scores of the test videos by one one-class detector
(vadlib.oneclass.score_{method}).

Inputs: ``model`` and the test videos' per-video stores, named as the function's arguments; params:
``videos`` (the test videos, in input order), ``score`` (the method's parameters) and ``device``.
"""

import torch

from vadlib import oneclass
from vadlib.devices import claim_gpu
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
score = getattr(oneclass, f"score_{snakemake.wildcards.method}")
stores = {name: dict(zip(snakemake.params.videos, paths)) for name, paths in snakemake.input.items()
          if name != "model"}
with claim_gpu(snakemake.params.device) as device:
    score(snakemake.input.model, **stores, out_scores=snakemake.output.scores, params=dict(snakemake.params.score),
          device=device)
