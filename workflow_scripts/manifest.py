"""Write the manifest and ground truth of a dataset (rule manifest)."""
from vadlib.data.adapters import prepare
from vadlib.runtime import log_to

log_to(snakemake.log[0])
prepare(dict(snakemake.params.dataset), snakemake.output.manifest, snakemake.output.truth)
