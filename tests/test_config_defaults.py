"""config/config.yaml's defaults are the code's defaults, section by section.

A stage run on config.yaml and the same stage called with no parameters must do the same thing, so
each section's values equal the defaults of the code that reads them. Keys on one side only are listed
in ``ONE_SIDED`` with the reason; a value that differs on purpose is listed in ``DIFFERENT``.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from vadlib import reference
from vadlib.flow import mixup
from vadlib.flow.compute import check_params
from vadlib.flow.tvl1_params import TVL1Params
from vadlib.masks import stage as masks
from vadlib.oneclass import luss, memae_cvae, stpa
from vadlib.oneclass.params import SHARED
from vadlib.params import defaults_of
from vadlib.weak.config import LANetConfig, MLPConfig, MTVAEConfig, RTFMConfig, WeakConfig

CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())

#: (section, key) -> why the key is in config.yaml only or in the code only.
ONE_SIDED: dict[tuple[str, str], str] = {
    ("weak", "seed"): "the workflow passes the top-level seed (compared with it below)",
    ("oneclass", "seed"): "the workflow passes the top-level seed (compared with it below)",
    ("masks", "seed"): "the workflow passes the top-level seed (compared with it below)",
    ("mixup", "seed"): "the workflow passes the top-level seed (compared with it below)",
    ("inpaint", "seed"): "the workflow passes the top-level seed (compared with it below)",
    ("inpaint.train", "seed"): "the workflow passes the top-level seed (compared with it below)",
    ("features.i3d", "seed"): "the workflow passes the top-level seed (compared with it below)",
    ("inpaint", "weights"): "read by the workflow (which model directory, or train_ldm's)",
    ("inpaint", "train"): "the section inpaint.train, compared on its own",
    ("flow", "size"): "read inline by vadlib.flow.compute.compute_flow (default null: the frames' size)",
    ("flow", "compile"): "read inline by vadlib.flow.compute.check_params (default auto)",
}

#: (section, key) -> (the code's default, config.yaml's value, why they differ).
DIFFERENT: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("weak", "feature_dim"): (2048, None, "null in config.yaml: the workflow passes the features' width "
                                          "(2048 for I3D R50, imported.dim for published features)"),
}


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively, as YAML reads them."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _compare(section: str, code: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Every disagreement between the code's defaults and the config section that is not listed."""
    problems = []
    for key in sorted(set(code) | set(config)):
        if (section, key) in ONE_SIDED:
            if key in code and key in config:
                problems.append(f"{section}.{key} is listed as one-sided but is on both sides")
            continue
        if key not in config:
            problems.append(f"{section}.{key}: code default {code[key]!r} is not in config.yaml")
        elif key not in code:
            problems.append(f"{section}.{key}: config.yaml's {config[key]!r} has no code default")
        elif (section, key) in DIFFERENT:
            expected = DIFFERENT[section, key][:2]
            if (_plain(code[key]), config[key]) != expected:
                problems.append(f"{section}.{key}: listed as {expected}, now {(code[key], config[key])}")
        elif _plain(code[key]) != config[key]:
            problems.append(f"{section}.{key}: code {code[key]!r} != config.yaml {config[key]!r}")
    if "seed" in code and code["seed"] != CONFIG["seed"]:
        problems.append(f"{section}.seed: code {code['seed']!r} != config.yaml's seed {CONFIG['seed']!r}")
    return problems


def _own(cls: type) -> dict[str, Any]:
    """The defaults of a weak stage's own fields (not those of the shared ``weak`` section)."""
    shared = {f.name for f in fields(WeakConfig)}
    return {k: v for k, v in defaults_of(cls).items() if k not in shared}


def _inpaint_sample() -> dict[str, Any]:
    from vadlib.inpaint.sample import DEFAULTS

    return DEFAULTS


def _inpaint_train() -> dict[str, Any]:
    from vadlib.inpaint.train import TRAIN_DEFAULTS

    return TRAIN_DEFAULTS


def _features_i3d() -> dict[str, Any]:
    from vadlib.features.extract import DEFAULTS

    return DEFAULTS


def _oneclass(module) -> dict[str, Any]:
    """A one-class method's own defaults: those that are not the shared section's, or differ from it
    (the pseudo-anomaly AEs' batch)."""
    return {k: v for k, v in module.DEFAULTS.items() if k not in SHARED or v != SHARED[k]}


SECTIONS = {
    "weak": lambda: defaults_of(WeakConfig),
    "mlp": lambda: _own(MLPConfig),
    "rtfm": lambda: _own(RTFMConfig),
    "lanet": lambda: _own(LANetConfig),
    "mtvae": lambda: _own(MTVAEConfig),
    "oneclass": lambda: SHARED,
    "luss": lambda: _oneclass(luss),
    "memae_cvae": lambda: _oneclass(memae_cvae),
    "stpa": lambda: _oneclass(stpa),
    "flow": lambda: {**defaults_of(TVL1Params), **dict(zip(("method", "batch"), check_params({})[:2]))},
    "masks": lambda: masks.DEFAULTS,
    "inpaint": _inpaint_sample,
    "inpaint.train": _inpaint_train,
    "mixup": lambda: mixup.DEFAULTS,
    "reference": lambda: reference.DEFAULTS,
    "features.i3d": _features_i3d,
}


def _section(name: str) -> dict[str, Any]:
    out = CONFIG
    for part in name.split("."):
        out = out[part]
    return out


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_config_yaml_defaults_are_the_codes(section):
    assert _compare(section, SECTIONS[section](), _section(section)) == []


def test_the_one_class_sections_merge_into_each_methods_defaults():
    """What the workflow hands a method on config.yaml alone is the method's defaults."""
    for module in (luss, memae_cvae, stpa):
        merged = {**CONFIG["oneclass"], **CONFIG[module.METHOD], "seed": CONFIG["seed"]}
        assert merged == module.DEFAULTS, module.METHOD


def test_the_lists_name_real_keys():
    for section, key in list(ONE_SIDED) + list(DIFFERENT):
        assert section in SECTIONS, section
        code, config = SECTIONS[section](), _section(section)
        assert key in code or key in config, f"{section}.{key}"
