"""`cgcnn predict` on files, at screening scale: crystals stream through in chunks (memory stays bounded),
the output is written chunk by chunk so that a killed run resumes where it stopped, and the inputs can be
split into equal blocks: one per torchrun process (rank 0 joins the parts in input order) or one per task
of a scheduler (`shard`, e.g. a SLURM array)."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import PathLike
from ..errors import CgcnnError
from ..graphs.featurize import iter_graphs
from ..io.structures import CrystalDataset, collect_structures
from ..io.write import ChunkedCsv, atomic_path, output_file, raise_if_full, write_skipped
from ..training import distributed
from ..training.report import format_value
from .predict import (BATCH, SETTINGS, Predictor, finite_or_skipped, files_read_by, load_model,
                      release_freed_memory, skipped_path, usable_chunks)

log = logging.getLogger(__name__)


def predict_files(model_path: PathLike, inputs: Sequence[PathLike], out_path: PathLike,
                  atom_init: PathLike | None = None, batch_size: int = BATCH, device: str = SETTINGS.device,
                  workers: int = SETTINGS.workers, skip_bad: bool = SETTINGS.skip_bad, chunk: int = 4096,
                  progress: bool = True, interval: float | None = SETTINGS.interval, recursive: bool = False,
                  resume: bool | None = None, shard: tuple[int, int] | None = None) -> dict:
    """Read inputs, predict, write the CSV; the element table defaults to an atom_init.json beside the data.

    With skip_bad, unusable crystals are listed in OUT.skipped.csv. An interrupted run left OUT.partial:
    the same command continues it (resume=True insists, False starts over). shard=(i, n) predicts the i-th
    of n equal blocks of the inputs; under torchrun each process takes its rank's block."""
    context = distributed.start(device)
    try:
        if context.enabled and shard:
            raise CgcnnError("--shard and torchrun both split the inputs: use one of them")
        index, count = (context.rank, context.world) if context.enabled else shard or (0, 1)
        dataset = collect_structures(inputs, skip_bad, recursive)
        read = files_read_by(inputs, dataset, model_path, atom_init)
        out_path = output_file(out_path, read)  # before any work
        output_file(skipped_path(out_path), read, "its skipped list (OUT.skipped.csv)")
        predictor = load_model(model_path, atom_init or dataset.atom_init, device)
        if interval is not None:
            predictor.require_calibration(model_path)
        target = part_path(out_path, index, count) if context.enabled else out_path
        report = _predict_block(predictor, block(dataset, index, count), target, batch_size, workers, skip_bad,
                                chunk, progress and context.main, interval, resume)
        if context.enabled:
            totals = distributed.summed([report[k] or 0 for k in ("predicted", "skipped", "out_of_domain")])
            report.update(zip(("predicted", "skipped", "out_of_domain"), map(int, totals)))
            distributed.barrier(context)
            if context.main:
                join_parts(out_path, count)
            distributed.barrier(context)
        return report
    finally:
        distributed.stop(context)


def block(dataset: CrystalDataset, index: int, count: int) -> CrystalDataset:
    """The index-th of count contiguous, nearly equal blocks (crystals left out while listing the inputs
    go with the first)."""
    if not 0 <= index < count:
        raise CgcnnError(f"shard {index}/{count}: the index runs from 0 to {count - 1}")
    n = len(dataset.ids)
    start, stop = n * index // count, n * (index + 1) // count
    return CrystalDataset(dataset.ids[start:stop], dataset.items[start:stop], dataset.sources[start:stop],
                          atom_init=dataset.atom_init, skipped=dataset.skipped if index == 0 else [])


def part_path(out_path: Path, index: int, count: int) -> Path:
    return out_path.with_name(f"{out_path.name}.part{index}of{count}")


def _predict_block(predictor: Predictor, dataset: CrystalDataset, out_path: Path, batch_size: int, workers: int,
                   skip_bad: bool, chunk: int, progress: bool, interval: float | None,
                   resume: bool | None) -> dict:
    with_domain = bool(predictor.metadata.get("domain"))
    placeholder = np.zeros((1, predictor.model.config.n_outputs))
    header = ["id", *predictor.columns(placeholder, placeholder, interval), *(["ood"] if with_domain else [])]
    # the comment says what the columns hold: pandas reads the file with comment="#"
    output = ChunkedCsv(out_path, [f"# {predictor.describe(interval)}", ",".join(header)])
    done = output.open(resume)
    if done:
        log.info("%s: %d predictions already written; predicting the rest", output.partial, len(done))
    rest = [k for k, crystal in enumerate(dataset.ids) if str(crystal) not in done]
    todo = CrystalDataset([dataset.ids[k] for k in rest], [dataset.items[k] for k in rest],
                          [dataset.sources[k] for k in rest], skipped=dataset.skipped)
    skipped, written, flagged = list(todo.skipped), len(done), 0
    graphs = iter_graphs(todo.items, todo.sources, predictor.params, workers, progress, skip_bad)
    try:
        for ids, sources, batch in usable_chunks(graphs, todo, predictor, skipped, skip_bad, chunk):
            values, spread, vectors = predictor.predict_graphs_full(batch, batch_size)
            keep = finite_or_skipped(values, spread, ids, sources, skipped, skip_bad)
            ids, values, spread = [ids[k] for k in keep], values[keep], spread[keep]
            columns = predictor.columns(values, spread, interval)
            ood = predictor.out_of_domain([batch[k] for k in keep], vectors[keep])
            if ood is not None:
                columns["ood"] = ood
                flagged += int(ood.sum())
            output.append([format_value(v) for v in row] for row in zip(ids, *columns.values()))
            written += len(ids)
            release_freed_memory()
    except OSError as exc:  # a full disk: the rows so far stay in OUT.partial for a resume
        raise_if_full(exc, out_path)
        raise
    finally:
        output.close()
    output.finish()
    write_skipped(skipped_path(out_path), skipped)
    log.debug("wrote %d predictions to %s", written, out_path)  # the command line says it once
    return {"predicted": written, "skipped": len(skipped), "out_of_domain": flagged if with_domain else None,
            "resumed": len(done)}


def join_parts(out_path: Path, count: int) -> None:
    """The parts' rows in order under the first part's comment and header (rank 0, after all finished);
    their skipped lists joined likewise."""
    parts = [part_path(out_path, k, count) for k in range(count)]
    with atomic_path(out_path) as tmp, open(tmp, "w") as out:
        for k, part in enumerate(parts):
            with open(part) as handle:
                for line_number, line in enumerate(handle):
                    if k == 0 or line_number >= 2:
                        out.write(line)
    lists = [skipped_path(p) for p in parts]
    rows = [row for p in lists if p.is_file() for row in list(csv.reader(p.open(newline="")))[1:]]
    write_skipped(skipped_path(out_path), rows)
    for path in parts + lists:
        path.unlink(missing_ok=True)
