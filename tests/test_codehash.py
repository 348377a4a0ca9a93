"""Code versions from the import graph (vadlib.codehash): which sources a rule's script runs."""

import re
from functools import cache
from pathlib import Path

import pytest

from vadlib.codehash import code_hash, script_modules

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vadlib"


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def package(tmp_path):
    """A package ``vadlib`` of a few modules: absolute, relative, lazy (PEP 562) and in-function imports."""
    root = tmp_path / "vadlib"
    write(root / "__init__.py")
    write(root / "base.py", "import os\n")
    write(root / "unused.py")
    write(root / "tools" / "__init__.py")
    write(root / "tools" / "deep.py", "from .helper import x\n")         # relative, same package
    write(root / "tools" / "helper.py", "from vadlib import base\nx = 1\n")
    write(root / "tools" / "late.py")
    write(root / "lazy" / "__init__.py", '_MODULE_OF = {"fit": "train", "draw": "figures"}\n')
    write(root / "lazy" / "train.py", "from ..tools import deep\n")       # relative, parent package
    write(root / "lazy" / "figures.py")
    write(root / "stage.py", "from vadlib.tools.deep import x\n\ndef run():\n    import vadlib.tools.late\n")
    return root


def names(paths, root):
    return sorted(str(p.relative_to(root)) for p in paths)


def test_the_graph_follows_absolute_relative_lazy_and_in_function_imports(package, tmp_path):
    script = write(tmp_path / "script.py", "import json\nfrom vadlib.stage import run\nfrom vadlib.lazy import fit\n")
    assert names(script_modules(script, root=package), package) == [
        "__init__.py", "base.py", "lazy/__init__.py", "lazy/train.py", "stage.py",
        "tools/__init__.py", "tools/deep.py", "tools/helper.py", "tools/late.py"]
    # the lazy package's other name pulls its own module only
    other = write(tmp_path / "other.py", "from vadlib.lazy import draw\n")
    assert names(script_modules(other, root=package), package) == ["__init__.py", "lazy/__init__.py",
                                                                  "lazy/figures.py"]
    # a module named by the caller (imported by a computed name) counts with its own imports
    assert names(script_modules(other, "vadlib.tools.helper", root=package), package) == [
        "__init__.py", "base.py", "lazy/__init__.py", "lazy/figures.py", "tools/__init__.py", "tools/helper.py"]
    with pytest.raises(ModuleNotFoundError, match="vadlib.nowhere"):
        script_modules(other, "vadlib.nowhere", root=package)


def test_the_hash_moves_with_the_modules_a_script_runs_and_no_other(package, tmp_path):
    script = write(tmp_path / "script.py", "from vadlib.stage import run\n")
    figures = write(tmp_path / "figures.py", "from vadlib.lazy import draw\n")
    before = code_hash(script, root=package), code_hash(figures, root=package)
    (package / "unused.py").write_text("# edited\n")
    (package / "lazy" / "train.py").write_text("from ..tools import deep\n# edited\n")
    assert (code_hash(script, root=package), code_hash(figures, root=package)) == before
    (package / "base.py").write_text("import os  # edited\n")  # reached through tools.helper
    assert code_hash(script, root=package) != before[0] and code_hash(figures, root=package) == before[1]


@cache
def graphs() -> dict[str, list[Path]]:
    return {s.stem: script_modules(s, root=PACKAGE) for s in (ROOT / "workflow_scripts").glob("*.py")}


def users(module: str) -> set[str]:
    """The workflow scripts whose graph holds vadlib/``module``."""
    return {script for script, modules in graphs().items() if PACKAGE / module in modules}


def test_the_workflows_scripts_run_what_they_import():
    # the weak branch's code is what its four stages run, with the snippets, scores and manifest modules
    weak = {"train_detector", "train_mtvae", "pseudo_videos", "score_detector"}
    assert users("weak/losses.py") == weak
    assert weak <= users("snippets.py") & users("scores.py") & users("data/manifest.py")
    # the importer runs where published features are imported, never in an extraction
    assert users("features/importer.py") == {"import_features"}
    assert "extract_i3d" not in users("features/importer.py")
    # the example figure of the inpainting loads neither the model nor its training (diffusers)
    assert users("inpaint/train.py") == {"train_ldm"} and "inpaint_examples" not in users("inpaint/model.py")
    # the synthetic dataset's manifest runs its own adapter, not the importer of published features
    synthetic = script_modules(ROOT / "workflow_scripts" / "manifest.py", "vadlib.data.adapters.synthetic",
                               root=PACKAGE)
    assert PACKAGE / "data/adapters/synthetic.py" in synthetic and PACKAGE / "features/importer.py" not in synthetic
    features = script_modules(ROOT / "workflow_scripts" / "manifest.py", "vadlib.data.adapters.features",
                              root=PACKAGE)
    assert PACKAGE / "features/importer.py" in features


def test_every_rule_hashes_its_own_script():
    """A rule's ``code=code_version(...)`` names the script of its ``script:`` directive (a copied rule
    that kept another's would rerun on the wrong edits)."""
    checked = 0
    for path in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule \w+:)", path.read_text())[1:]:
            rule = block.split(":", 1)[0].removeprefix("rule ")
            script = re.search(r'script:\s*"\.\./workflow_scripts/(\w+\.py)"', block)
            code = re.search(r'code=code_version\("(\w+\.py)"', block)
            assert script, f"{path.name}: rule {rule} has no script"
            if "adapter_code(wc.dataset)" in block:
                assert script.group(1) == "manifest.py", rule
            else:
                assert code and code.group(1) == script.group(1), f"{path.name}: rule {rule}"
            checked += 1
    assert checked >= 20
