"""vadlib: the computing core of the VAD pipeline (no Snakemake inside)."""
__version__ = "0.1.0"
