"""The prediction pipeline that `predict`, `embed`, `evaluate` and `explain` configure, in its order: the
inputs read, the outputs protected before any work (never a file the command reads), the model loaded,
usable graphs streamed in bounded chunks (unusable crystals listed, or the first one raised), the list of
what was left out written beside the output."""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import PathLike
from ..errors import InputError
from ..graphs.elements import require_elements
from ..graphs.featurize import iter_graphs
from ..graphs.graph import CrystalGraph
from ..io.datasets import CrystalDataset
from ..io.inputs import files_read
from ..io.write import output_file, write_skipped
from ..model.catalogue import resolve_model
from ..model.files import CHECKPOINT, RUN_FILES
from .predict import Predictor, finite_rows, non_finite_error


def files_read_by(inputs: Sequence[PathLike], dataset: CrystalDataset, model_path: PathLike,
                  atom_init: PathLike | None) -> list[Path]:
    """What a command with a model must never write over: the structures and tables it reads, the model,
    the files of the model's training run, and the element table."""
    model = resolve_model(model_path)
    run_files = [model.parent / name for name in RUN_FILES] if (model.parent / CHECKPOINT).is_file() else []
    return [*files_read(inputs, dataset), model, *run_files, *([Path(atom_init)] if atom_init else [])]


def skipped_path(out_path: PathLike) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".skipped.csv")


def protect_outputs(out_path: PathLike, read: list[Path], with_skipped: bool = True) -> Path:
    """The checked output path (and its skipped list's), before any work: neither may be a file read."""
    out_path = output_file(out_path, read)
    if with_skipped:
        output_file(skipped_path(out_path), read, "its skipped list (OUT.skipped.csv)")
    return out_path


CHUNK = 4096  # crystals predicted (and written) at a time: bounds memory, sets how much a kill can lose


@dataclass
class GraphStream:
    """The usable graphs of `dataset` for `predictor`, in chunks bounded in crystals and atoms; `skipped`
    collects (id, source, reason) of the rest (with skip_bad; else the first one raises)."""

    predictor: Predictor
    dataset: CrystalDataset
    workers: int = 1
    skip_bad: bool = False
    chunk: int = CHUNK
    progress: bool = True
    skipped: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.skipped = list(self.dataset.skipped) + self.skipped
        keep_large_blocks()

    def chunks(self) -> Iterator[tuple[list, list, list[CrystalGraph]]]:
        """(ids, sources, graphs) chunks; memory freed by a chunk is handed back before the next."""
        graphs = iter_graphs(self.dataset.items, self.dataset.sources, self.predictor.params, self.workers,
                             self.progress, self.skip_bad)
        for piece in usable_chunks(graphs, self.dataset, self.predictor, self.skipped, self.skip_bad, self.chunk):
            yield piece
            release_freed_memory()

    def write_skipped(self, out_path: PathLike) -> Path:
        return write_skipped(skipped_path(out_path), self.skipped)


def finite_or_skipped(values: np.ndarray, spread: np.ndarray, ids: list, sources: list, skipped: list,
                       skip_bad: bool) -> list[int]:
    """Rows to keep; a non-finite prediction raises, or with skip_bad is listed as skipped."""
    ok = finite_rows(values, spread)
    for k in np.flatnonzero(~ok):
        error = non_finite_error(sources[k])
        if not skip_bad:
            raise error
        skipped.append((ids[k], error.source, error.reason))
    return np.flatnonzero(ok).tolist()


def release_freed_memory() -> None:
    """Hand memory freed by the last chunk back to the system. glibc keeps freed blocks of varying-size
    tensors in its heap, so without this the resident size creeps up chunk after chunk."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def keep_large_blocks() -> None:
    """glibc serves blocks above 128 KB-32 MB (its adaptive threshold) with mmap and unmaps them on free, so the
    edge tensors of every batch (tens of MB) are fresh zeroed pages each time: system time. Keep them in the
    heap instead (released at each chunk's end by malloc_trim)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def usable_chunks(graphs: Iterable, dataset: CrystalDataset, predictor: Predictor, skipped: list, skip_bad: bool,
                  chunk: int) -> Iterator[tuple[list, list, list[CrystalGraph]]]:
    """(ids, sources, graphs) chunks; unusable crystals go to `skipped` (or raise without skip_bad)."""
    ids, sources, batch, atoms = [], [], [], 0
    for k, graph in graphs:
        if not isinstance(graph, InputError):
            graph = require_elements(graph.atomic_numbers.numpy(), predictor.model.element_features,
                                     dataset.sources[k], skip_bad) or graph
        if isinstance(graph, InputError):
            skipped.append((dataset.ids[k], graph.source, graph.reason))
            continue
        ids.append(dataset.ids[k])
        sources.append(dataset.sources[k])
        batch.append(graph)
        atoms += graph.n_atoms
        if len(batch) == chunk or atoms >= chunk * 32:  # bounded in crystals and in atoms
            yield ids, sources, batch
            ids, sources, batch, atoms = [], [], [], 0
    if batch:
        yield ids, sources, batch
