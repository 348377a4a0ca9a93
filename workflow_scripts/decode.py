"""Decode one video or frame folder into a frames store (rule decode)."""
from vadlib.data.decode import decode_to_store
from vadlib.runtime import stage

with stage(snakemake):
    p = snakemake.params
    decode_to_store(snakemake.input.source, p.source["kind"], snakemake.output.frames, p.size, p.chunk, p.source["fps"])
