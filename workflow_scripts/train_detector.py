"""Train a weakly supervised detector, with or without pseudo videos (rule train_detector)."""
from vadlib.data.manifest import load_ground_truth
from vadlib.runtime import stage
from vadlib.weak import train_baseline, train_lanet, train_rtfm
from vadlib.weak.train import SelectionSet

with stage(snakemake) as device:
    p = snakemake.params
    detector = snakemake.wildcards.detector
    train = {"mlp": train_baseline, "rtfm": train_rtfm, "lanet": train_lanet}[detector]
    extra = {}
    if p.test_videos:  # rtfm.selection best_test: the published code's protocol, for comparison only
        truth = load_ground_truth(snakemake.input.truth)
        extra["test"] = SelectionSet(dict(zip(p.test_videos, snakemake.input.test_features)),
                                     {v: truth[v] for v in p.test_videos})
    train(dict(zip(p.videos, snakemake.input.features)), dict(zip(p.videos, p.labels)), snakemake.output.model,
          dict(p.train), device=device, pseudo_index=snakemake.input.pseudo[0] if snakemake.input.pseudo else None,
          **extra)
