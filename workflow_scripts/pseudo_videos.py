"""Generate MT-VAE pseudo videos as feature stores with an index (rule pseudo_videos)."""
from vadlib.devices import claim_gpu
from vadlib.runtime import log_to
from vadlib.weak import generate_pseudo

log_to(snakemake.log[0])
p = snakemake.params
with claim_gpu(p.device) as device:
    generate_pseudo(dict(zip(p.videos, snakemake.input.features)), dict(zip(p.videos, p.labels)),
                    snakemake.input.mtvae, snakemake.output.stores, snakemake.output.index, dict(p.pseudo),
                    device=device)
