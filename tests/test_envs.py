"""The conda environment for --sdm conda matches pyproject.toml at the versions of constraints.txt."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    return pins


def test_conda_env_matches_pyproject_and_constraints():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for env_file in sorted((ROOT / "envs").glob("*.yaml")):
        env = yaml.safe_load(env_file.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        pins = _pins(pip)
        assert set(pins) == wanted, f"{env_file.name}: differs from pyproject.toml by {set(pins) ^ wanted}"
        for name, version in pins.items():
            assert constraints.get(name) == version, \
                f"{env_file.name}: {name}=={version} but constraints.txt pins {constraints.get(name)}"


def test_every_dependency_is_pinned_by_constraints():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    missing = {_name(r) for r in project["dependencies"]} - set(constraints)
    assert not missing, f"constraints.txt pins no version of {sorted(missing)}"
