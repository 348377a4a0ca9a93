"""Motion-energy reference scores of the test videos (rule reference_scores)."""
from vadlib.reference import score_reference
from vadlib.runtime import stage

with stage(snakemake):
    p = snakemake.params
    score_reference(dict(zip(p.videos, snakemake.input.frames)), snakemake.output.scores, dict(p.reference),
                    list(p.protocols))
