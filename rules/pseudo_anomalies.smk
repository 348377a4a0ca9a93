"""One-class inputs: per-frame masks, latent-diffusion inpainting of the masked regions (spatial
pseudo-anomalies) and flow mixup under the masks (temporal pseudo-anomalies)."""


rule masks:
    """Per-frame masks of one video, [T, H, W] bool: LaMa's mixed brush strokes and boxes, object
    masks, or both (``masks.kind``)."""
    input:
        unpack(object_masks),
        frames=f"{RESULTS}/{{dataset}}/frames/{{video}}.zarr",
    output:
        masks=directory(f"{RESULTS}/{{dataset}}/masks/{{video}}.zarr"),
    log:
        f"{RESULTS}/{{dataset}}/logs/masks/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/masks/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        masks=config["masks"] | {"seed": config["seed"]},
        code=code_version("masks.py"),
    script:
        "../workflow_scripts/masks.py"


rule train_ldm:
    """Train the embedded inpainting LDM (VQ autoencoder, then the UNet) on the normal training
    frames; used when ``inpaint.weights`` names no pretrained model."""
    input:
        frames=lambda wc: per_video(wc.dataset, "frames", split(wc.dataset, "oneclass", "train")),
    output:
        model=directory(f"{RESULTS}/{{dataset}}/models/ldm"),
    log:
        f"{RESULTS}/{{dataset}}/logs/train/ldm.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/train/ldm.tsv"
    conda:
        "../envs/vadlib.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=480,
    params:
        train=config["inpaint"]["train"] | {"seed": config["seed"]},
        device=config["device"],
        code=code_version("train_ldm.py"),
    script:
        "../workflow_scripts/train_ldm.py"


rule inpaint:
    """Inpaint the masked region of every masked frame of one video with the LDM (DDIM); pixels
    outside the masks are the input's."""
    input:
        frames=f"{RESULTS}/{{dataset}}/frames/{{video}}.zarr",
        masks=f"{RESULTS}/{{dataset}}/masks/{{video}}.zarr",
        model=LDM_MODEL,
    output:
        inpainted=directory(f"{RESULTS}/{{dataset}}/frames_inpainted/{{video}}.zarr"),
    log:
        f"{RESULTS}/{{dataset}}/logs/inpaint/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/inpaint/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    threads: 1  # per video, like i3d: jobs side by side use the cores better
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    params:
        inpaint={k: v for k, v in config["inpaint"].items() if k not in ("weights", "train")} | {"seed": config["seed"]},
        device=config["device"],
        code=code_version("inpaint.py"),
    script:
        "../workflow_scripts/inpaint.py"


rule inpaint_examples:
    """Figure of spatial pseudo-anomalies for the report: original, mask and inpainted frames."""
    input:
        frames=f"{RESULTS}/{{dataset}}/frames/{{video}}.zarr",
        masks=f"{RESULTS}/{{dataset}}/masks/{{video}}.zarr",
        inpainted=f"{RESULTS}/{{dataset}}/frames_inpainted/{{video}}.zarr",
    output:
        figure=report(
            f"{RESULTS}/{{dataset}}/figures/inpainting/{{video}}.png",
            caption="../report/inpainting.rst",
            category="Pseudo-anomalies",
            subcategory="Spatial (inpainting)",
        ),
    log:
        f"{RESULTS}/{{dataset}}/logs/figures/inpainting/{{video}}.log",
    conda:
        "../envs/vadlib.yaml"
    params:
        code=code_version("inpaint_examples.py"),
    script:
        "../workflow_scripts/inpaint_examples.py"


rule mixup:
    """Temporal pseudo-anomalies of one video: each flow's patch under its frame's mask box mixed
    with a random patch of the same flow, lambda ~ Beta(alpha, alpha)."""
    input:
        flow=f"{RESULTS}/{{dataset}}/flow/{{video}}.zarr",
        masks=f"{RESULTS}/{{dataset}}/masks/{{video}}.zarr",
    output:
        mixup=directory(f"{RESULTS}/{{dataset}}/mixup/{{video}}.zarr"),
    log:
        f"{RESULTS}/{{dataset}}/logs/mixup/{{video}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/benchmarks/mixup/{{video}}.tsv"
    conda:
        "../envs/vadlib.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        mixup=config["mixup"] | {"seed": config["seed"]},
        code=code_version("mixup.py"),
    script:
        "../workflow_scripts/mixup.py"


rule mixup_examples:
    """Figure of temporal pseudo-anomalies for the report: flow fields (colour wheel) with their mask
    box, before and after the mixup."""
    input:
        flow=f"{RESULTS}/{{dataset}}/flow/{{video}}.zarr",
        masks=f"{RESULTS}/{{dataset}}/masks/{{video}}.zarr",
        mixup=f"{RESULTS}/{{dataset}}/mixup/{{video}}.zarr",
    output:
        figure=report(
            f"{RESULTS}/{{dataset}}/figures/mixup/{{video}}.png",
            caption="../report/mixup.rst",
            category="Pseudo-anomalies",
            subcategory="Temporal (flow mixup)",
        ),
    log:
        f"{RESULTS}/{{dataset}}/logs/figures/mixup/{{video}}.log",
    conda:
        "../envs/vadlib.yaml"
    params:
        code=code_version("mixup_examples.py"),
    script:
        "../workflow_scripts/mixup_examples.py"
