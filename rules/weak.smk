"""Weakly supervised branch: baseline MLP, MT-VAE pseudo videos, and the detectors (MLP, RTFM,
LA-Net + DDL), each with and without the pseudo videos."""

# the MT-VAE learns from the baseline MLP's abnormal snippets: both shape the _mtvae variants' scores
for _method, _sections in {
    "mlp": ["mlp"],
    "mlp_mtvae": ["mlp", "mtvae"],
    "rtfm": ["rtfm"],
    "rtfm_mtvae": ["rtfm", "mlp", "mtvae"],
    "lanet": ["lanet"],
}.items():
    register_method(_method, "weak", reads="features", sections=["decode", "features", "weak", *_sections])


rule train_detector:
    """Train a weakly supervised detector on the training videos' features (and, for the ``_mtvae``
    variants, the MT-VAE pseudo videos)."""
    input:
        unpack(selection_inputs),
        features=lambda wc: features(wc.dataset, weak_train(wc.dataset)),
        pseudo=lambda wc: [f"{RESULTS}/{wc.dataset}/pseudo/index.csv"] if wc.pseudo else [],
    output:
        model=f"{RESULTS}/{{dataset}}/models/{{detector}}{{pseudo}}.pt",
    log:
        f"{RESULTS}/{{dataset}}/logs/train/{{detector}}{{pseudo}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/train/{{detector}}{{pseudo}}.tsv"
    wildcard_constraints:
        detector="mlp|rtfm|lanet",
        pseudo="|_mtvae",
    conda:
        "../envs/vadlib.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=240,
    params:
        videos=lambda wc: weak_train(wc.dataset),
        labels=lambda wc: [entry(wc.dataset, v).label for v in weak_train(wc.dataset)],
        test_videos=lambda wc: split(wc.dataset, "weak", "test") if selection_inputs(wc) else [],
        train=lambda wc: weak_params(wc.dataset, wc.detector),
        device=config["device"],
        code=code_version("train_detector.py"),
    script:
        "../workflow_scripts/train_detector.py"


rule train_mtvae:
    """MT-VAE (one encoder, a normal and an abnormal decoder) on the normal videos' snippets and the
    abnormal videos' snippets that the baseline MLP scores above the threshold."""
    input:
        features=lambda wc: features(wc.dataset, weak_train(wc.dataset)),
        baseline=f"{RESULTS}/{{dataset}}/models/mlp.pt",
    output:
        model=f"{RESULTS}/{{dataset}}/models/mtvae.pt",
    log:
        f"{RESULTS}/{{dataset}}/logs/train/mtvae.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/train/mtvae.tsv"
    conda:
        "../envs/vadlib.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=240,
    params:
        videos=lambda wc: weak_train(wc.dataset),
        labels=lambda wc: [entry(wc.dataset, v).label for v in weak_train(wc.dataset)],
        train=lambda wc: weak_params(wc.dataset, "mtvae"),
        device=config["device"],
        code=code_version("train_mtvae.py"),
    script:
        "../workflow_scripts/train_mtvae.py"


rule pseudo_videos:
    """Pseudo-abnormal videos (half the snippets of a normal video through the abnormal decoder) and
    pseudo-normal videos (an abnormal video through the normal decoder), written as features."""
    input:
        features=lambda wc: features(wc.dataset, weak_train(wc.dataset)),
        mtvae=f"{RESULTS}/{{dataset}}/models/mtvae.pt",
    output:
        stores=directory(f"{RESULTS}/{{dataset}}/pseudo/videos"),
        index=f"{RESULTS}/{{dataset}}/pseudo/index.csv",
    log:
        f"{RESULTS}/{{dataset}}/logs/pseudo.log",
    conda:
        "../envs/vadlib.yaml"
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        videos=lambda wc: weak_train(wc.dataset),
        labels=lambda wc: [entry(wc.dataset, v).label for v in weak_train(wc.dataset)],
        pseudo=lambda wc: weak_params(wc.dataset, "mtvae"),
        device=config["device"],
        code=code_version("pseudo_videos.py"),
    script:
        "../workflow_scripts/pseudo_videos.py"


rule score_detector:
    """Frame scores of the test videos: every snippet scored (crop scores averaged), snippet scores
    given to their frames."""
    input:
        model=f"{RESULTS}/{{dataset}}/models/{{detector}}{{pseudo}}.pt",
        features=lambda wc: features(wc.dataset, split(wc.dataset, "weak", "test")),
        manifest=f"{RESULTS}/{{dataset}}/manifest.csv",
    output:
        scores=f"{RESULTS}/{{dataset}}/scores/{{detector}}{{pseudo}}.npz",
    log:
        f"{RESULTS}/{{dataset}}/logs/score/{{detector}}{{pseudo}}.log",
    wildcard_constraints:
        detector="mlp|rtfm|lanet",
        pseudo="|_mtvae",
    conda:
        "../envs/vadlib.yaml"
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=30,
    params:
        videos=lambda wc: split(wc.dataset, "weak", "test"),
        device=config["device"],
        code=code_version("score_detector.py"),
    script:
        "../workflow_scripts/score_detector.py"
