"""Optical flow: TV-L1 per video (OpenCV reference or the batched PyTorch implementation)."""


rule flow:
    """TV-L1 optical flow between consecutive frames of one video, [T-1, H, W, 2] float16."""
    input:
        frames=f"{RESULTS}/{{dataset}}/frames/{{video}}.zarr",
    output:
        flow=directory(f"{RESULTS}/{{dataset}}/flow/{{video}}.zarr"),
    log:
        f"{RESULTS}/{{dataset}}/logs/flow/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/flow/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        flow=config["flow"],  # no seed: TV-L1 draws no random number, a seed change re-runs no flow
        device=config["device"],
        code=code_version("flow.py"),
    script:
        "../workflow_scripts/flow.py"
