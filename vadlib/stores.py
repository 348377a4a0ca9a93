"""Zarr stores passed between stages: their schemas, atomic writing and checked opening.

Every per-video artifact (frames, features, flow, masks, inpainted frames) is a Zarr group holding one
array named after its kind, plus attributes. The schemas below are the single place where the layout
of each kind is written down; :func:`open_store` checks a store against its schema when it is opened, so
a stage fed the wrong store fails with a message that names the store and the field.

Stores are written to a temporary sibling directory and renamed into place only when complete
(:class:`StoreWriter`), so an interrupted run never leaves a half-written store that looks finished: a
killed writer leaves only its temporary (attribute ``complete`` false, which :func:`open_store` refuses),
and the next writer of the same path removes it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

SCHEMA_VERSION = 1
# Zstandard level 1: as small as zarr's default level on video frames, at half the write time.
COMPRESSOR = ZstdCodec(level=1)


class StoreError(ValueError):
    """A store is missing, incomplete or does not match its schema."""


@dataclass(frozen=True)
class Schema:
    """The written contract of one kind of store.

    ``dims`` names the axes (written as the array's ``dimension_names``, so ``xarray.open_zarr`` opens
    every store as a labelled dataset); ``fixed`` maps an axis index to the size it must have (e.g. the two flow
    channels); ``dtypes`` lists the accepted dtypes; ``attrs`` the attributes every store must carry.
    """

    kind: str
    dims: tuple[str, ...]
    dtypes: tuple[str, ...]
    attrs: tuple[str, ...]
    fixed: dict[int, int] = field(default_factory=dict)
    time_chunk: int = 16


SCHEMAS: dict[str, Schema] = {
    # uint8 [T, H, W, C] decoded frames.
    "frames": Schema("frames", ("time", "y", "x", "channel"), ("uint8",),
                     ("source", "fps", "original_size", "stored_size")),
    # [snippets, crops, dim] snippet features (16-frame snippets).
    "features": Schema("features", ("snippet", "crop", "feature"), ("float16", "float32"),
                       ("extractor", "weights", "pretrained", "snippet_len", "preprocessing"),
                       time_chunk=256),
    # [T-1, H, W, 2] optical flow (x, y displacement in pixels of the stored frames).
    "flow": Schema("flow", ("time", "y", "x", "channel"), ("float16", "float32"),
                   ("method", "parameters"), fixed={3: 2}),
    # [T, H, W] boolean masks.
    "masks": Schema("masks", ("time", "y", "x"), ("bool",), ("generator", "parameters")),
    # Inpainted frames: like frames.
    "inpainted": Schema("inpainted", ("time", "y", "x", "channel"), ("uint8",),
                        ("model", "pretrained", "parameters")),
}


def _jsonable(value: Any) -> Any:
    """Attributes must survive a JSON round trip; convert NumPy scalars and tuples."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else list(o)))


def _chunks(schema: Schema, shape: tuple[int, ...]) -> tuple[int, ...]:
    return (max(1, min(schema.time_chunk, shape[0] or 1)),) + tuple(max(1, s) for s in shape[1:])


class StoreWriter:
    """Write a store of ``kind`` at ``path`` atomically, optionally in pieces along the first axis.

    >>> with StoreWriter(path, "frames", shape=(T, H, W, 3), dtype="uint8", attrs={...}) as w:
    ...     w.write(0, first_block)
    ...     w.write(16, next_block)

    On a clean exit the temporary directory is renamed to ``path`` (replacing any old store); on an
    exception it is removed and ``path`` is left as it was.
    """

    def __init__(self, path: str | os.PathLike, kind: str, shape: Iterable[int], dtype: str,
                 attrs: dict[str, Any], chunks: tuple[int, ...] | None = None):
        self.path = Path(path)
        self.schema = SCHEMAS[kind]
        self.shape = tuple(int(s) for s in shape)
        _check_layout(self.path, self.schema, self.shape, np.dtype(dtype).name)
        missing = [a for a in self.schema.attrs if a not in attrs]
        if missing:
            raise StoreError(f"{self.path}: attrs {missing} are required for a {kind} store")
        self.attrs = dict(attrs)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.dtype = np.dtype(dtype).name
        self.chunks = chunks or _chunks(self.schema, self.shape)
        self._array = None
        self._written = 0

    def __enter__(self) -> StoreWriter:
        # One job writes a given store at a time (Snakemake locks the working directory), so any other
        # temporary of this path is the leftover of a killed writer: removed, or it would stay forever.
        for stale in self.path.parent.glob(f".{glob.escape(self.path.name)}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(self.tmp), mode="w")
        self._array = group.create_array(self.schema.kind, shape=self.shape, chunks=self.chunks,
                                         dtype=self.dtype, fill_value=0, compressors=COMPRESSOR,
                                         dimension_names=self.schema.dims)
        group.update_attributes(_jsonable({**self.attrs, "kind": self.schema.kind,  # one write, not one per key
                                           "schema_version": SCHEMA_VERSION, "complete": False}))
        self._group = group
        return self

    def write(self, start: int, block: np.ndarray) -> None:
        block = np.asarray(block)
        if block.shape[1:] != self.shape[1:]:
            raise StoreError(f"{self.path}: block of shape {block.shape} does not fit store shape {self.shape}")
        self._array[start:start + len(block)] = block.astype(self.dtype, copy=False)
        self._written = max(self._written, start + len(block))

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self._written != self.shape[0]:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise StoreError(f"{self.path}: only {self._written} of {self.shape[0]} rows were written")
        self._group.attrs["complete"] = True
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)


def write_store(path: str | os.PathLike, kind: str, data: np.ndarray, attrs: dict[str, Any],
                chunks: tuple[int, ...] | None = None) -> Path:
    """Write a whole array as a store of ``kind`` (atomically). Returns the path."""
    data = np.asarray(data)
    with StoreWriter(path, kind, data.shape, data.dtype.name, attrs, chunks) as writer:
        writer.write(0, data)
    return Path(path)


def _check_layout(path: Path, schema: Schema, shape: tuple[int, ...], dtype: str) -> None:
    if len(shape) != len(schema.dims):
        raise StoreError(f"{path}: a {schema.kind} store is {list(schema.dims)} "
                         f"({len(schema.dims)} axes), got shape {list(shape)}")
    if dtype not in schema.dtypes:
        raise StoreError(f"{path}: dtype {dtype} is not one of {list(schema.dtypes)} for a {schema.kind} store")
    for axis, size in schema.fixed.items():
        if shape[axis] != size:
            raise StoreError(f"{path}: axis '{schema.dims[axis]}' must have size {size}, got {shape[axis]}")


@dataclass
class Store:
    """An opened, checked store: ``data`` is the (lazy) Zarr array, ``attrs`` a plain dict."""

    path: Path
    kind: str
    data: zarr.Array
    attrs: dict[str, Any]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def __len__(self) -> int:
        return self.data.shape[0]

    def read(self, finite: bool = False) -> np.ndarray:
        """The whole array; with ``finite``, a NaN or Inf fails naming the store and the first rows
        (along the first axis) that hold one."""
        data = self.data[...]
        if finite and data.size and not np.isfinite(data).all():
            rows = np.flatnonzero(~np.isfinite(data.reshape(len(data), -1)).all(axis=1))
            raise StoreError(f"{self.path}: array '{self.kind}' holds NaN or Inf at "
                             f"{SCHEMAS[self.kind].dims[0]} {rows[:5].tolist()}"
                             f"{' ...' if len(rows) > 5 else ''} ({len(rows)} in all)")
        return data


def open_store(path: str | os.PathLike, kind: str, **expect: int) -> Store:
    """Open a store and check it against the schema of ``kind``.

    Keyword arguments name axes whose size must match, e.g. ``open_store(p, "features", feature=2048)``
    or ``open_store(p, "flow", time=T - 1, y=H, x=W)``.
    """
    path = Path(path)
    schema = SCHEMAS[kind]
    if not path.exists():
        raise StoreError(f"{path}: no such {kind} store")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as err:  # noqa: BLE001 - zarr raises several types for unreadable stores
        raise StoreError(f"{path}: not a readable Zarr store ({err})") from err
    attrs = dict(group.attrs)
    if attrs.get("kind") != kind:
        raise StoreError(f"{path}: attribute 'kind' is {attrs.get('kind')!r}, expected {kind!r}")
    if not attrs.get("complete", False):
        raise StoreError(f"{path}: the store is incomplete (attribute 'complete' is not true)")
    missing = [a for a in schema.attrs if a not in attrs]
    if missing:
        raise StoreError(f"{path}: attrs {missing} are missing")
    if kind not in group:
        raise StoreError(f"{path}: array '{kind}' is missing")
    data = group[kind]
    _check_layout(path, schema, tuple(data.shape), np.dtype(data.dtype).name)
    for name, size in expect.items():
        if name not in schema.dims:
            raise KeyError(f"{kind} stores have no axis {name!r}; axes are {schema.dims}")
        got = data.shape[schema.dims.index(name)]
        if got != size:
            raise StoreError(f"{path}: axis '{name}' has size {got}, expected {size}")
    return Store(path, kind, data, attrs)
