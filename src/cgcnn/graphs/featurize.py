"""Crystal files → graphs, on every core: each worker reads and builds, the caller receives them in order."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from collections.abc import Iterator, Sequence
from typing import cast

from ..config import DataLayout, GraphConfig, PathLike
from ..errors import InputError, NothingUsable
from ..io.crystal import load_crystal
from ..io.datasets import CrystalDataset, load_dataset
from .graph import CrystalGraph, GraphArrays, graph_arrays
from ..io.write import write_skipped
from .store import GraphStore, cache_dir, open_or_build


log = logging.getLogger(__name__)
WINDOW = 4096  # crystals in flight between worker processes and their consumer


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _graph_arrays(job):
    """Worker: (k, GraphArrays, None) or (k, None, (source, reason))."""
    k, item, source, params = job
    try:
        return k, graph_arrays(load_crystal(item, source), params, source), None
    except InputError as exc:
        return k, None, (exc.source, exc.reason)


def iter_graphs(items: Sequence, sources: Sequence[str], params: GraphConfig, workers: int = 1, progress: bool = True,
                skip_bad: bool = False) -> Iterator[tuple[int, CrystalGraph | InputError]]:
    """Yield (k, CrystalGraph) in input order. The first unreadable crystal raises its InputError, or,
    with skip_bad, yields (k, InputError) instead."""
    for k, arrays in iter_graph_arrays(items, sources, params, workers, progress, skip_bad):
        yield k, arrays if isinstance(arrays, InputError) else CrystalGraph.from_arrays(arrays)


def iter_graph_arrays(items: Sequence, sources: Sequence[str], params: GraphConfig, workers: int = 1,
                      progress: bool = True, skip_bad: bool = False) -> Iterator[tuple[int, GraphArrays | InputError]]:
    """iter_graphs without torch: (k, GraphArrays) in input order, for the graph store."""
    jobs = ((k, item, src, params) for k, (item, src) in enumerate(zip(items, sources)))
    bar = dict(total=len(items), desc="graphs", unit="crystal", disable=not progress, leave=False, mininterval=0.5)
    if workers <= 1 or len(items) < 64:
        yield from _checked(map(_graph_arrays, jobs), bar, skip_bad)
        return
    with worker_context().Pool(workers) as pool:  # numpy arrays travel more cheaply than tensors
        yield from _checked(_windowed(pool, jobs, len(items)), bar, skip_bad)


def worker_context() -> multiprocessing.context.BaseContext:
    """How graph workers start: forked where torch is not loaded (`cgcnn featurize`: a fork costs
    milliseconds where a fresh interpreter costs ~0.3 s of imports); else from a fork server, since forking
    a process that already runs torch's OpenMP threads can hang."""
    if "torch" not in sys.modules and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["cgcnn.graphs.featurize"])  # workers start with the libraries imported
    return context


def _windowed(pool, jobs, n, window=WINDOW):
    """imap in windows: workers run ahead of the consumer by at most one window, so memory stays bounded
    however slowly the results are used (plain imap queues every finished result)."""
    for start, stop in chunks(n, window):
        yield from pool.imap(_graph_arrays, itertools.islice(jobs, stop - start), chunksize=64)


def _checked(results, bar, skip_bad):
    for k, arrays, error in tqdm(results, **bar):
        if error is not None:
            if not skip_bad:
                raise InputError(*error)
            yield k, InputError(*error)
            continue
        yield k, GraphArrays(*arrays)


def build_graphs(items: Sequence, sources: Sequence[str], params: GraphConfig, workers: int = 1,
                 progress: bool = True) -> list[CrystalGraph]:
    """Every graph, in input order; the first unusable crystal raises its InputError."""
    return [cast(CrystalGraph, graph) for _, graph in iter_graphs(items, sources, params, workers, progress)]


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive chunks covering range(n)."""
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def graph_store(dataset: CrystalDataset, params: GraphConfig, cache: PathLike | None = None, workers: int | None = None,
                progress: bool = True, skip_bad: bool = False) -> GraphStore:
    """The dataset's graph store, found intact or built on `workers` processes (default: all cores)."""
    def build() -> Iterator[tuple[int, GraphArrays | InputError]]:
        return iter_graph_arrays(dataset.items, dataset.sources, params, workers or default_workers(), progress,
                           skip_bad)

    return open_or_build(dataset, params, build, cache, skip_bad)


def featurize(data: PathLike, graph: GraphConfig | None = None, workers: int | None = None,
              cache: PathLike | None = None, progress: bool = True, skip_bad: bool = False,
              layout: DataLayout | None = None) -> dict:
    """Build (or find intact) the graph store of a dataset; report where it is and what it holds. With
    skip_bad, the crystals left out are listed with their reasons beside the store (STORE.skipped.csv)."""
    start = time.perf_counter()
    layout = layout or DataLayout()
    try:
        dataset = load_dataset(data, layout.targets, layout.id_column, layout.structure_column, skip_bad)
    except NothingUsable as exc:
        listed = write_skipped(cache_dir(cache) / f"{Path(data).name}.skipped.csv", exc.skipped)
        raise InputError(exc.source, f"{exc.reason} (all listed in {listed})") from None
    store = graph_store(dataset, graph or GraphConfig(), cache, workers, progress, skip_bad)
    skipped = dataset.skipped + [(dataset.ids[k], *reason) for k, reason in sorted(store.failures.items())]
    listed = write_skipped(store.path.with_name(store.path.stem + ".skipped.csv"), skipped)
    if skipped:
        log.warning("%d crystals left out; see %s", len(skipped), listed)
    if len(store.failures) == len(store):
        raise InputError(data, f"{NothingUsable(data, skipped).reason} (all listed in {listed})")
    return {"store": str(store.path), "crystals": len(store), "unusable": len(skipped),
            "skipped_list": str(listed) if skipped else None, "atoms": int(store.n_atoms().sum()),
            "edges": int(store.arrays["edge_offsets"][-1]), "bytes": store.path.stat().st_size,
            "seconds": round(time.perf_counter() - start, 2)}
