"""Train a weakly supervised detector, with or without pseudo videos (rule train_detector)."""
import torch

from vadlib.devices import claim_gpu
from vadlib.runtime import log_to
from vadlib.weak import train_baseline, train_lanet, train_rtfm

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params
train = {"mlp": train_baseline, "rtfm": train_rtfm, "lanet": train_lanet}[snakemake.wildcards.detector]
with claim_gpu(p.device) as device:
    train(dict(zip(p.videos, snakemake.input.features)), dict(zip(p.videos, p.labels)), snakemake.output.model,
          dict(p.train), device=device, pseudo_index=snakemake.input.pseudo[0] if snakemake.input.pseudo else None)
