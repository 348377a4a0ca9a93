"""Frame scores of the test videos by a weakly supervised detector (rule score_detector)."""
from vadlib.data.manifest import read_manifest
from vadlib.runtime import stage
from vadlib.weak import score_detector

with stage(snakemake) as device:
    p = snakemake.params
    n_frames = read_manifest(snakemake.input.manifest).set_index("video")["n_frames"].to_dict()
    score_detector(snakemake.input.model, dict(zip(p.videos, snakemake.input.features)), n_frames,
                   snakemake.output.scores, snakemake.wildcards.detector + snakemake.wildcards.pseudo, device=device)
