"""Frame scores of the test videos by a weakly supervised detector (rule score_detector)."""
from vadlib.data.manifest import read_manifest
from vadlib.devices import claim_gpu
from vadlib.runtime import log_to
from vadlib.weak import score_detector

log_to(snakemake.log[0])
p = snakemake.params
n_frames = read_manifest(snakemake.input.manifest).set_index("video")["n_frames"].to_dict()
with claim_gpu(p.device) as device:
    score_detector(snakemake.input.model, dict(zip(p.videos, snakemake.input.features)), n_frames,
                   snakemake.output.scores, snakemake.wildcards.detector + snakemake.wildcards.pseudo, device=device)
