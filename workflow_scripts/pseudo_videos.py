"""Generate MT-VAE pseudo videos as feature stores with an index (rule pseudo_videos)."""
from vadlib.runtime import stage
from vadlib.weak import generate_pseudo

with stage(snakemake) as device:
    p = snakemake.params
    generate_pseudo(dict(zip(p.videos, snakemake.input.features)), dict(zip(p.videos, p.labels)),
                    snakemake.input.mtvae, snakemake.output.stores, snakemake.output.index, dict(p.pseudo),
                    device=device)
