"""Datasets: rendering the synthetic dataset, the manifest and ground truth, decoding to Zarr."""


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    video=r"[^/]+",


rule synthesize_video:
    """Render one video of a procedurally generated surveillance dataset, with its annotation
    (anomaly intervals) and per-frame anomaly and object masks."""
    output:
        video=f"{RESULTS}/{{dataset}}/source/videos/{{video}}.mp4",
        annotation=f"{RESULTS}/{{dataset}}/source/annotations/{{video}}.json",
        masks=f"{RESULTS}/{{dataset}}/source/masks/{{video}}.npz",
    log:
        f"{RESULTS}/{{dataset}}/logs/synthesize/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/synthesize/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        synthetic=lambda wc: dataset_cfg(wc.dataset)["synthetic"],
        code=code_version("synthesize.py"),
    script:
        "../workflow_scripts/synthesize.py"


rule manifest:
    """Turn the dataset's own layout into the manifest (one row per video) and frame-level ground
    truth of the test videos."""
    input:
        _manifest_inputs,
    output:
        manifest=f"{RESULTS}/{{dataset}}/manifest.csv",
        truth=f"{RESULTS}/{{dataset}}/ground_truth.npz",
    log:
        f"{RESULTS}/{{dataset}}/logs/manifest.log",
    conda:
        "../envs/vadlib.yaml"
    params:
        dataset=lambda wc: listing_config(wc.dataset),
        code=lambda wc: adapter_code(wc.dataset),
    script:
        "../workflow_scripts/manifest.py"


rule decode:
    """Decode a video file (decord) or frame folder (OpenCV) into a frames store, resized as
    ``decode.size`` says."""
    input:
        source=lambda wc: entry(wc.dataset, wc.video).source,
    output:
        frames=directory(f"{RESULTS}/{{dataset}}/frames/{{video}}.zarr"),
    log:
        f"{RESULTS}/{{dataset}}/logs/decode/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/decode/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        source=source_params,  # one function for both: each one costs the dry run of 2,000 videos
        size=config["decode"]["size"],
        chunk=config["decode"]["chunk"],
        code=code_version("decode.py"),
    script:
        "../workflow_scripts/decode.py"
