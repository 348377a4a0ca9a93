"""Rule masks: the per-frame masks of one video (vadlib.masks.make_masks).

Inputs: ``frames`` and, optionally, ``objects`` (ground-truth object masks ``.npz`` or a user's masks
store); params: ``masks`` (the config section, with ``seed``).
"""

from vadlib.masks import make_masks
from vadlib.runtime import stage

with stage(snakemake):
    make_masks(snakemake.input.frames, snakemake.output.masks, dict(snakemake.params.masks),
               object_masks_path=snakemake.input.get("objects"))
