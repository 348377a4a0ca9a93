"""Import of published snippet features (the RTFM layout) into the pipeline's features contract.

What researchers download for ShanghaiTech and UCF-Crime (RTFM, "Weakly-supervised Video Anomaly
Detection with Robust Temporal Feature Magnitude Learning", ICCV 2021, and the works that reuse its
features): a list file per split whose lines are paths of ``.npy`` files (``.../01_0014_i3d.npy``), each
``[snippets, 10, 2048]`` float32 (16-frame snippets, ten crops), and a frame-level ground-truth file
(``gt-sh.npy``, ``gt-ucf.npy``) that concatenates the labels of the test videos in test-list order,
16 frames per snippet. Everything is read from the dataset config's ``imported`` section::

    imported:
      train_list: data/shanghai/shanghai-i3d-train-10crop.list
      test_list: data/shanghai/shanghai-i3d-test-10crop.list
      ground_truth: data/shanghai/gt-sh.npy   # concatenated .npy, or an .npz keyed by video id
      features_dir: data/shanghai/i3d        # or a list of folders; null: use the list entries as paths
      suffix: _i3d                           # removed from a file's stem to give the video id
      layout: snippet_crop_feature           # crop_snippet_feature: files are [10, snippets, 2048]
      dim: 2048
      crops: 10                              # null: any number of crops
      dtype: float32                         # storage dtype of the imported stores
      fps: 25
      scene_regex: null                      # e.g. "^(\\d+)_" gives ShanghaiTech's camera id
      train_labels: {from: list_order, abnormal_first: 63}
      test_labels: {from: ground_truth}

Paths. A list entry is used as written, a relative one resolved against the list file's folder; with
``features_dir`` only the entry's file name is kept and looked up there (published lists hold the
authors' absolute paths, UCF-Crime's with Windows separators). ``features_dir`` may name several
folders (the releases ship ``SH_Train_ten_crop_i3d`` and ``SH_Test_ten_crop_i3d``): each file is looked
up in all of them and must be in exactly one. Called directly, config paths are relative to the
working directory; the dataset adapter ``features`` (:mod:`vadlib.data.adapters.features`) takes them
from the dataset's root.

Frames. A video's frame count is taken as ``16 x snippets`` (the published features dropped the tail
of each video), which is what the published ground truth is aligned to.

Labels (``train_labels`` and ``test_labels``, never guessed from the data set's name):

- ``{from: list_order, abnormal_first: N}``: the first ``N`` entries of the list are abnormal, the rest
  normal (RTFM's lists: N = 63 for ShanghaiTech training, 810 for UCF-Crime training);
- ``{from: name, normal_contains: Normal}``: a video whose id contains the string is normal, any other
  abnormal (UCF-Crime's file names);
- ``{from: file, path: labels.csv}``: lines ``video,label`` (or whitespace separated), label 0 or 1;
- ``{from: ground_truth}`` (test videos only): abnormal when any of its frames is anomalous.

Imported videos exist in the weakly supervised protocol only (``split_weak``); their one-class split is
empty, since the one-class methods need frames.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from vadlib.data.manifest import VideoEntry, read_manifest, save_ground_truth
from vadlib.snippets import SNIPPET_LEN
from vadlib.stores import write_store

LAYOUTS = {"snippet_crop_feature": (0, 1, 2), "crop_snippet_feature": (1, 0, 2), "snippet_feature": None}

#: The ``imported`` section of a dataset config with its defaults (list paths have none).
DEFAULTS: dict[str, Any] = {
    "train_list": None,
    "test_list": None,
    "ground_truth": None,
    "features_dir": None,
    "suffix": "_i3d",
    "layout": "snippet_crop_feature",
    "dim": 2048,
    "crops": 10,
    "dtype": "float32",
    "fps": 25.0,
    "scene_regex": None,
    "train_labels": None,     # required: no convention is assumed
    "test_labels": {"from": "ground_truth"},
}


class FeatureImportError(ValueError):
    """Published features or ground truth do not fit together."""


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` over :data:`DEFAULTS`; unknown keys and values fail by name."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise FeatureImportError(f"imported: unknown keys {unknown}; known keys are {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **params}
    if cfg["layout"] not in LAYOUTS:
        raise FeatureImportError(f"imported.layout must be one of {list(LAYOUTS)}, got {cfg['layout']!r}")
    if cfg["dtype"] not in ("float16", "float32"):
        raise FeatureImportError(f"imported.dtype must be float16 or float32, got {cfg['dtype']!r}")
    return cfg


def _section(dataset_cfg: dict[str, Any]) -> dict[str, Any]:
    """The ``imported`` section of a dataset config over :data:`DEFAULTS`, checked."""
    if "imported" not in dataset_cfg:
        raise FeatureImportError("dataset config: section 'imported' is missing")
    cfg = _params(dataset_cfg["imported"])
    for key in ("train_list", "test_list", "train_labels", "test_labels"):
        if not cfg[key]:
            raise FeatureImportError(f"imported.{key} is required")
    return cfg


def video_id(npy_path: str | os.PathLike, suffix: str = "_i3d") -> str:
    """Video id of a feature file: its stem without ``suffix`` (``01_0014_i3d.npy`` -> ``01_0014``)."""
    stem = Path(npy_path).stem
    return stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem


def _folders(features_dir: str | os.PathLike | list | None) -> list[Path] | None:
    if features_dir is None:
        return None
    folders = [Path(d) for d in (features_dir if isinstance(features_dir, (list, tuple)) else [features_dir])]
    if not folders:
        raise FeatureImportError("imported.features_dir is an empty list; give a folder, a list of folders or null")
    return folders


def _find(name: str, folders: list[Path]) -> Path:
    """``name`` in the one folder that holds it; in the first folder when none does (its absence is
    reported, with the video, when the file is read)."""
    found = [folder / name for folder in folders if (folder / name).is_file()] if len(folders) > 1 else []
    if len(found) > 1:
        raise FeatureImportError(f"{name} is in several feature folders: {[str(p) for p in found]}")
    return found[0] if found else folders[0] / name


def read_list(list_path: str | os.PathLike, features_dir: str | os.PathLike | list | None = None) -> list[Path]:
    """Feature file paths of a list file, in list order (see the module docstring for resolution)."""
    list_path = Path(list_path)
    if not list_path.is_file():
        raise FeatureImportError(f"{list_path}: no such list file")
    folders = _folders(features_dir)
    paths = []
    for line in list_path.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip().replace("\\", "/")   # lists written on Windows (UCF-Crime's)
        if not line:
            continue
        if folders is not None:
            paths.append(_find(PurePosixPath(line).name, folders))
        else:
            path = Path(line)
            paths.append(path if path.is_absolute() else list_path.parent / path)
    if not paths:
        raise FeatureImportError(f"{list_path}: the list names no feature file")
    return paths


def _check_shape(shape: tuple[int, ...], video: str, path: Path, cfg: dict[str, Any]) -> tuple[int, int]:
    """``(snippets, crops)`` of a file of ``shape`` in the configured layout, or an error naming it."""
    layout = cfg["layout"]
    want = 2 if layout == "snippet_feature" else 3
    if len(shape) != want:
        raise FeatureImportError(f"video {video} ({path}): shape {list(shape)} has {len(shape)} axes, "
                           f"layout {layout} has {want}")
    if shape[-1] != cfg["dim"]:
        raise FeatureImportError(f"video {video} ({path}): features are {shape[-1]}-d, "
                                 f"expected imported.dim = {cfg['dim']}")
    if layout == "snippet_feature":
        snippets, crops = shape[0], 1
    else:
        snippets, crops = (shape[0], shape[1]) if layout == "snippet_crop_feature" else (shape[1], shape[0])
    if cfg["crops"] is not None and crops != cfg["crops"]:
        raise FeatureImportError(f"video {video} ({path}): {crops} crops in layout {layout} "
                                 f"(shape {list(shape)}), expected imported.crops = {cfg['crops']}")
    if snippets < 1:
        raise FeatureImportError(f"video {video} ({path}): no snippet")
    return snippets, crops


def _header_shape(path: Path, video: str, folders: list[Path] | None = None) -> tuple[int, ...]:
    if not path.is_file():
        if folders and len(folders) > 1:
            raise FeatureImportError(f"video {video}: feature file {path.name} is in none of the folders "
                                     f"{[str(f) for f in folders]}")
        raise FeatureImportError(f"video {video}: feature file {path} does not exist")
    try:
        return np.load(path, mmap_mode="r").shape
    except Exception as err:  # noqa: BLE001 - numpy raises several types for unreadable files
        raise FeatureImportError(f"video {video}: {path} is not a readable .npy file ({err})") from err


def _listed(cfg: dict[str, Any]) -> list[tuple[str, Path, str]]:
    """``(video, path, split)`` of both lists, training first, ids unique."""
    rows, seen = [], {}
    for split in ("train", "test"):
        for path in read_list(cfg[f"{split}_list"], cfg["features_dir"]):
            video = video_id(path, cfg["suffix"])
            if video in seen:
                raise FeatureImportError(f"video {video} appears twice ({seen[video]} and {path})")
            seen[video] = path
            rows.append((video, path, split))
    return rows


def split_ground_truth(gt_path: str | os.PathLike, videos: list[tuple[str, int]]) -> dict[str, np.ndarray]:
    """Per-video frame labels of ``videos`` (``(id, n_frames)`` in test-list order) from ``gt_path``.

    An ``.npy`` is the concatenation over the list; an ``.npz`` holds one array per video id. Every
    length is checked against the video's ``n_frames`` (16 x snippets); a mismatch names the video.
    """
    gt_path = Path(gt_path)
    if not gt_path.is_file():
        raise FeatureImportError(f"{gt_path}: no such ground-truth file (imported.ground_truth)")
    out: dict[str, np.ndarray] = {}
    if gt_path.suffix == ".npz":
        with np.load(gt_path) as data:
            per_video = {k: np.asarray(data[k]).reshape(-1) for k in data.files}
        extra = sorted(set(per_video) - {v for v, _ in videos})
        if extra:
            raise FeatureImportError(f"{gt_path}: videos {extra[:5]} are not in the test list")
        for video, n in videos:
            if video not in per_video:
                raise FeatureImportError(f"{gt_path}: no ground truth for test video {video}")
            if len(per_video[video]) != n:
                raise FeatureImportError(f"{gt_path}: test video {video} has {len(per_video[video])} "
                                         f"labelled frames, its features cover {n} "
                                         f"(16 x {n // SNIPPET_LEN} snippets)")
            out[video] = per_video[video]
    else:
        gt = np.load(gt_path, allow_pickle=False)
        if gt.ndim != 1:
            raise FeatureImportError(f"{gt_path}: a concatenated ground truth is 1-d, "
                                     f"got shape {list(gt.shape)}")
        start = 0
        for video, n in videos:
            if start + n > len(gt):
                raise FeatureImportError(f"{gt_path}: the file ends at frame {len(gt)}, inside test video "
                                         f"{video} (frames {start}-{start + n} of the concatenation, "
                                         f"16 x {n // SNIPPET_LEN} snippets); the features and the "
                                         f"ground truth do not match")
            out[video] = gt[start:start + n]
            start += n
        if start != len(gt):
            raise FeatureImportError(f"{gt_path}: {len(gt)} frames, but the {len(videos)} test videos cover "
                                     f"{start} (16 x snippets each); {len(gt) - start} frames are left after "
                                     f"the last video {videos[-1][0]}, so some video's snippet count does "
                                     f"not match")
    for video, labels in out.items():
        if not np.isin(labels, (0, 1)).all():
            raise FeatureImportError(f"{gt_path}: test video {video} has labels other than 0 and 1")
        out[video] = labels.astype(np.uint8)
    return out


def _labels(rule: dict[str, Any], videos: list[str], split: str,
            truth: dict[str, np.ndarray] | None) -> dict[str, int]:
    """Video labels of one split by the configured rule (see the module docstring)."""
    key = f"imported.{split}_labels"
    if not isinstance(rule, dict):
        raise FeatureImportError(f"{key} must be a mapping such as {{from: name, normal_contains: Normal}}, "
                                 f"got {rule!r}")
    kind = rule.get("from")
    if kind == "list_order":
        n = int(rule.get("abnormal_first", 0))
        if not 0 <= n <= len(videos):
            raise FeatureImportError(f"{key}.abnormal_first = {n}, but the {split} list has "
                                     f"{len(videos)} videos")
        return {v: int(i < n) for i, v in enumerate(videos)}
    if kind == "name":
        needle = rule.get("normal_contains")
        if not needle:
            raise FeatureImportError(f"{key}.normal_contains is required with from: name")
        return {v: int(needle not in v) for v in videos}
    if kind == "file":
        path = Path(rule.get("path") or "")
        if not path.is_file():
            raise FeatureImportError(f"{key}.path: no such labels file {path}")
        table = {}
        for line in path.read_text().splitlines():
            parts = line.replace(",", " ").split()
            if len(parts) == 2 and parts[1] in ("0", "1"):
                table[parts[0]] = int(parts[1])
            elif parts and parts != ["video", "label"]:
                raise FeatureImportError(f"{path}: line {line!r} is not 'video,label' with label 0 or 1")
        missing = [v for v in videos if v not in table]
        if missing:
            raise FeatureImportError(f"{path}: no label for videos {missing[:5]}")
        return {v: table[v] for v in videos}
    if kind == "ground_truth":
        if truth is None:
            raise FeatureImportError(f"{key}: from ground_truth is for test videos, "
                                     f"with imported.ground_truth set")
        return {v: int(truth[v].any()) for v in videos}
    raise FeatureImportError(f"{key}.from must be list_order, name, file or ground_truth, got {kind!r}")


def _scan(cfg: dict[str, Any]) -> tuple[list[VideoEntry], dict[str, np.ndarray] | None]:
    """Manifest rows of a checked ``imported`` section, and the test videos' frame labels (None
    without ``ground_truth``)."""
    rows = _listed(cfg)
    folders = _folders(cfg["features_dir"])
    n_frames = {}
    for video, path, _ in rows:
        snippets, _crops = _check_shape(_header_shape(path, video, folders), video, path, cfg)
        n_frames[video] = SNIPPET_LEN * snippets
    truth = None
    if cfg["ground_truth"]:
        truth = split_ground_truth(cfg["ground_truth"], [(v, n_frames[v]) for v, _, s in rows if s == "test"])
    labels = {}
    for split in ("train", "test"):
        ids = [v for v, _, s in rows if s == split]
        labels.update(_labels(cfg[f"{split}_labels"], ids, split, truth if split == "test" else None))
    scene_re = re.compile(cfg["scene_regex"]) if cfg["scene_regex"] else None
    entries = []
    for video, path, split in rows:
        scene = ""
        if scene_re is not None:
            match = scene_re.search(video)
            if match is None:
                raise FeatureImportError(f"video {video}: imported.scene_regex {cfg['scene_regex']!r} "
                                         f"does not match")
            scene = match.group(1) if match.groups() else match.group(0)
        entries.append(VideoEntry(video=video, source=str(path), source_kind="features",
                                  label=labels[video], scene=scene, split_weak=split,
                                  n_frames=n_frames[video], fps=float(cfg["fps"])))
    return entries, truth


def list_imported_videos(dataset_cfg: dict[str, Any]) -> list[VideoEntry]:
    """Manifest rows of the published features named by ``dataset_cfg['imported']``.

    Reads only the ``.npy`` headers (and the ground truth when it is set: test labels may come from
    it, and a length that does not add up should fail before any job runs), so it is fast enough for
    building the workflow's DAG. Rows: ``source`` = the ``.npy`` path, ``source_kind`` = ``features``,
    ``n_frames`` = 16 x snippets, ``split_weak`` = train/test.
    """
    return _scan(_section(dataset_cfg))[0]


def build_imported(dataset_cfg: dict[str, Any]) -> tuple[list[VideoEntry], dict[str, np.ndarray]]:
    """:func:`list_imported_videos` and the per-video frame labels of the test videos (from
    ``imported.ground_truth``, required here), in one pass over the files."""
    cfg = _section(dataset_cfg)
    if not cfg["ground_truth"]:
        raise FeatureImportError("imported.ground_truth is required: the test videos need frame labels")
    return _scan(cfg)


def source_files(dataset_cfg: dict[str, Any]) -> list[Path]:
    """The files the manifest is made of besides the features: both lists, the ground truth and any
    labels file (a workflow's manifest step lists them as inputs, so an edit of one reruns it)."""
    cfg = _section(dataset_cfg)
    files = [cfg["train_list"], cfg["test_list"], cfg["ground_truth"]]
    files += [rule.get("path") for rule in (cfg["train_labels"], cfg["test_labels"])
              if isinstance(rule, dict) and rule.get("from") == "file"]
    return [Path(f) for f in files if f]


#: The keys of the ``imported`` section that shape a stored feature (the parameters of one import).
IMPORT_KEYS = ("layout", "dim", "crops", "dtype", "suffix")


def import_params(section: dict[str, Any] | None) -> dict[str, Any]:
    """The :data:`IMPORT_KEYS` of an ``imported`` section over their defaults: what a workflow hands
    :func:`import_video`, so that relabelling videos or moving the lists does not re-import them."""
    cfg = _params(section or {})
    return {key: cfg[key] for key in IMPORT_KEYS}


def import_video(npy_path: str | os.PathLike, out_path: str | os.PathLike, params: dict[str, Any]) -> None:
    """Stage function: one published ``.npy`` -> features store ``[snippets, crops, dim]`` at ``out_path``.

    ``params``: keys of the ``imported`` section; ``layout``, ``dim``, ``crops``, ``dtype`` and ``suffix``
    are used (pass only these from a rule, so that a change of labels does not re-import).
    Attrs: ``extractor`` "imported", ``pretrained`` true, ``weights`` null, ``source`` the file,
    ``snippet_len`` 16, ``preprocessing`` (the layout it was read in).
    """
    cfg = _params(params)
    path = Path(npy_path)
    video = video_id(path, cfg["suffix"])
    _check_shape(_header_shape(path, video), video, path, cfg)
    feats = np.load(path, allow_pickle=False)
    if cfg["layout"] == "snippet_feature":
        feats = feats[:, None, :]
    else:
        feats = feats.transpose(LAYOUTS[cfg["layout"]])
    bad = ~np.isfinite(feats).all(axis=(1, 2))
    if bad.any():
        raise FeatureImportError(f"video {video} ({path}): snippets {np.flatnonzero(bad)[:5].tolist()} "
                                 f"hold NaN or Inf")
    attrs = {"extractor": "imported", "weights": None, "weights_sha256": None, "pretrained": True,
             "snippet_len": SNIPPET_LEN, "source": str(path), "video": video,
             "preprocessing": {"layout": cfg["layout"], "published": True}}
    stored = np.ascontiguousarray(feats, dtype=cfg["dtype"])
    if not np.isfinite(stored).all():
        raise FeatureImportError(f"video {video} ({path}): features exceed the {cfg['dtype']} range; "
                                 f"set imported.dtype to float32")
    write_store(out_path, "features", stored, attrs)


def import_ground_truth(dataset_cfg: dict[str, Any], manifest_path: str | os.PathLike,
                        gt_path: str | os.PathLike) -> None:
    """Stage function: split the published ground truth per test video -> ``gt_path`` (npz).

    Test videos are taken in test-list order with their ``n_frames`` from the manifest (16 x snippets);
    a video of the list missing from the manifest, or a length that does not add up, fails by name.
    """
    cfg = _section(dataset_cfg)
    if not cfg["ground_truth"]:
        raise FeatureImportError("imported.ground_truth is required to write the ground truth")
    manifest = read_manifest(manifest_path).set_index("video")
    videos = []
    for path in read_list(cfg["test_list"], cfg["features_dir"]):
        video = video_id(path, cfg["suffix"])
        if video not in manifest.index:
            raise FeatureImportError(f"{manifest_path}: test video {video} of {cfg['test_list']} "
                                     f"is not in the manifest")
        videos.append((video, int(manifest.at[video, "n_frames"])))
    save_ground_truth(gt_path, split_ground_truth(cfg["ground_truth"], videos))
