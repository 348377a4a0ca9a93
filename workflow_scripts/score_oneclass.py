"""Rule score_oneclass: frame scores of the test videos by one one-class detector
(vadlib.oneclass.score_{method}).

Inputs: ``model`` and the test videos' per-video stores, named as the function's arguments; params:
``videos`` (the test videos, in input order), ``score`` (the method's parameters) and ``device``.
"""

from vadlib import oneclass
from vadlib.runtime import stage

with stage(snakemake) as device:
    score = getattr(oneclass, f"score_{snakemake.wildcards.method}")
    stores = {name: dict(zip(snakemake.params.videos, paths)) for name, paths in snakemake.input.items()
              if name != "model"}
    score(snakemake.input.model, **stores, out_scores=snakemake.output.scores, params=dict(snakemake.params.score),
          device=device)
