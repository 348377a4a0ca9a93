"""Write the manifest and ground truth of a dataset (rule manifest)."""
from vadlib.data.adapters import prepare
from vadlib.runtime import stage

with stage(snakemake):
    prepare(dict(snakemake.params.dataset), snakemake.output.manifest, snakemake.output.truth)
