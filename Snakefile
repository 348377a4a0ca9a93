"""Video anomaly detection pipeline: raw videos -> frames -> features / flow / pseudo-anomalies ->
detectors -> frame-level ROC/AUC report. See README.md and shared design notes for the stages."""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


# the config as given, before any rule file reads it; each dataset's merged config is checked in common.smk
validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/reference.smk"
include: "rules/flow.smk"
include: "rules/features.smk"
include: "rules/weak.smk"
include: "rules/pseudo_anomalies.smk"
include: "rules/oneclass.smk"
include: "rules/evaluate.smk"


rule all:
    """The report of the built-in synthetic dataset (the default target)."""
    default_target: True
    input:
        f"{RESULTS}/synthetic/auc.json",
