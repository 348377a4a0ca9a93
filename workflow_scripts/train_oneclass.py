"""Rule train_oneclass: train one one-class detector (vadlib.oneclass.train_{method}).

Inputs: the per-video stores the method trains on, named as its function's arguments; params: ``train``
(``oneclass`` + the method's section + the dataset's overrides, with ``seed``) and ``device``.
"""

from vadlib import oneclass
from vadlib.runtime import stage

with stage(snakemake) as device:
    train = getattr(oneclass, f"train_{snakemake.wildcards.method}")
    train(**{name: list(paths) for name, paths in snakemake.input.items()}, out_model=snakemake.output.model,
          params=dict(snakemake.params.train), device=device)
