"""The plan of the synthetic dataset: which videos exist, their splits, labels, lengths and seeds.

Planning is cheap (no rendering) so that the workflow can list the videos when it builds its DAG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ANOMALY_TYPES = ("running", "cyclist", "vehicle", "wrong_way", "falling", "fighting", "abandoned_object")

# Keys of the dataset's ``synthetic:`` config section.
CONFIG_KEYS = ("seed", "scenes", "size", "fps", "frames", "train_normal", "train_abnormal",
               "test_normal", "test_abnormal", "anomaly_types")

MIN_FRAMES = 16  # one snippet of the 16-frame convention

# Groups of videos: (group code, id part, label, split_oneclass, split_weak, count key).
_GROUPS = (
    (0, "train", 0, "train", "train", "train_normal"),
    (1, "train", 1, "", "train", "train_abnormal"),
    (2, "test", 0, "test", "test", "test_normal"),
    (3, "test", 1, "test", "test", "test_abnormal"),
)


class SyntheticConfigError(ValueError):
    """The ``synthetic:`` config section is malformed."""


@dataclass(frozen=True)
class VideoPlan:
    """One video of the synthetic dataset, fully determined by these fields and the config."""

    video: str                # id, safe as a file name, e.g. "s2_test_0007"
    scene: str                # scene id, e.g. "s2"
    scene_index: int          # the scene's index, 0 .. scenes-1
    label: int                # video-level label: 1 when it contains an anomaly
    split_oneclass: str       # "train" (normal training), "" (abnormal training) or "test"
    split_weak: str           # "train" or "test"
    n_frames: int
    anomaly: str | None       # anomaly type, None for normal videos
    seed: int                 # the video's own seed (walkers, timing, noise)


def _int(cfg: dict, key: str, low: int) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise SyntheticConfigError(f"synthetic.{key}: expected an integer >= {low}, got {value!r}")
    return int(value)


def _pair(cfg: dict, key: str, low: int) -> tuple[int, int]:
    value = cfg[key]
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        raise SyntheticConfigError(f"synthetic.{key}: expected a pair of integers, got {value!r}")
    a, b = int(value[0]), int(value[1])
    if a < low or b < low:
        raise SyntheticConfigError(f"synthetic.{key}: values must be >= {low}, got {value!r}")
    return a, b


def check_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Validate the ``synthetic:`` section and return it normalised (tuples, ints)."""
    if not isinstance(cfg, dict):
        raise SyntheticConfigError(f"synthetic: expected a mapping, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - set(CONFIG_KEYS))
    if unknown:
        raise SyntheticConfigError(f"synthetic: unknown key(s) {unknown}; expected {list(CONFIG_KEYS)}")
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        raise SyntheticConfigError(f"synthetic: missing key(s) {missing}")
    out: dict[str, Any] = {"seed": _int(cfg, "seed", 0), "scenes": _int(cfg, "scenes", 1),
                           "fps": _int(cfg, "fps", 1)}
    height, width = _pair(cfg, "size", 32)
    out["size"] = (height, width)
    lo, hi = _pair(cfg, "frames", MIN_FRAMES)
    if lo > hi:
        raise SyntheticConfigError(f"synthetic.frames: min {lo} is larger than max {hi}")
    out["frames"] = (lo, hi)
    for key in ("train_normal", "train_abnormal", "test_normal", "test_abnormal"):
        out[key] = _int(cfg, key, 0)
    types = cfg["anomaly_types"]
    if not isinstance(types, (list, tuple)) or not types:
        raise SyntheticConfigError(f"synthetic.anomaly_types: expected a non-empty list, got {types!r}")
    bad = [t for t in types if t not in ANOMALY_TYPES]
    if bad:
        raise SyntheticConfigError(f"synthetic.anomaly_types: unknown type(s) {bad}; "
                                   f"known types are {list(ANOMALY_TYPES)}")
    if len(set(types)) != len(types):
        raise SyntheticConfigError(f"synthetic.anomaly_types: {list(types)} lists a type twice")
    out["anomaly_types"] = tuple(types)
    if out["test_abnormal"] < len(types):
        raise SyntheticConfigError(
            f"synthetic.test_abnormal: {out['test_abnormal']} videos cannot hold every one of the "
            f"{len(types)} anomaly types at least once")
    if out["train_normal"] + out["test_normal"] + out["train_abnormal"] + out["test_abnormal"] == 0:
        raise SyntheticConfigError("synthetic: the counts of videos are all zero")
    return out


def _seed(seed: int, *keys: int) -> int:
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def plan_videos(cfg: dict[str, Any]) -> list[VideoPlan]:
    """Every video of the dataset described by the ``synthetic:`` section ``cfg``, in id order.

    Scenes are dealt round-robin within each group (so every scene has normal training videos);
    anomaly types round-robin over ``anomaly_types`` (so every type is in the test split when
    ``test_abnormal >= len(anomaly_types)``). Within a split, normal and abnormal videos are shuffled
    together before numbering, so an id says nothing about the label.
    """
    cfg = check_config(cfg)
    seed, scenes, types = cfg["seed"], cfg["scenes"], cfg["anomaly_types"]
    lo, hi = cfg["frames"]
    rng = np.random.default_rng(_seed(seed, 0))
    rows: dict[str, list[tuple]] = {"train": [], "test": []}
    for code, part, label, split_oc, split_weak, key in _GROUPS:
        count = cfg[key]
        scene_offset = int(rng.integers(scenes))
        type_offset = int(rng.integers(len(types))) if part == "train" else 0
        lengths = rng.integers(lo, hi + 1, size=count)
        for i in range(count):
            anomaly = types[(i + type_offset) % len(types)] if label else None
            scene = (i + scene_offset) % scenes
            rows[part].append((scene, label, split_oc, split_weak, int(lengths[i]), anomaly,
                               _seed(seed, 1, code, i)))
    plans = []
    for part in ("train", "test"):
        order = rng.permutation(len(rows[part]))
        for k, j in enumerate(order):
            scene, label, split_oc, split_weak, n_frames, anomaly, vseed = rows[part][j]
            plans.append(VideoPlan(video=f"s{scene}_{part}_{k:04d}", scene=f"s{scene}", scene_index=scene,
                                   label=label, split_oneclass=split_oc, split_weak=split_weak,
                                   n_frames=n_frames, anomaly=anomaly, seed=vseed))
    return plans
