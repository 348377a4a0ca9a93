"""I3D ten-crop features of one video's frames store (rule i3d)."""
from vadlib.features.extract import extract_features
from vadlib.devices import claim_gpu
from vadlib.runtime import log_to

log_to(snakemake.log[0])
with claim_gpu(snakemake.params.device) as device:
    extract_features(snakemake.input.frames, snakemake.output.features, dict(snakemake.params.i3d), device=device)
