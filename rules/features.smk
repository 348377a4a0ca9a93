"""Snippet features: I3D ten-crop extraction from frames, or import of published features."""


rule i3d:
    """I3D R50 ten-crop features of one video: 16-frame snippets, the 2048-d pool before the head.
    ``features/i3d`` holds those of the decoded frames (``frames``), ``features/i3d_inpainted`` those
    of the inpainted frames (``frames_inpainted``: the semantic features of the spatial pseudo-anomalies).
    The input is a plain pattern, not a function: at 2,000 videos every input function costs the dry
    run a measurable share (bench/bench_dag.py)."""
    input:
        frames=f"{RESULTS}/{{dataset}}/frames{{source}}/{{video}}.zarr",
        **I3D_WEIGHTS,
    output:
        features=directory(f"{RESULTS}/{{dataset}}/features/i3d{{source}}/{{video}}.zarr"),
    wildcard_constraints:
        source="|_inpainted",
    params:
        # the seed shapes only the random initialisation: with weights, a seed change re-extracts nothing
        i3d=config["features"]["i3d"] | ({} if config["features"]["i3d"]["weights"] else {"seed": config["seed"]}),
        device=config["device"],
        code=code_version("features", "snippets.py"),
    # one thread: per-video jobs run side by side, which uses the cores better than threads inside one
    # job (its imports alone take seconds on one core); --set-threads i3d=N changes it
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    log:
        f"{RESULTS}/{{dataset}}/logs/i3d{{source}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/i3d{{source}}/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    script:
        "../workflow_scripts/extract_i3d.py"


rule import_features:
    """Published snippet features of one video (its ``.npy`` in the RTFM layout, its five crop files in
    XD-Violence's) as a features store, for datasets of the adapter ``features``: the same contract as
    extracted features."""
    input:
        npy=imported_files,
    output:
        features=directory(f"{RESULTS}/{{dataset}}/features/imported/{{video}}.zarr"),
    params:
        imported=lambda wc: import_params(wc.dataset),
        code=code_version("features/importer.py", "snippets.py"),
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        f"{RESULTS}/{{dataset}}/logs/import_features/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/import_features/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    script:
        "../workflow_scripts/import_features.py"
