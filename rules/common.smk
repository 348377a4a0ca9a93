"""Shared helpers of the rules: datasets, their videos and splits, paths and code versions."""

import hashlib
from functools import cache
from pathlib import Path

import yaml


RESULTS = config["results"]
METHODS = {}  # method -> protocol it is trained for (None: training-free, every protocol)


def _merge(base, override):
    """Recursive dict merge: ``override`` wins."""
    merged = dict(base)
    for key, value in (override or {}).items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
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
        if cfg.get("adapter") == "synthetic":  # rendered by a rule, always inside the results
            cfg["root"] = f"{RESULTS}/{name}/source"
    config["datasets"] = datasets


_load_datasets()


def register_method(name, protocol):
    """Declare that a rule file produces ``{RESULTS}/{dataset}/scores/{name}.npz``."""
    METHODS[name] = protocol


def dataset_cfg(dataset):
    if dataset not in config["datasets"]:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(config['datasets'])} "
                         f"(one YAML per dataset in {config['datasets_dir']}/)")
    return config["datasets"][dataset]


def protocols(dataset):
    """The dataset's protocols: its config's ``protocols``, else every protocol its adapter supports."""
    from vadlib.data.adapters import get_adapter

    cfg = dataset_cfg(dataset)
    return list(cfg.get("protocols") or get_adapter(cfg).protocols)


@cache
def entries(dataset):
    """Video id -> manifest entry (from the dataset's adapter, without decoding anything)."""
    from vadlib.data.adapters import list_videos

    return {e.video: e for e in list_videos(dataset_cfg(dataset))}


def entry(dataset, video):
    try:
        return entries(dataset)[video]
    except KeyError:
        raise ValueError(f"dataset {dataset!r} has no video {video!r}") from None


def split(dataset, protocol, name, label=None):
    """Video ids of split ``name`` (train/test) of ``protocol``, optionally of one video-level label."""
    return [e.video for e in entries(dataset).values()
            if e.split(protocol) == name and (label is None or e.label == label)]


def test_videos(dataset):
    """Test videos of every protocol of the dataset, each once."""
    return list(dict.fromkeys(v for p in protocols(dataset) for v in split(dataset, p, "test")))


def per_video(dataset, stage, videos, suffix=".zarr"):
    return [f"{RESULTS}/{dataset}/{stage}/{v}{suffix}" for v in videos]


def score_files(dataset):
    """Scores of every enabled method that applies to the dataset's protocols."""
    prots = protocols(dataset)
    return [f"{RESULTS}/{dataset}/scores/{m}.npz" for m, p in METHODS.items()
            if config["methods"].get(m, False) and (p is None or p in prots)]


@cache
def code_version(*packages):
    """A hash of the vadlib sources behind a stage, handed to ``params`` (Snakemake's code trigger only
    sees the script of each step itself)."""
    import vadlib

    root = Path(vadlib.__file__).parent  # the code that will actually run
    digest = hashlib.sha1()
    for package in ("stores.py", "runtime.py") + packages:
        path = root / package
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def _manifest_inputs(wc):
    cfg = dataset_cfg(wc.dataset)
    videos = entries(wc.dataset)
    if cfg["adapter"] == "synthetic":
        return [f"{cfg['root']}/annotations/{v}.json" for v in videos]
    return []


def features_kind(dataset):
    """``imported`` for datasets of published features, ``i3d`` for extraction from frames."""
    return "imported" if dataset_cfg(dataset)["adapter"] == "features" else "i3d"


def features(dataset, videos):
    return per_video(dataset, f"features/{features_kind(dataset)}", videos)


def weak_params(section):
    return {**config["weak"], **config[section], "seed": config["seed"]}


def weak_train(dataset):
    return split(dataset, "weak", "train")
