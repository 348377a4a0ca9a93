"""One published .npy feature file -> features store (rule import_features)."""
from vadlib.features.importer import import_video
from vadlib.runtime import stage

with stage(snakemake):
    import_video(snakemake.input.npy, snakemake.output.features, dict(snakemake.params.imported))
