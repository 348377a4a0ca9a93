"""Train the MT-VAE on the baseline's selection of abnormal snippets (rule train_mtvae)."""
from vadlib.runtime import stage
from vadlib.weak import train_mtvae

with stage(snakemake) as device:
    p = snakemake.params
    train_mtvae(dict(zip(p.videos, snakemake.input.features)), dict(zip(p.videos, p.labels)),
                snakemake.input.baseline, snakemake.output.model, dict(p.train), device=device)
