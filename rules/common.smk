"""Shared helpers of the rules: datasets, their videos and splits, paths and code versions."""

from functools import cache
from pathlib import Path

import yaml

RESULTS = config["results"]
METHODS = {}  # method -> protocol it is trained for (None: training-free, every protocol)
FIGURES = {}  # method -> per-video figure stages shown in the report (examples of its inputs)
READS = {}  # method -> what it reads of each video: "frames" (decoded) or "features" (snippet features only)
SECTIONS = {}  # method -> the config sections that shape its scores (its whole chain of stages)


def _merge(base, override):
    """Recursive dict merge: ``override`` wins."""
    merged = dict(base)
    for key, value in (override or {}).items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def _load_datasets():
    """Merge config/datasets/*.yaml with the ``datasets:`` overrides of the config."""
    folder = Path(config["datasets_dir"])
    overrides = config.get("datasets") or {}
    datasets = {}
    for file in sorted(folder.glob("*.yaml")):
        datasets[file.stem] = _merge(yaml.safe_load(file.read_text()) or {}, overrides.get(file.stem))
    for name, override in overrides.items():
        datasets.setdefault(name, override)
    for name, cfg in datasets.items():
        _check_dataset(name, cfg, folder, name in overrides)
        if cfg.get("adapter") == "synthetic":  # rendered by a rule, always inside the results
            cfg["root"] = f"{RESULTS}/{name}/source"
    config["datasets"] = datasets


def _check_dataset(name, cfg, folder, overridden):
    """A dataset's merged config against the schema's ``$defs/dataset``: a typo in a dataset file stops
    the run before any job, naming the dataset, the file and the key."""
    import jsonschema

    schema = yaml.safe_load(Path(workflow.basedir, "config", "schema.yaml").read_text())
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator({"$ref": "#/$defs/dataset", "$defs": schema["$defs"]}).iter_errors(cfg)
    )
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        file = folder / f"{name}.yaml"
        sources = [str(file)] * file.exists() + [f"the config's datasets.{name}"] * overridden
        raise ValueError(f"dataset {name!r} ({' merged with '.join(sources)}): {where}: {error.message}")


_load_datasets()


def register_method(name, protocol, figures=(), reads="frames", sections=()):
    """Declare that a rule file produces ``{RESULTS}/{dataset}/scores/{name}.npz`` and, for the report,
    the per-video ``figures`` stages (``{RESULTS}/{dataset}/{stage}/{video}.png`` of the example videos).
    ``reads="features"`` marks a method that needs only snippet features, so it also runs on a dataset
    of published features (which has no frames). ``sections``: the config sections its chain reads,
    recorded with its AUC (:func:`run_config`)."""
    METHODS[name] = protocol
    FIGURES[name] = tuple(figures)
    READS[name] = reads
    SECTIONS[name] = tuple(sections)


def dataset_cfg(dataset):
    if dataset not in config["datasets"]:
        raise ValueError(
            f"unknown dataset {dataset!r}; known: {sorted(config['datasets'])} "
            f"(one YAML per dataset in {config['datasets_dir']}/)"
        )
    return config["datasets"][dataset]


# Keys of a dataset file that the stages after listing read (methods' settings, published numbers, the
# metric): an edit of them re-runs those stages, never the manifest.
NOT_LISTING = ("params", "published", "metric")


def listing_config(dataset):
    """The dataset config the manifest is built from, without :data:`NOT_LISTING`."""
    return {k: v for k, v in dataset_cfg(dataset).items() if k not in NOT_LISTING}


def protocols(dataset):
    """The dataset's protocols: its config's ``protocols``, else every protocol its adapter supports."""
    from vadlib.data.adapters import get_adapter

    cfg = dataset_cfg(dataset)
    return list(cfg.get("protocols") or get_adapter(cfg).protocols)


@cache
def entries(dataset):
    """Video id -> manifest entry (from the dataset's adapter, without decoding anything).

    Data that is missing or does not fit its layout stops the run with the adapter's message and the
    dataset's name, as a SystemExit: Snakemake reports any other exception of an input function with a
    traceback."""
    from vadlib.data.adapters import AdapterError, list_videos

    try:
        return {e.video: e for e in list_videos(dataset_cfg(dataset))}
    except AdapterError as err:
        raise SystemExit(f"dataset '{dataset}': {err}") from None


def entry(dataset, video):
    try:
        return entries(dataset)[video]
    except KeyError:
        raise ValueError(f"dataset {dataset!r} has no video {video!r}") from None


def split(dataset, protocol, name, label=None):
    """Video ids of split ``name`` (train/test) of ``protocol``, optionally of one video-level label."""
    return [
        e.video for e in entries(dataset).values() if e.split(protocol) == name and (label is None or e.label == label)
    ]


def test_videos(dataset):
    """Test videos of every protocol of the dataset, each once."""
    return list(dict.fromkeys(v for p in protocols(dataset) for v in split(dataset, p, "test")))


def source_params(wc):
    """How to decode a video's source, one dict for the two values that vary per video: ``kind``
    (video file or frame folder) and the nominal ``fps`` (used for frame folders, which carry none)."""
    e = entry(wc.dataset, wc.video)
    return {"kind": e.source_kind, "fps": e.fps}


def per_video(dataset, stage, videos, suffix=".zarr"):
    return [f"{RESULTS}/{dataset}/{stage}/{v}{suffix}" for v in videos]


def enabled_methods(dataset):
    """Every enabled method that applies to the dataset's protocols and inputs (frames or features only)."""
    prots = protocols(dataset)
    has = {"features"} if features_kind(dataset) == "imported" else {"frames", "features"}
    return [
        m
        for m, p in METHODS.items()
        if config["methods"].get(m, False) and (p is None or p in prots) and READS[m] in has
    ]


def score_files(dataset):
    return [f"{RESULTS}/{dataset}/scores/{m}.npz" for m in enabled_methods(dataset)]


def run_config(dataset):
    """The config that made a dataset's report: the seed, the device, its enabled methods, its own
    dataset config and the sections those methods' chains read (a dataset of published features reads
    no decoding or extraction settings). What the evaluation records, and all an edit of which re-runs
    it: a key no method of this dataset reads leaves its report alone."""
    methods = enabled_methods(dataset)
    skip = {"decode", "features"} if features_kind(dataset) == "imported" else set()
    sections = [s for s in dict.fromkeys(s for m in methods for s in SECTIONS[m]) if s not in skip]
    return {
        "seed": config["seed"],
        "device": config["device"],
        "methods": {m: True for m in methods},
        "datasets": {dataset: dataset_cfg(dataset)},
        **{s: config[s] for s in sections},
        "evaluate": config["evaluate"],
    }


def report_figures(dataset):
    """The example figures of the enabled methods' inputs, shown in the report."""
    stages = dict.fromkeys(s for m in enabled_methods(dataset) for s in FIGURES[m])
    return [f for s in stages for f in per_video(dataset, s, example_videos(dataset), ".png")]


@cache
def code_version(script, *modules):
    """A hash of the vadlib sources the rule's script (in workflow_scripts/) runs through its imports, and
    of ``modules`` (what it imports by a computed name), handed to ``params`` (vadlib.codehash):
    Snakemake's code trigger sees the script itself only."""
    from vadlib.codehash import code_hash

    return code_hash(Path(workflow.basedir, "workflow_scripts", script), *modules)


def adapter_code(dataset):
    """The code version of a dataset's manifest: the script, and the dataset's own adapter."""
    from vadlib.data.adapters import adapter_module

    return code_version("manifest.py", adapter_module(dataset_cfg(dataset)))


def _manifest_inputs(wc):
    cfg = dataset_cfg(wc.dataset)
    videos = entries(wc.dataset)
    if cfg["adapter"] == "synthetic":
        return [f"{cfg['root']}/annotations/{v}.json" for v in videos]
    from vadlib.data.adapters import manifest_inputs

    return manifest_inputs(cfg)


def features_kind(dataset):
    """``imported`` for datasets of published features, ``i3d`` for extraction from frames."""
    return "imported" if dataset_cfg(dataset)["adapter"] == "features" else "i3d"


def import_params(dataset):
    """What shapes a dataset's imported features (layout, width, crops, dtype, file suffix)."""
    from vadlib.features import importer

    return importer.import_params(dataset_cfg(dataset).get("imported"))


def features(dataset, videos):
    return per_video(dataset, f"features/{features_kind(dataset)}", videos)


I3D_DIM = 2048  # the I3D R50 pool's width (vadlib.features.i3d.FEATURE_DIM; torch is not imported here)


def feature_dim(dataset):
    """Width of the dataset's snippet features: ``imported.dim`` for published features, else I3D's.
    A ``weak.feature_dim`` that disagrees stops the plan, naming both keys."""
    imported = features_kind(dataset) == "imported"
    dim = import_params(dataset)["dim"] if imported else I3D_DIM
    given = config["weak"]["feature_dim"]
    if given is not None and given != dim:
        source = f"its imported.dim is {dim}" if imported else f"I3D R50 features are {dim} wide"
        raise SystemExit(
            f"dataset '{dataset}': weak.feature_dim is {given}, but {source}; "
            "set weak.feature_dim to null to follow the features"
        )
    return dim


def dataset_params(dataset, section):
    """A dataset file's ``params: {section: ...}`` overrides (e.g. LA-Net's XD-Violence settings)."""
    return (dataset_cfg(dataset).get("params") or {}).get(section, {})


def weak_params(dataset, section):
    """Parameters of a weakly supervised stage on a dataset: ``weak``, the stage's section, the dataset's
    ``params: {section: ...}`` overrides, the features' width and the seed."""
    return {
        **config["weak"],
        **config[section],
        **dataset_params(dataset, section),
        "feature_dim": feature_dim(dataset),
        "seed": config["seed"],
    }


def imported_files(wc):
    """The published files of one video: its ``.npy`` (RTFM), or its crop files in crop order
    (``imported.crop_files``, XD-Violence's ``{video}__{k}.npy``), so that an edit of any reruns it."""
    from vadlib.features import importer

    return [str(p) for p in importer.crop_paths(entry(wc.dataset, wc.video).source, import_params(wc.dataset))]


def selection_inputs(wc):
    """RTFM with ``selection: best_test`` selects on the test set (the published code's protocol, for
    comparison only): it then reads the test videos' features and the ground truth."""
    if wc.detector != "rtfm" or weak_params(wc.dataset, "rtfm")["selection"] != "best_test":
        return {}
    return {
        "test_features": features(wc.dataset, split(wc.dataset, "weak", "test")),
        "truth": f"{RESULTS}/{wc.dataset}/ground_truth.npz",
    }


def weak_train(dataset):
    return split(dataset, "weak", "train")


def method_params(dataset, method):
    """Parameters of a one-class method on a dataset: ``oneclass``, the method's section, the dataset's
    ``params: {method: ...}`` overrides (e.g. LUSS-AE's per-dataset weights) and the seed."""
    return {**config["oneclass"], **config[method], **dataset_params(dataset, method), "seed": config["seed"]}


def stage_inputs(dataset, stages, videos, prefix=""):
    """Named inputs ``{prefix}{argument}: [per-video stores]`` for ``stages`` (per-video stage -> argument)."""
    return {prefix + argument: per_video(dataset, stage, videos) for stage, argument in stages.items()}


def object_masks(wc):
    """The video's object masks when ``masks.kind`` uses objects: the synthetic dataset's ground-truth
    object masks, a user's masks store (dataset key ``object_masks``), or none (background subtraction)."""
    if config["masks"]["kind"] == "lama":
        return {}
    cfg = dataset_cfg(wc.dataset)
    if cfg["adapter"] == "synthetic":
        return {"objects": f"{cfg['root']}/masks/{wc.video}.npz"}
    if cfg.get("object_masks"):
        return {"objects": f"{cfg['root']}/{cfg['object_masks']}/{wc.video}.zarr"}
    return {}


@cache
def i3d_source(dataset):
    """Where the i3d jobs of a dataset read its videos, ``frames`` (the frames store) or ``video`` (the
    source, streamed); ``features.i3d.source`` auto streams when no enabled method reads frames."""
    source = config["features"]["i3d"].get("source", "auto")
    if source != "auto":
        return source
    return "frames" if any(READS[m] == "frames" for m in enabled_methods(dataset)) else "video"


def i3d_inputs(wc):
    """The i3d rule's input: the frames store (inpainted frames always), or the video's source."""
    check_i3d_weights(wc.dataset)
    if wc.source or i3d_source(wc.dataset) == "frames":
        return {"frames": f"{RESULTS}/{wc.dataset}/frames{wc.source}/{wc.video}.zarr"}
    return {"source": entry(wc.dataset, wc.video).source}


# ``features.i3d.weights``, when a path, is an input of the i3d rule: a missing file stops the run before
# any job (Snakemake lists it as a missing input), and a replaced file re-extracts the features.
# ``untrained`` asks for the seeded random initialisation on purpose (null: the same, on the synthetic
# dataset only).
UNTRAINED = "untrained"
I3D_PATH = None if config["features"]["i3d"]["weights"] in (None, UNTRAINED) else config["features"]["i3d"]["weights"]
I3D_WEIGHTS = {"weights": I3D_PATH} if I3D_PATH else {}
# what the extractor reads: a path or None; the seed shapes only a random initialisation, so with weights
# a seed change re-extracts nothing
I3D_PARAMS = {**config["features"]["i3d"], "weights": I3D_PATH} | ({} if I3D_PATH else {"seed": config["seed"]})


@cache
def check_i3d_weights(dataset):
    """No silent random features on real data: extracting I3D features of a dataset other than the
    synthetic one with ``features.i3d.weights: null`` stops the plan, naming the key."""
    if config["features"]["i3d"]["weights"] is None and dataset_cfg(dataset)["adapter"] != "synthetic":
        raise SystemExit(
            f"dataset '{dataset}': features.i3d.weights is null, so its I3D features would come from a randomly "
            "initialised network. Set features.i3d.weights to the backbone's Kinetics-400 checkpoint (a local "
            f"path), or to '{UNTRAINED}' to extract random features on purpose."
        )


# The inpainting model: the user's ``inpaint.weights`` or the LDM trained on the dataset (a pattern of
# ``{dataset}``, so the inpaint rule needs no input function).
LDM_MODEL = config["inpaint"]["weights"] or f"{RESULTS}/{{dataset}}/models/ldm"


def example_videos(dataset):
    """The first ``evaluate.example_videos`` one-class training videos: those of the pseudo-anomaly figures."""
    return split(dataset, "oneclass", "train")[: config["evaluate"]["example_videos"]]
