"""Rule i3d: I3D ten-crop features of one video, from its frames (or inpainted frames) store
(vadlib.features.extract.extract_features) or streamed from its source
(vadlib.features.extract.extract_features_from_source).

Inputs: ``frames`` or ``source`` (a video file or a frame folder); params: ``i3d`` (the
``features.i3d`` section, with ``seed``), ``decode_size`` and ``decode_chunk`` (the decode stage's
resize and block, for a streamed source) and ``device``. The wildcard ``source`` tells the input
store's schema: ``""`` frames, ``"_inpainted"`` inpainted frames.
"""
from pathlib import Path

from vadlib.features.extract import extract_features, extract_features_from_source
from vadlib.runtime import stage

with stage(snakemake) as device:
    params = dict(snakemake.params.i3d)
    if "source" in snakemake.input.keys():
        source = snakemake.input.source
        extract_features_from_source(source, "frames" if Path(source).is_dir() else "video",
                                     snakemake.output.features, params, device=device,
                                     size=snakemake.params.decode_size, chunk=snakemake.params.decode_chunk)
    else:
        extract_features(snakemake.input.frames, snakemake.output.features, params, device=device,
                         kind="inpainted" if snakemake.wildcards.source else "frames")
