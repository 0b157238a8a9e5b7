"""The graph store: every graph of a dataset in one memory-mapped file, built once, checked on every open.

Layout: 8-byte magic, 8-byte header length, a JSON header (array offsets, dtypes, shapes, the dataset key,
a BLAKE2b checksum of the data), then the arrays back to back. One flat file keeps the format
dependency-free and lets numpy map it without reading it; graphs are sliced out by offset. The file is
named by a key over the input files' bytes and the graph parameters (the element table is not part of a
graph: features are looked up in the model), so a changed input or parameter never reuses a stale store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from ..errors import InputError
from ..io.datasets import CrystalDataset
from ..io.write import atomic_path, ensure_folder, process_alive, remove_orphaned_temporaries
from ..config import GraphConfig, PathLike
from .graph import CrystalGraph, GraphArrays

log = logging.getLogger(__name__)
MAGIC = b"CGCNNGS1"
VERSION = 1
CHUNK = 1 << 24


class StoreCorrupt(Exception):
    """The store file is truncated or altered; it is rebuilt."""


def cache_dir(explicit: PathLike | None = None) -> Path:
    """--cache-dir, else $CGCNN_CACHE_DIR, else the platform's user cache folder (~/.cache/cgcnn on Linux)."""
    if explicit or os.environ.get("CGCNN_CACHE_DIR"):
        return Path(explicit or os.environ["CGCNN_CACHE_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cgcnn", appauthor=False))


def dataset_key(items: Sequence, ids: Sequence, params: GraphConfig) -> str:
    """BLAKE2b over the graph parameters and every crystal's id and bytes."""
    digest = hashlib.blake2b(digest_size=20)
    # "pymatgen": the neighbour search (kept in the key so that existing stores stay valid)
    digest.update(json.dumps([VERSION, params.radius, params.max_neighbors, "pymatgen"]).encode())
    for crystal_id, item in zip(ids, items):
        digest.update(str(crystal_id).encode() + b"\0")
        digest.update(_item_bytes(item))
    return digest.hexdigest()


def _item_bytes(item) -> bytes:
    if isinstance(item, Path):
        return item.read_bytes()
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, dict):
        return json.dumps(item, sort_keys=True).encode()
    return json.dumps(item.as_dict(), sort_keys=True, default=str).encode()


class GraphStore:
    """Read-only access to a store file; picklable (reopens without re-checking in data-loader workers)."""

    def __init__(self, path, verify=True):
        self.path = Path(path)
        self._open(verify)

    def _open(self, verify):
        try:
            with open(self.path, "rb") as handle:
                if handle.read(8) != MAGIC:
                    raise StoreCorrupt("bad magic")
                size = int.from_bytes(handle.read(8), "little")
                self.header = json.loads(handle.read(size))
                on_disk = os.fstat(handle.fileno()).st_size
        except PermissionError:  # someone else's store: never "damaged", never deleted
            raise InputError(self.path, "cannot read this graph store (permission denied: another user's?); "
                             "use your own --cache-dir") from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise StoreCorrupt(f"unreadable header ({exc})") from None
        start, length = self.header["data_start"], self.header["data_length"]
        if on_disk != start + length:
            raise StoreCorrupt(f"size {on_disk} != {start + length} (truncated?)")
        if verify and _checksum(self.path, start, length) != self.header["checksum"]:
            raise StoreCorrupt("checksum mismatch (altered?)")
        _report_bus_errors(self.path, on_disk)
        self.arrays = {
            name: np.memmap(self.path, dtype=spec["dtype"], mode="r", offset=start + spec["offset"],
                            shape=tuple(spec["shape"])) if np.prod(spec["shape"]) else np.zeros(spec["shape"], spec["dtype"])
            for name, spec in self.header["arrays"].items()
        }

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._open(verify=False)

    def __len__(self):
        return len(self.arrays["atom_offsets"]) - 1

    @property
    def failures(self) -> dict:
        """{crystal position: (source, reason)} for crystals that could not be made into graphs."""
        return {int(k): tuple(v) for k, v in self.header.get("failures", {}).items()}

    def n_atoms(self) -> np.ndarray:
        return np.diff(self.arrays["atom_offsets"])

    def __getitem__(self, k) -> CrystalGraph:
        import torch

        a0, a1 = self.arrays["atom_offsets"][k : k + 2]
        e0, e1 = self.arrays["edge_offsets"][k : k + 2]
        return CrystalGraph(
            atomic_numbers=torch.from_numpy(self.arrays["atomic_numbers"][a0:a1].astype(np.int64)),
            edge_index=torch.from_numpy(self.arrays["edges"][:, e0:e1].astype(np.int64)),
            distances=torch.from_numpy(np.array(self.arrays["distances"][e0:e1])),
        )


_MAPPED: dict = {}  # the store last opened and its size, for the SIGBUS handler
_BUS_ERROR_HANDLER: list = []  # the installed C callback, kept alive


def _report_bus_errors(path: Path, size: int) -> None:
    """A store cut short in place by another program while mapped faults on the next page read (SIGBUS),
    which Python cannot catch: a C-level handler writes one line naming the store and exits with code 2,
    instead of the system's bare "Bus error". (A replaced store is safe: the mapping keeps the old file.)"""
    import ctypes
    import signal

    _MAPPED.update(path=path, size=size)
    if _BUS_ERROR_HANDLER or not hasattr(signal, "SIGBUS"):
        return
    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_int)

    def on_bus_error(signum: int) -> None:
        path = _MAPPED["path"]
        try:
            cut = os.stat(path).st_size < _MAPPED["size"]
        except OSError:
            cut = False
        what = (f"{path}: the graph store was cut short while it was read (truncated in place by another "
                "program?); run the command again to rebuild it") if cut else "bus error (SIGBUS) reading mapped memory"
        os.write(2, f"cgcnn: error: {what}\n".encode())
        os._exit(2)

    try:
        libc = ctypes.CDLL(None)
        libc.signal.argtypes, libc.signal.restype = [ctypes.c_int, handler_type], ctypes.c_void_p
        handler = handler_type(on_bus_error)
        libc.signal(signal.SIGBUS, handler)
        _BUS_ERROR_HANDLER.append(handler)
    except (OSError, AttributeError):  # no C library to ask: the system's message stays
        pass


def _checksum(path, start, length) -> str:
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining:
            block = handle.read(min(CHUNK, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()


def write_store(path: PathLike, graphs: Iterable[tuple[int, GraphArrays | CrystalGraph | InputError]], key: str,
                params: GraphConfig) -> None:
    """Stream (k, graph (arrays or tensors) or InputError) pairs into a store at `path` (temp files, then one rename);
    a failed crystal is stored as an empty graph and its reason kept in the header."""
    path = Path(path)
    ensure_folder(path.parent)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".build-{os.getpid()}-") as tmp:
        columns = {name: open(Path(tmp) / name, "wb") for name in ("atomic_numbers", "src", "dst", "distances")}
        atom_offsets, edge_offsets, failures = [0], [0], {}
        for k, graph in graphs:
            if isinstance(graph, InputError):
                failures[k] = (graph.source, graph.reason)
                atom_offsets.append(atom_offsets[-1])
                edge_offsets.append(edge_offsets[-1])
                continue
            numbers, edges, distances = (np.asarray(a) for a in (graph.atomic_numbers, graph.edge_index,
                                                                 graph.distances))
            columns["atomic_numbers"].write(numbers.astype(np.uint8).tobytes())
            columns["src"].write(edges[0].astype(np.int32).tobytes())
            columns["dst"].write(edges[1].astype(np.int32).tobytes())
            columns["distances"].write(distances.astype(np.float32).tobytes())
            atom_offsets.append(atom_offsets[-1] + len(numbers))
            edge_offsets.append(edge_offsets[-1] + len(distances))
        for handle in columns.values():
            handle.close()
        _assemble(path, Path(tmp), np.array(atom_offsets, np.int64), np.array(edge_offsets, np.int64), key, params,
                  failures)


def _assemble(path, tmp: Path, atom_offsets, edge_offsets, key, params, failures):
    n_atoms, n_edges = int(atom_offsets[-1]), int(edge_offsets[-1])
    parts = [  # (name, dtype, shape, source file or array)
        ("atomic_numbers", "uint8", [n_atoms], tmp / "atomic_numbers"),
        ("edges", "int32", [2, n_edges], [tmp / "src", tmp / "dst"]),
        ("distances", "float32", [n_edges], tmp / "distances"),
        ("atom_offsets", "int64", [len(atom_offsets)], atom_offsets),
        ("edge_offsets", "int64", [len(edge_offsets)], edge_offsets),
    ]
    specs, offset = {}, 0
    for name, dtype, shape, _ in parts:
        specs[name] = {"dtype": dtype, "shape": shape, "offset": offset}
        offset += int(np.prod(shape)) * np.dtype(dtype).itemsize
    header = {"version": VERSION, "key": key, "params": params.__dict__, "arrays": specs, "data_length": offset,
              "failures": failures}
    # the header comes first but holds the data's checksum: reserve it with a placeholder of the same
    # length, write the data once while hashing it, then fill the header in
    header["checksum"] = "0" * 40
    header["data_start"] = start = _aligned(16 + len(json.dumps(header)) + 64)
    with atomic_path(path) as out:
        with open(out, "wb") as handle:
            handle.seek(start)
            header["checksum"] = _stream(parts, handle)
            blob = json.dumps(header).encode().ljust(start - 16)
            handle.seek(0)
            handle.write(MAGIC + len(blob).to_bytes(8, "little") + blob)


def _aligned(n, to=64):
    return (n + to - 1) // to * to


def _stream(parts, handle) -> str:
    """Write the data region to `handle` and return its checksum."""
    digest = hashlib.blake2b(digest_size=20)
    for _, _, _, source in parts:
        sources = source if isinstance(source, list) else [source]
        for src in sources:
            if isinstance(src, np.ndarray):
                blocks = [src.tobytes()]
            else:
                blocks = _file_blocks(src)
            for block in blocks:
                digest.update(block)
                handle.write(block)
    return digest.hexdigest()


def _file_blocks(path):
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            yield block


def remove_abandoned_builds(folder: Path, idle_seconds: float = 3600) -> None:
    """Temporary build folders and store files of killed featurisations: those whose process is gone
    (`.build-PID-…`), or, for names without a process id, nothing written for an hour (a build in progress
    writes every few milliseconds)."""
    import shutil
    import time

    remove_orphaned_temporaries(folder)
    for build in Path(folder).glob(".build-*"):
        pid = build.name.split("-")[1]
        try:
            if pid.isdigit():
                abandoned = not process_alive(int(pid))
            else:
                stamps = [p.stat().st_mtime for p in build.iterdir()] + [build.stat().st_mtime]
                abandoned = time.time() - max(stamps) > idle_seconds
        except OSError:  # finished and removed meanwhile
            continue
        if abandoned:
            shutil.rmtree(build, ignore_errors=True)


def open_or_build(dataset: CrystalDataset, params: GraphConfig, build: Callable[[], Iterable],
                  cache: PathLike | None = None,
                  skip_bad: bool = False) -> GraphStore:
    """The store for `dataset`: reused when intact, (re)built from `build()` (an iterator of (k, graph or
    InputError) pairs in input order) when missing, truncated or altered.

    Without skip_bad, the first unusable crystal raises (no store is written); with it, unusable crystals
    are recorded in the store with their reasons. A store with failures is only used with skip_bad."""
    key = dataset_key(dataset.items, dataset.ids, params)
    path = cache_dir(cache) / f"graphs-{key}.cgs"
    ensure_folder(path.parent)
    remove_abandoned_builds(path.parent)
    if path.exists():
        try:
            store = GraphStore(path)
            if store.header["key"] == key and len(store) == len(dataset.ids):
                if store.failures and not skip_bad:
                    raise InputError(*next(iter(store.failures.values())))
                log.info("graph store %s reused", path)
                return store
            raise StoreCorrupt("key or length mismatch")
        except StoreCorrupt as exc:  # another process may be rebuilding it too: the last rename wins, both equal
            log.warning("graph store %s is damaged (%s); rebuilding it", path, exc)
            path.unlink(missing_ok=True)
    write_store(path, build(), key, params)
    log.info("graph store %s built", path)
    return GraphStore(path)


__all__ = ["GraphStore", "StoreCorrupt", "cache_dir", "dataset_key", "open_or_build", "write_store"]
