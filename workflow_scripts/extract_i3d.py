"""Rule i3d: I3D ten-crop features of one video's frames (or inpainted frames) store
(vadlib.features.extract.extract_features).

Inputs: ``frames``; params: ``i3d`` (the ``features.i3d`` section, with ``seed``) and ``device``. The
wildcard ``source`` tells the input store's schema: ``""`` frames, ``"_inpainted"`` inpainted frames.
"""

from vadlib.devices import claim_gpu
from vadlib.features.extract import extract_features
from vadlib.runtime import log_to

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
log_to(snakemake.log[0])
with claim_gpu(snakemake.params.device) as device:
    extract_features(snakemake.input.frames, snakemake.output.features, dict(snakemake.params.i3d),
                     device=device, kind="inpainted" if snakemake.wildcards.source else "frames")
