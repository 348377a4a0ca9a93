"""The vadlib sources a script runs, found from its imports, and one hash of them.

A rule hands :func:`code_hash` of its script to ``params`` (Snakemake's own code trigger sees the script
file only), so that an edit of any vadlib module the script imports, directly or through other vadlib
modules, re-runs that rule and no other.

The graph is read from the source (an ``ast`` walk), never by importing: every ``import vadlib...`` and
``from vadlib... import ...`` of a file counts, at module level or inside a function (a lazy import runs
when the function does), and relative imports inside the package resolve against their module. Importing
``vadlib.a.b`` runs the ``__init__`` of ``vadlib`` and ``vadlib.a`` too, so those count as well. A package
whose ``__init__`` loads its names on first use (PEP 562) declares them in a module-level dict literal
``_MODULE_OF`` (name -> submodule): ``from package import name`` then counts that submodule. Anything
imported in another way (``importlib`` with a computed name) is invisible here; vadlib does not do it
outside that convention.
"""

from __future__ import annotations

import ast
import hashlib
import os
from functools import cache
from pathlib import Path

PACKAGE = "vadlib"


def _root() -> Path:
    """The directory of the vadlib that runs (the one this module belongs to)."""
    return Path(__file__).resolve().parent


def _module_file(name: str, root: Path) -> Path | None:
    """``vadlib.a.b`` -> its file (``a/b.py`` or ``a/b/__init__.py`` under ``root``), None if there is none."""
    parts = name.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py") if parts else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _parse(path: Path) -> ast.Module:
    stat = path.stat()
    return _parse_version(path, stat.st_mtime_ns, stat.st_size)


@cache
def _parse_version(path: Path, mtime_ns: int, size: int) -> ast.Module:
    """The syntax tree of one version of a file (an edit in the same process is read again)."""
    return ast.parse(path.read_text(), filename=str(path))


def _lazy_names(tree: ast.Module) -> dict[str, str]:
    """The ``_MODULE_OF`` literal of a PEP 562 package ``__init__`` (empty when it has none)."""
    for node in tree.body:
        single = isinstance(node, ast.Assign) and len(node.targets) == 1
        target = node.targets[0] if single else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "_MODULE_OF" and node.value is not None:
            value = ast.literal_eval(node.value)
            return {str(k): str(v) for k, v in value.items()}
    return {}


def _statements(body: list[ast.stmt]):
    """Every statement of ``body``, those nested in compound statements (functions, classes, ``if``,
    ``try``, ``with``, loops) included: where an import can be. Expressions are not entered."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _statements([c for c in children if isinstance(c, (ast.stmt, ast.excepthandler,
                                                                               ast.match_case))])


def _imports(path: Path, root: Path) -> frozenset[str]:
    """The vadlib module names ``path`` imports (with the packages each one's import runs)."""
    stat = path.stat()
    return _imports_of(path, root, stat.st_mtime_ns, stat.st_size)


@cache
def _imports_of(path: Path, root: Path, mtime_ns: int, size: int) -> frozenset[str]:
    tree = _parse(path)
    here = _module_name(path, root) if path.is_relative_to(root) else None
    package = here if here is not None and path.name == "__init__.py" else (here or "").rpartition(".")[0]
    found: set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: against this module's package
                if here is None:
                    continue
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # kept below if a submodule
    names = set()
    for name in found:
        if name != PACKAGE and not name.startswith(PACKAGE + "."):
            continue
        parts = name.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(names)


def script_modules(script: str | os.PathLike, *modules: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Every vadlib source file ``script`` runs through its imports, transitively, and those of the named
    ``modules`` (dotted names: what the script imports by a computed name), sorted."""
    root = Path(root).resolve() if root is not None else _root()
    seen: set[Path] = set()
    pending = [Path(script).resolve()]
    for name in modules:
        if _module_file(name, root) is None:
            raise ModuleNotFoundError(f"{name}: no such module under {root}")
        parts = name.split(".")
        for path in {_module_file(".".join(parts[:i]), root) for i in range(1, len(parts) + 1)} - {None} - seen:
            seen.add(path)  # the module and the packages its import runs
            pending.append(path)
    while pending:
        for name in _imports(pending.pop(), root):
            module = _module_file(name, root)
            # not a module: an attribute of one (counted with it), or a name its package loads lazily
            for path in [module] if module is not None else _lazy_targets(name, root):
                if path not in seen:
                    seen.add(path)
                    pending.append(path)
    return sorted(seen)


def _lazy_targets(name: str, root: Path) -> list[Path]:
    """``vadlib.pkg.attr`` where ``attr`` is a name ``vadlib.pkg`` loads on first use -> that submodule."""
    parent, _, attr = name.rpartition(".")
    init = _module_file(parent, root) if parent else None
    if init is None or init.name != "__init__.py":
        return []
    submodule = _lazy_names(_parse(init)).get(attr)
    target = _module_file(f"{parent}.{submodule}", root) if submodule else None
    return [target] if target is not None else []


def code_hash(script: str | os.PathLike, *modules: str, root: str | os.PathLike | None = None) -> str:
    """A short hash of the vadlib sources ``script`` (and ``modules``) run (:func:`script_modules`): their
    paths relative to the package and their bytes."""
    root = Path(root).resolve() if root is not None else _root()
    digest = hashlib.sha1()
    for path in script_modules(script, *modules, root=root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]
