"""Snippet features: I3D ten-crop extraction from frames or the video, or import of published features."""


rule i3d:
    """I3D R50 ten-crop features of one video: 16-frame snippets, the 2048-d pool before the head.
    ``features/i3d`` holds those of the video, ``features/i3d_inpainted`` those of the inpainted frames
    (``frames_inpainted``: the semantic features of the spatial pseudo-anomalies).

    The video's features are read from the frames store (``frames/{video}.zarr``) or straight from the
    source, as ``features.i3d.source`` says: ``frames``, ``video``, or ``auto`` (the default), which
    streams the source exactly when no enabled method of the dataset reads frames (the weakly
    supervised ones read features only; the one-class ones and ``reference`` read frames). One config
    key rather than two rule variants: the choice depends on the enabled methods, which a dataset's
    config decides, and a key lets a run force either way (``frames`` to keep the store for a later
    one-class run). Streaming decodes the source in chunks, resizes each as the decode stage does
    (``decode.size``) and writes features batch by batch: bounded memory and no frames on disk, with
    the same features as the frames store's. The input function runs once per video and decides once
    per dataset (``i3d_inputs``, common.smk)."""
    input:
        unpack(i3d_inputs),
        **I3D_WEIGHTS,
    output:
        features=directory(f"{RESULTS}/{{dataset}}/features/i3d{{source}}/{{video}}.zarr"),
    log:
        f"{RESULTS}/{{dataset}}/logs/i3d{{source}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/i3d{{source}}/{{video}}.tsv"
    wildcard_constraints:
        source="|_inpainted",
    conda:
        "../envs/vadlib.yaml"
    # one thread: per-video jobs run side by side, which uses the cores better than threads inside one
    # job (its imports alone take seconds on one core); --set-threads i3d=N changes it
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        # the seed shapes only the random initialisation: with weights, a seed change re-extracts nothing
        i3d=I3D_PARAMS,
        decode_size=config["decode"]["size"],  # the resize of a streamed source (the decode stage's)
        decode_chunk=config["decode"]["chunk"],
        device=config["device"],
        code=code_version("extract_i3d.py"),
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
    log:
        f"{RESULTS}/{{dataset}}/logs/import_features/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/import_features/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        imported=lambda wc: import_params(wc.dataset),
        code=code_version("import_features.py"),
    script:
        "../workflow_scripts/import_features.py"
