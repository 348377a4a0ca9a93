"""Import of published snippet features (the RTFM and XD-Violence layouts) into the features contract.

What researchers download for ShanghaiTech and UCF-Crime (RTFM, "Weakly-supervised Video Anomaly
Detection with Robust Temporal Feature Magnitude Learning", ICCV 2021, and the works that reuse its
features): a list file per split whose lines are paths of ``.npy`` files (``.../01_0014_i3d.npy``), each
``[snippets, 10, 2048]`` float32 (16-frame snippets, ten crops), and a frame-level ground-truth file
(``gt-sh.npy``, ``gt-ucf.npy``) that concatenates the labels of the test videos in test-list order,
16 frames per snippet. XD-Violence's release (Wu et al., "Not only Look, but also Listen", ECCV 2020)
stores each of the five crops of a video as its own file instead, ``{video}__{k}.npy`` of
``[snippets, 1024]`` (k = 0 the centre, 1-4 the corners), one list line per crop file; ``crop_files``
groups them. Everything is read from the dataset config's ``imported`` section::

    imported:
      train_list: data/shanghai/shanghai-i3d-train-10crop.list
      test_list: data/shanghai/shanghai-i3d-test-10crop.list
      ground_truth: data/shanghai/gt-sh.npy   # concatenated .npy, .npz keyed by video id, or .txt annotation
      features_dir: data/shanghai/i3d        # or a list of folders; null: use the list entries as paths
      suffix: _i3d                           # removed from a file's stem to give the video id
      layout: snippet_crop_feature           # crop_snippet_feature: files are [10, snippets, 2048]
      dim: 2048
      crops: 10                              # null: any number of crops
      crop_files: null                       # "__(\\d+)$": one [snippets, dim] file per crop (XD-Violence)
      id_replace: {}                         # {"#": ""}: characters of file names left out of video ids
      dtype: float32                         # storage dtype of the imported stores
      fps: 25
      scene_regex: null                      # e.g. "^(\\d+)_" gives ShanghaiTech's camera id
      tail: pad                              # the features' last snippet: pad, slide or drop (vadlib.snippets)
      train_labels: {from: list_order, abnormal_first: 63}
      test_labels: {from: ground_truth}

Paths. A list entry is used as written, a relative one resolved against the list file's folder; with
``features_dir`` only the entry's file name is kept and looked up there (published lists hold the
authors' absolute paths, UCF-Crime's with Windows separators). ``features_dir`` may name several
folders (the releases ship ``SH_Train_ten_crop_i3d`` and ``SH_Test_ten_crop_i3d``): each file is looked
up in all of them and must be in exactly one. Called directly, config paths are relative to the
working directory; the dataset adapter ``features`` (:mod:`vadlib.data.adapters.features`) takes them
from the dataset's root.

Video ids. A file's stem, without ``suffix``, is its video's id. With ``crop_files`` (a regular
expression searched in the stem, its first group the crop index) the match is cut out first: with
``"__(\\d+)$"``, ``Riot__3.npy`` is crop 3 of video ``Riot``. A video then needs exactly ``crops``
files, crops 0 to ``crops - 1``, in one folder and named alike but for the index; each file is
``[snippets, dim]`` (``layout: snippet_feature``) and all have the same snippets; they are stacked in
crop order. Its manifest ``source`` is the file of crop 0 (:func:`crop_paths` gives the others).
``id_replace`` maps characters (or strings) of a file name to their replacement in the id, for the
releases whose names hold characters the manifest does not take as a file name (XD-Violence's ``#``,
``=`` and ``@``); every video's id must stay unique.

Frames. A video's frame count is taken as ``16 x snippets``, which is what the published ground truth
is aligned to: RTFM's features cover each video by ``ceil(frames / 16)`` snippets and its ground truth
pads the tail to ``16 x snippets`` with the last frame's label (ShanghaiTech's ``gt-sh.npy`` is rebuilt
so exactly, tests/test_real_labels.py); XD-Violence's ``gt.npy`` is cut to ``16 x snippets``.

Tail rule. ``tail`` says how the features treated the video's last ``frames mod 16`` frames
(:mod:`vadlib.snippets`): ``pad`` (the default; ShanghaiTech's release), ``slide`` (the last snippet
is the video's last 16 frames; UCF-Crime's official test features) or ``drop``. It decides which
frames the last snippet's score goes to when scores become frame scores, and what a per-video ground
truth (an ``.npz``) may hold: with ``pad``, exactly ``16 x snippets`` frames (padded); with ``slide``
any count of frames that gives the video its snippets, ``16 (snippets - 1) + 1`` to ``16 x snippets``,
and with ``drop`` ``16 x snippets`` to ``16 x snippets + 15``: the video's true frames, whose count
becomes its ``n_frames``. A concatenated ``.npy`` cannot tell where a video of unknown length ends, so
it must hold ``16 x snippets`` frames per video under every rule.

Ground truth. An ``.npy`` concatenates the test videos' frame labels in test-list order (each video
once, whatever its number of crop files), an ``.npz`` holds one array per video id, and a ``.txt``
is an annotation in XD-Violence's format (:func:`read_annotations`): per line a video name and pairs
of anomalous frame start/end, from which :func:`annotation_ground_truth` builds each test video's
``16 x snippets`` labels as the release's ``make_gt.py`` does.

Labels (``train_labels`` and ``test_labels``, never guessed from the data set's name):

- ``{from: list_order, abnormal_first: N}``: the first ``N`` videos of the list are abnormal, the rest
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
from vadlib.snippets import SNIPPET_LEN, TAILS, frames_of_snippets
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
    "crop_files": None,       # a regular expression: one file per crop, its first group the crop index
    "id_replace": {},         # strings of a file name -> their replacement in the video id
    "dtype": "float32",
    "fps": 25.0,
    "scene_regex": None,
    "tail": "pad",            # the features' last snippet (vadlib.snippets): pad, slide or drop
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
    if cfg["tail"] not in TAILS:
        raise FeatureImportError(f"imported.tail must be one of {list(TAILS)}, got {cfg['tail']!r}")
    replace = cfg["id_replace"] or {}
    if not isinstance(replace, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                                for k, v in replace.items()):
        raise FeatureImportError(f"imported.id_replace must map strings of file names to their replacement "
                                 f"(e.g. {{'#': ''}}), got {replace!r}")
    cfg["id_replace"] = dict(replace)
    if cfg["crop_files"] is not None:
        pattern = cfg["crop_files"]
        try:
            groups = re.compile(pattern).groups if isinstance(pattern, str) else 0
        except re.error as err:
            raise FeatureImportError(f"imported.crop_files {pattern!r} is not a regular expression ({err})") from err
        if not groups:
            raise FeatureImportError(f"imported.crop_files must be a regular expression whose first group is the "
                                     f"crop index (e.g. '__(\\d+)$'), got {pattern!r}")
        if cfg["layout"] != "snippet_feature":
            raise FeatureImportError(f"imported.crop_files: each file holds one crop, so imported.layout must be "
                                     f"snippet_feature ([snippets, dim]), got {cfg['layout']!r}")
        if not isinstance(cfg["crops"], int) or cfg["crops"] < 1:
            raise FeatureImportError(f"imported.crop_files needs imported.crops, the number of files per video, "
                                     f"got {cfg['crops']!r}")
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


def video_id(npy_path: str | os.PathLike, suffix: str = "_i3d", id_replace: dict[str, str] | None = None) -> str:
    """Video id of a feature file: its stem without ``suffix`` (``01_0014_i3d.npy`` -> ``01_0014``), with
    the ``id_replace`` replacements made."""
    return _video_of(Path(npy_path).stem, suffix, id_replace)


def _video_of(stem: str, suffix: str, id_replace: dict[str, str] | None) -> str:
    video = stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem
    for old, new in (id_replace or {}).items():
        video = video.replace(old, new)
    return video


def _crop_match(path: Path, cfg: dict[str, Any]) -> re.Match:
    """The ``crop_files`` match in the stem of ``path``, its first group an integer, or an error naming it."""
    match = re.search(cfg["crop_files"], path.stem)
    if match is None or match.group(1) is None or not match.group(1).isdigit():
        raise FeatureImportError(f"{path}: the file name has no crop index matching imported.crop_files "
                                 f"{cfg['crop_files']!r} (its first group, an integer)")
    return match


def _name_parts(path: Path, cfg: dict[str, Any]) -> tuple[str, int | None]:
    """Video id and crop index (None without ``crop_files``) of a feature file."""
    if not cfg["crop_files"]:
        return video_id(path, cfg["suffix"], cfg["id_replace"]), None
    match = _crop_match(path, cfg)
    stem = path.stem[:match.start()] + path.stem[match.end():]
    return _video_of(stem, cfg["suffix"], cfg["id_replace"]), int(match.group(1))


def crop_paths(npy_path: str | os.PathLike, params: dict[str, Any]) -> list[Path]:
    """The published files of the video that ``npy_path`` belongs to, in crop order: ``[npy_path]``, or
    with ``crop_files`` its ``crops`` files, named as ``npy_path`` is but for the crop index (written
    with as many digits as that index has when it is zero-padded, ``__00``).

    ``params``: keys of the ``imported`` section (``crop_files`` and ``crops`` are used)."""
    cfg = _params(params)
    path = Path(npy_path)
    if not cfg["crop_files"]:
        return [path]
    match = _crop_match(path, cfg)
    index, stem = match.group(1), path.stem
    width = len(index) if len(index) > 1 and index.startswith("0") else 1
    return [path.with_name(f"{stem[:match.start(1)]}{k:0{width}d}{stem[match.end(1):]}{path.suffix}")
            for k in range(cfg["crops"])]


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
    if cfg["crops"] is not None and not cfg["crop_files"] and crops != cfg["crops"]:
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


def _listed(cfg: dict[str, Any]) -> list[tuple[str, list[Path], str]]:
    """``(video, files, split)`` of both lists, training first, ids unique, in list order (a video of
    several crop files where its first file is listed); ``files`` in crop order."""
    seen: dict[str, tuple[str, Path]] = {}
    groups: dict[str, dict[int | None, Path]] = {}
    for split in ("train", "test"):
        for path in read_list(cfg[f"{split}_list"], cfg["features_dir"]):
            video, crop = _name_parts(path, cfg)
            if video in seen:
                first_split, first = seen[video]
                if crop is not None and first_split == split and crop in groups[video]:
                    first = groups[video][crop]
                    what = f"has crop {crop} twice"
                elif crop is None or first_split != split:
                    what = "appears twice"
                else:
                    what = ""
                if what:
                    plain = {**cfg, "id_replace": {}}
                    renamed = " (imported.id_replace maps both names to this id)" if (
                        _name_parts(first, plain)[0] != _name_parts(path, plain)[0]) else ""
                    raise FeatureImportError(f"video {video} {what} ({first} and {path}){renamed}")
            seen.setdefault(video, (split, path))
            groups.setdefault(video, {})[crop] = path
    rows = []
    for video, (split, _) in seen.items():
        files = groups[video]
        if cfg["crop_files"]:
            ordered = [files[k] for k in sorted(files)]
            want = list(range(cfg["crops"]))
            if sorted(files) != want:
                missing = sorted(set(want) - set(files))
                extra = sorted(set(files) - set(want))
                raise FeatureImportError(
                    f"video {video}: {cfg[f'{split}_list']} lists its crop files "
                    f"{[p.name for p in ordered]}; imported.crops = {cfg['crops']} needs crops 0-{cfg['crops'] - 1}"
                    + (f", crops {missing} are missing" if missing else "")
                    + (f", crops {extra} are beyond them" if extra else ""))
            expected = crop_paths(ordered[0], cfg)
            for have, want_path in zip(ordered, expected):
                if have != want_path and have.is_file():     # a missing file is reported when it is read
                    raise FeatureImportError(f"video {video}: crop file {have} is not {want_path}: the crop files "
                                             f"of a video must be in one folder, named alike but for the index")
            rows.append((video, ordered, split))
        else:
            rows.append((video, [files[None]], split))
    return rows


def split_ground_truth(gt_path: str | os.PathLike, videos: list[tuple[str, int]],
                       tail: str = "pad") -> dict[str, np.ndarray]:
    """Per-video frame labels of ``videos`` (``(id, n_frames)`` in test-list order) from ``gt_path``.

    An ``.npy`` is the concatenation over the list; an ``.npz`` holds one array per video id. Every
    length is checked against the video's ``n_frames`` (16 x snippets): exactly with ``tail`` ``pad``
    and for an ``.npy``; with ``slide`` or ``drop`` an ``.npz`` may hold any count of frames that gives
    the video as many snippets under the rule (its true frames, see the module docstring). A mismatch
    names the video.
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
            have = len(per_video[video])
            if tail == "pad" and have != n:
                raise FeatureImportError(f"{gt_path}: test video {video} has {have} "
                                         f"labelled frames, its features cover {n} "
                                         f"(16 x {n // SNIPPET_LEN} snippets)")
            count = -(-n // SNIPPET_LEN) if tail == "slide" else n // SNIPPET_LEN
            lo, hi = frames_of_snippets(max(1, count), SNIPPET_LEN, tail)
            if tail != "pad" and not lo <= have <= hi:
                raise FeatureImportError(f"{gt_path}: test video {video} has {have} labelled frames; "
                                         f"under imported.tail {tail} its {count} snippets cover "
                                         f"{lo} to {hi} frames")
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


#: Video-file extensions dropped from the names of an annotation file (14 of the 500 lines of
#: XD-Violence's test annotation name their video with ``.mp4``, the feature files never do).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm")


def read_annotations(path: str | os.PathLike,
                     id_replace: dict[str, str] | None = None) -> dict[str, list[tuple[int, int]]]:
    """Anomalous frame intervals per video of an annotation file in XD-Violence's format.

    Each line is a video name and pairs of frame numbers ``start end`` (``v=S-7rRLrxnVQ__#1_label_B4-0-0
    0 1517 1970 3038``), 0-based with ``end`` excluded: the release's ``list/make_gt.py`` marks
    ``labels[start:end]``. A name loses a video extension (:data:`VIDEO_EXTENSIONS`) and gets the
    ``id_replace`` replacements, so that it meets the ids of the feature files. A line with an odd count
    of numbers, a number that is no integer of 0 or more, an end before its start or a video named on
    two lines fails naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FeatureImportError(f"{path}: no such annotation file (imported.ground_truth)")
    out: dict[str, list[tuple[int, int]]] = {}
    lines: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        name, numbers = parts[0], parts[1:]
        where = f"{path}:{lineno}"
        if len(numbers) % 2:
            raise FeatureImportError(f"{where}: video {name} has {len(numbers)} frame numbers; a line holds "
                                     f"pairs of anomalous start and end frames")
        if not all(n.isdigit() for n in numbers):
            raise FeatureImportError(f"{where}: video {name}: frame numbers {numbers} are not all integers "
                                     f"of 0 or more")
        values = [int(n) for n in numbers]
        pairs = list(zip(values[::2], values[1::2]))
        for start, end in pairs:
            if end < start:
                raise FeatureImportError(f"{where}: video {name}: anomalous interval {start}-{end} ends "
                                         f"before it starts")
        for ext in VIDEO_EXTENSIONS:
            if name.endswith(ext):
                name = name[: -len(ext)]
                break
        video = _video_of(name, "", id_replace)
        if video in out:
            raise FeatureImportError(f"{where}: video {video} is annotated twice (first on line {lines[video]})")
        out[video], lines[video] = pairs, lineno
    return out


def annotation_ground_truth(path: str | os.PathLike, videos: list[tuple[str, int]],
                            id_replace: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Per-video frame labels of ``videos`` (``(id, n_frames)``, ``n_frames`` = 16 x snippets) from an
    annotation file (:func:`read_annotations`), as XD-Violence's ``make_gt.py`` builds ``gt.npy``: a
    video's anomalous intervals set to 1 and cut at its ``n_frames``; a video without a line (the
    normal ones) all 0. An annotated video that is none of ``videos`` fails by name: its features or
    ``id_replace`` do not meet the annotation."""
    intervals = read_annotations(path, id_replace)
    ids = {video for video, _ in videos}
    extra = [video for video in intervals if video not in ids]
    if extra:
        raise FeatureImportError(f"{path}: {len(extra)} annotated videos are no test video, e.g. {extra[:3]}; "
                                 f"the test list and the annotation do not meet (imported.id_replace?)")
    out = {}
    for video, n in videos:
        labels = np.zeros(n, np.uint8)
        for start, end in intervals.get(video, ()):
            labels[min(start, n):min(end, n)] = 1
        out[video] = labels
    return out


def _ground_truth(cfg: dict[str, Any], videos: list[tuple[str, int]]) -> dict[str, np.ndarray]:
    """Frame labels of the test ``videos`` from ``imported.ground_truth``: an annotation (``.txt``) or
    a published label file (:func:`split_ground_truth`)."""
    if Path(cfg["ground_truth"]).suffix == ".txt":
        return annotation_ground_truth(cfg["ground_truth"], videos, cfg["id_replace"])
    return split_ground_truth(cfg["ground_truth"], videos, cfg["tail"])


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
    for video, paths, _ in rows:
        lengths = [_check_shape(_header_shape(path, video, folders), video, path, cfg)[0] for path in paths]
        _same_length(video, paths, lengths)
        n_frames[video] = SNIPPET_LEN * lengths[0]
    truth = None
    if cfg["ground_truth"]:
        truth = _ground_truth(cfg, [(v, n_frames[v]) for v, _, s in rows if s == "test"])
        n_frames.update({v: len(labels) for v, labels in truth.items()})   # the true counts (tail slide/drop)
    labels = {}
    for split in ("train", "test"):
        ids = [v for v, _, s in rows if s == split]
        labels.update(_labels(cfg[f"{split}_labels"], ids, split, truth if split == "test" else None))
    scene_re = re.compile(cfg["scene_regex"]) if cfg["scene_regex"] else None
    entries = []
    for video, paths, split in rows:
        scene = ""
        if scene_re is not None:
            match = scene_re.search(video)
            if match is None:
                raise FeatureImportError(f"video {video}: imported.scene_regex {cfg['scene_regex']!r} "
                                         f"does not match")
            scene = match.group(1) if match.groups() else match.group(0)
        entries.append(VideoEntry(video=video, source=str(paths[0]), source_kind="features",
                                  label=labels[video], scene=scene, split_weak=split,
                                  n_frames=n_frames[video], fps=float(cfg["fps"])))
    return entries, truth


def _same_length(video: str, paths: list[Path], lengths: list[int]) -> None:
    """The crop files of a video hold as many snippets each, or an error naming them."""
    if len(set(lengths)) > 1:
        counts = ", ".join(f"{p.name}: {n}" for p, n in zip(paths, lengths))
        raise FeatureImportError(f"video {video}: its crop files differ in length ({counts} snippets); "
                                 f"the crops of a video cover the same snippets")


def list_imported_videos(dataset_cfg: dict[str, Any]) -> list[VideoEntry]:
    """Manifest rows of the published features named by ``dataset_cfg['imported']``.

    Reads only the ``.npy`` headers (and the ground truth when it is set: test labels may come from
    it, and a length that does not add up should fail before any job runs), so it is fast enough for
    building the workflow's DAG. Rows: ``source`` = the ``.npy`` path (that of crop 0 with
    ``crop_files``), ``source_kind`` = ``features``,
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
IMPORT_KEYS = ("layout", "dim", "crops", "dtype", "suffix", "crop_files", "id_replace", "tail")


def import_params(section: dict[str, Any] | None) -> dict[str, Any]:
    """The :data:`IMPORT_KEYS` of an ``imported`` section over their defaults: what a workflow hands
    :func:`import_video`, so that relabelling videos or moving the lists does not re-import them."""
    cfg = _params(section or {})
    return {key: cfg[key] for key in IMPORT_KEYS}


def import_video(npy_path: str | os.PathLike | list, out_path: str | os.PathLike, params: dict[str, Any]) -> None:
    """Stage function: one video's published ``.npy`` -> features store ``[snippets, crops, dim]`` at
    ``out_path``.

    ``npy_path``: the video's file, or with ``crop_files`` its crop files in crop order (one of them
    alone stands for all, :func:`crop_paths`), stacked along the crop axis.
    ``params``: keys of the ``imported`` section; :data:`IMPORT_KEYS` are used (pass only these from a
    rule, so that a change of labels does not re-import).
    Attrs: ``extractor`` "imported", ``pretrained`` true, ``weights`` null, ``source`` the file (crop 0's),
    ``snippet_len`` 16, ``preprocessing`` (the layout it was read in; with crop files also the
    ``crop_files`` pattern and the ``files``' names, in crop order).
    """
    cfg = _params(params)
    paths = ([Path(p) for p in npy_path] if isinstance(npy_path, (list, tuple))
             else crop_paths(npy_path, cfg))
    if not paths:
        raise FeatureImportError(f"{out_path}: no feature file to import")
    video = _name_parts(paths[0], cfg)[0]
    if not cfg["crop_files"] and len(paths) != 1:
        raise FeatureImportError(f"video {video}: {len(paths)} files {[str(p) for p in paths]}, but "
                                 f"imported.crop_files is null: one file per video")
    expected = crop_paths(paths[0], cfg)
    if cfg["crop_files"] and paths != expected:
        raise FeatureImportError(f"video {video}: files {[str(p) for p in paths]} are not its {cfg['crops']} "
                                 f"crop files in crop order, {[str(p) for p in expected]}")
    lengths = [_check_shape(_header_shape(path, video), video, path, cfg)[0] for path in paths]
    _same_length(video, paths, lengths)
    if cfg["crop_files"]:
        feats = np.stack([np.load(path, allow_pickle=False) for path in paths], axis=1)
    else:
        feats = np.load(paths[0], allow_pickle=False)
        feats = feats[:, None, :] if cfg["layout"] == "snippet_feature" else feats.transpose(LAYOUTS[cfg["layout"]])
    where = f"video {video} ({paths[0]}{' and its other crop files' if len(paths) > 1 else ''})"
    bad = ~np.isfinite(feats).all(axis=(1, 2))
    if bad.any():
        raise FeatureImportError(f"{where}: snippets {np.flatnonzero(bad)[:5].tolist()} hold NaN or Inf")
    preprocessing = {"layout": cfg["layout"], "published": True}
    if cfg["crop_files"]:
        preprocessing.update(crop_files=cfg["crop_files"], files=[p.name for p in paths])
    attrs = {"extractor": "imported", "weights": None, "weights_sha256": None, "pretrained": True,
             "snippet_len": SNIPPET_LEN, "tail": cfg["tail"], "source": str(paths[0]), "video": video,
             "preprocessing": preprocessing}
    stored = np.ascontiguousarray(feats, dtype=cfg["dtype"])
    if not np.isfinite(stored).all():
        raise FeatureImportError(f"{where}: features exceed the {cfg['dtype']} range; "
                                 f"set imported.dtype to float32")
    write_store(out_path, "features", stored, attrs)


def import_ground_truth(dataset_cfg: dict[str, Any], manifest_path: str | os.PathLike,
                        gt_path: str | os.PathLike) -> None:
    """Stage function: split the published ground truth (or build it from an annotation) per test video
    -> ``gt_path`` (npz).

    Test videos are taken in test-list order (each once, whatever its number of crop files) with their
    ``n_frames`` from the manifest (16 x snippets); a video of the list missing from the manifest, or a
    length that does not add up, fails by name.
    """
    cfg = _section(dataset_cfg)
    if not cfg["ground_truth"]:
        raise FeatureImportError("imported.ground_truth is required to write the ground truth")
    manifest = read_manifest(manifest_path).set_index("video")
    videos = []
    for video, _, split in _listed(cfg):
        if split != "test":
            continue
        if video not in manifest.index:
            raise FeatureImportError(f"{manifest_path}: test video {video} of {cfg['test_list']} "
                                     f"is not in the manifest")
        videos.append((video, int(manifest.at[video, "n_frames"])))
    save_ground_truth(gt_path, _ground_truth(cfg, videos))
