"""One-class detectors, trained on the normal training videos: LUSS-AE, the multi-layer MemAE +
flow-conditioned CVAE, and the spatio-temporal pseudo-anomaly autoencoders with a discriminator."""

# method -> (training inputs, test inputs), each {per-video stage: argument of its vadlib function}
ONECLASS = {
    "luss": ({"frames": "frame_paths"}, {"frames": "test_frame_paths"}),
    "memae_cvae": (
        {"frames": "frame_paths", "flow": "flow_paths"},
        {"frames": "test_frame_paths", "flow": "test_flow_paths"},
    ),
    "stpa": (
        {
            "frames": "frame_paths",
            "flow": "flow_paths",
            "frames_inpainted": "inpainted_paths",
            "masks": "mask_paths",
            "mixup": "mixup_paths",
            "features/i3d": "feature_paths",
            "features/i3d_inpainted": "inpainted_feature_paths",
        },
        {"frames": "test_frame_paths", "flow": "test_flow_paths", "features/i3d": "test_feature_paths"},
    ),
}

register_method("luss", "oneclass", sections=["decode", "oneclass", "luss"])
register_method("memae_cvae", "oneclass", sections=["decode", "flow", "oneclass", "memae_cvae"])
register_method(
    "stpa",
    "oneclass",
    figures=["figures/inpainting", "figures/mixup"],
    sections=["decode", "flow", "features", "masks", "inpaint", "mixup", "oneclass", "stpa"],
)


rule train_oneclass:
    """Train a one-class detector on the normal training videos (and, for the pseudo-anomaly
    autoencoders, their inpainted frames, masks, mixup flows and semantic features)."""
    input:
        unpack(lambda wc: stage_inputs(wc.dataset, ONECLASS[wc.method][0], split(wc.dataset, "oneclass", "train"))),
    output:
        model=f"{RESULTS}/{{dataset}}/models/{{method}}.pt",
    log:
        f"{RESULTS}/{{dataset}}/logs/train/{{method}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/train/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(ONECLASS),
    conda:
        "../envs/vadlib.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=480,
    params:
        train=lambda wc: method_params(wc.dataset, wc.method),
        device=config["device"],
        code=code_version("train_oneclass.py"),
    script:
        "../workflow_scripts/train_oneclass.py"


rule score_oneclass:
    """Frame scores of the one-class test videos: one row per score component and the combined scores."""
    input:
        unpack(lambda wc: stage_inputs(wc.dataset, ONECLASS[wc.method][1], split(wc.dataset, "oneclass", "test"))),
        model=f"{RESULTS}/{{dataset}}/models/{{method}}.pt",
    output:
        scores=f"{RESULTS}/{{dataset}}/scores/{{method}}.npz",
    log:
        f"{RESULTS}/{{dataset}}/logs/score/{{method}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/score/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(ONECLASS),
    conda:
        "../envs/vadlib.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        videos=lambda wc: split(wc.dataset, "oneclass", "test"),
        score=lambda wc: method_params(wc.dataset, wc.method),
        device=config["device"],
        code=code_version("score_oneclass.py"),
    script:
        "../workflow_scripts/score_oneclass.py"
