"""Train the MT-VAE on the baseline's selection of abnormal snippets (rule train_mtvae)."""
import torch

from vadlib.devices import claim_gpu
from vadlib.runtime import log_to
from vadlib.weak import train_mtvae

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params
with claim_gpu(p.device) as device:
    train_mtvae(dict(zip(p.videos, snakemake.input.features)), dict(zip(p.videos, p.labels)),
                snakemake.input.baseline, snakemake.output.model, dict(p.train), device=device)
