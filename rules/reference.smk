"""The training-free reference scorer (motion energy), a row in every report."""

register_method("reference", None, sections=["decode", "reference"])


rule reference_scores:
    """Score every test video by its motion energy (mean absolute frame difference, smoothed)."""
    input:
        frames=lambda wc: per_video(wc.dataset, "frames", test_videos(wc.dataset)),
    output:
        scores=f"{RESULTS}/{{dataset}}/scores/reference.npz",
    log:
        f"{RESULTS}/{{dataset}}/logs/reference.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/reference.tsv"
    conda:
        "../envs/vadlib.yaml"
    params:
        videos=lambda wc: test_videos(wc.dataset),
        protocols=lambda wc: protocols(wc.dataset),
        reference=config["reference"],
        code=code_version("reference.py"),
    script:
        "../workflow_scripts/reference.py"
