"""Stage parameters built from plain config dicts, with one error for every mistake.

Every stage receives its config section as a dict. :func:`from_params` builds a stage's dataclass from
it, :func:`resolve` merges it over a stage's dict of defaults; both fail on the same mistakes with a
:class:`ConfigError` naming the key in dotted form (``flow.nscales``, ``luss.loss_weights.vcr``):

* a key that is not known (the message lists the known keys);
* a missing key that has no default (a dataclass field without a default, or :data:`REQUIRED`);
* a value of the wrong type, checked against the dataclass field's annotation or, for a dict of
  defaults, against the default's type (or an explicit type in ``types``).

A missing key takes its default. An int is accepted for a float (and converted), an integral float for
an int, a list for a tuple (and converted). Nested dicts are merged key by key over their defaults;
a nested dataclass is built from a nested dict. The module imports neither torch nor numpy.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
import types
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

__all__ = ["REQUIRED", "ConfigError", "config_key", "defaults_of", "from_params", "resolve", "convert"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value that a stage cannot use; ``key`` is its dotted config key (``flow.nscales``)."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key

    def __reduce__(self):
        return type(self), (self.key, str(self)[len(self.key) + 2:])


class _Required:
    """The default of a key that must be given."""

    def __repr__(self) -> str:
        return "REQUIRED"

    def __deepcopy__(self, memo):
        return self


#: The default of a key without a default in a dict of defaults (see :func:`resolve`).
REQUIRED: Any = _Required()


def _join(section: str, key: Any) -> str:
    return f"{section}.{key}" if section else str(key)


def _describe(tp: Any) -> str:
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "null"
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arm) for arm in get_args(tp))
    if origin is Literal:
        return f"one of {list(get_args(tp))}"
    if origin in (list, tuple):
        args = get_args(tp)
        if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
            return f"a list of {len(args)} values ({', '.join(_describe(a) for a in args)})"
        if not args or args[0] is Any:
            return "a list"
        plural = {bool: "booleans", int: "ints", float: "numbers", str: "strings"}
        return f"a list of {plural[args[0]]}" if args[0] in plural else f"a list of ({_describe(args[0])})"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return f"a mapping of {tp.__name__}"
    return {bool: "a boolean", int: "an int", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", repr(tp)))


def _mismatch(value: Any, tp: Any, key: str) -> ConfigError:
    return ConfigError(key, f"expected {_describe(tp)}, got {value!r} ({type(value).__name__})")


def convert(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against the type ``tp`` and converted to it (int to float, list to tuple,
    integral float to int, mapping to a nested dataclass); a mismatch raises :class:`ConfigError`."""
    if tp is Any or tp is object:
        return value
    if tp is None or tp is type(None):
        if value is None:
            return None
        raise _mismatch(value, type(None), key)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for arm in get_args(tp):
            try:
                return convert(value, arm, key)
            except ConfigError:
                continue
        raise _mismatch(value, tp, key)
    if origin is Literal:
        choices = get_args(tp)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise ConfigError(key, f"{value!r} is not one of {list(choices)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _mismatch(value, tp, key)
    if tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _mismatch(value, tp, key)
    if tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        raise _mismatch(value, tp, key)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _mismatch(value, tp, key)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _mismatch(value, tp, key)
        args = get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _mismatch(value, tp, key)
            items = [convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            inner = args[0] if args else Any
            items = [convert(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or tp) is tuple else items
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _mismatch(value, tp, key)
        args = get_args(tp)
        inner = args[1] if len(args) == 2 else Any
        return {k: convert(v, inner, _join(key, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        return from_params(tp, value, key)
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _mismatch(value, tp, key)
    return value


def _type_of(default: Any) -> Any:
    """The type a value must have to replace ``default`` in a dict of defaults."""
    if default is None or default is REQUIRED:
        return Any
    if isinstance(default, (bool, int, float, str)):
        return type(default)
    if isinstance(default, (list, tuple)):
        kinds = {_type_of(v) for v in default}
        if kinds == {int, float}:
            kinds = {float}
        inner = kinds.pop() if len(kinds) == 1 else Any
        return list[inner] if isinstance(default, list) else tuple[inner, ...]
    return type(default)


def _unknown(section: str, unknown: list[str], known) -> ConfigError:
    also = f" (also unknown: {', '.join(_join(section, k) for k in unknown[1:])})" if len(unknown) > 1 else ""
    where = f" of {section}" if section else ""
    return ConfigError(_join(section, unknown[0]), f"unknown key{also}; the known keys{where} are {sorted(known)}")


def _mapping(params: Any, section: str) -> Mapping[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ConfigError(section or "params", f"expected a mapping, got {params!r} ({type(params).__name__})")
    return params


def resolve(params: Mapping[str, Any] | None, defaults: Mapping[str, Any], section: str,
            types: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``defaults`` updated with ``params``, every value checked (see the module docstring).

    ``section`` is the dotted config key of ``params`` (``"masks"``, ``"inpaint.train"``). A value is
    checked against ``types[key]`` when given (dotted keys reach into nested dicts: ``"background.frames"``),
    else against the default's type; a nested dict of defaults is resolved in turn, unless ``types`` gives
    its key a type of its own (``dict[str, Any]`` for a free-form mapping). A default of :data:`REQUIRED`
    marks a key that must be given. The result has the keys of ``defaults``, in their order; defaults are
    copied, never shared.
    """
    params = _mapping(params, section)
    types = dict(types or {})
    unknown = sorted((k for k in params if k not in defaults), key=str)
    if unknown:
        raise _unknown(section, unknown, defaults)
    out: dict[str, Any] = {}
    for key, default in defaults.items():
        name = _join(section, key)
        if key not in params:
            if default is REQUIRED:
                raise ConfigError(name, "is required (it has no default)")
            out[key] = copy.deepcopy(default)
            continue
        value = params[key]
        if key in types:
            out[key] = convert(value, types[key], name)
        elif isinstance(default, Mapping):
            prefix = f"{key}."
            inner = {k[len(prefix):]: t for k, t in types.items() if k.startswith(prefix)}
            out[key] = resolve(value, default, name, inner)
        else:
            out[key] = convert(value, _type_of(default), name)
    return out


def config_key(f: dataclasses.Field) -> str:
    """The config key of a dataclass field: ``metadata["key"]`` where the name differs (``lambda``)."""
    return f.metadata.get("key", f.name)


def defaults_of(cls: type) -> dict[str, Any]:
    """The defaults of a parameters dataclass under their config keys (fields without one left out)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[config_key(f)] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[config_key(f)] = f.default_factory()
    return out


def from_params(cls: type[T], params: Mapping[str, Any] | None, section: str) -> T:
    """An instance of the dataclass ``cls`` built from the config dict ``params`` at ``section``.

    Keys are the fields' config keys (:func:`config_key`); each value is checked against its field's
    annotation and converted (see the module docstring); a missing key takes the field's default, and a
    field without a default must be given.
    """
    params = _mapping(params, section)
    hints = get_type_hints(cls)
    spec = {config_key(f): f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted((k for k in params if k not in spec), key=str)
    if unknown:
        raise _unknown(section, unknown, spec)
    kwargs = {}
    for key, f in spec.items():
        name = _join(section, key)
        if key not in params:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(name, "is required (it has no default)")
            continue
        kwargs[f.name] = convert(params[key], hints[f.name], name)
    return cls(**kwargs)
