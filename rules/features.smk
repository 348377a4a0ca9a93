"""Snippet features: I3D ten-crop extraction from frames, or import of published features."""


rule i3d:
    """I3D R50 ten-crop features of one video: 16-frame snippets, the 2048-d pool before the head."""
    input:
        frames=f"{RESULTS}/{{dataset}}/frames/{{video}}.zarr",
    output:
        features=directory(f"{RESULTS}/{{dataset}}/features/i3d/{{video}}.zarr"),
    params:
        i3d=config["features"]["i3d"] | {"seed": config["seed"]},
        device=config["device"],
        code=code_version("features", "snippets.py"),
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    group:
        "per_video_gpu"
    log:
        f"{RESULTS}/{{dataset}}/logs/i3d/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/i3d/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    script:
        "../workflow_scripts/extract_i3d.py"
