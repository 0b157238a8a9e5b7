"""`cgcnn predict` on files, at screening scale: crystals stream through in chunks (memory stays bounded),
the output is written chunk by chunk so that a killed run resumes where it stopped, and the inputs can be
split into equal blocks: one per torchrun process (rank 0 joins the parts in input order) or one per task
of a scheduler (`shard`, e.g. a SLURM array)."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import PathLike
from ..errors import CgcnnError
from ..io.datasets import CrystalDataset
from ..io.inputs import collect_structures
from ..io.write import (ChunkedCsv, ChunkedParquet, atomic_path, csv_to_parquet, metadata_path, raise_if_full,
                        require_pyarrow, table_metadata, write_skipped, write_table_metadata)
from ..model.catalogue import resolve_model
from ..model import distributed
from ..model.columns import column_units, format_value
from .pipeline import CHUNK, GraphStream, files_read_by, finite_or_skipped, protect_outputs, skipped_path
from .predict import BATCH, SETTINGS, Predictor, load_model

log = logging.getLogger(__name__)


def predict_files(model_path: PathLike, inputs: Sequence[PathLike], out_path: PathLike,
                  atom_init: PathLike | None = None, batch_size: int = BATCH, device: str = SETTINGS.device,
                  workers: int = SETTINGS.workers, skip_bad: bool = SETTINGS.skip_bad, chunk: int = CHUNK,
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
        if not inputs:
            raise CgcnnError("no inputs: give the structure files, folders or tables to predict")
        if is_parquet(out_path):
            require_pyarrow(out_path)
        dataset = collect_structures(inputs, skip_bad, recursive)
        out_path = protect_outputs(out_path, files_read_by(inputs, dataset, model_path, atom_init))
        predictor = load_model(model_path, atom_init or dataset.atom_init, device)
        if interval is not None:
            predictor.record.require_calibration(model_path, predictor.is_classifier)
        target = part_path(out_path, index, count) if context.enabled else out_path
        made_by = fingerprint(model_path, atom_init or dataset.atom_init, dataset, (index, count), interval)
        metadata = prediction_metadata(predictor, model_path, made_by, interval)
        try:
            report = _predict_block(predictor, block(dataset, index, count), target, metadata, batch_size,
                                    workers, skip_bad, chunk, progress and context.main, interval, resume)
        except CgcnnError:
            if context.enabled:  # the others must not wait for this process at the join: tell them
                distributed.summed([1.0])
            raise
        if context.enabled:
            if distributed.summed([0.0])[0]:
                raise CgcnnError("another torchrun process stopped with an error (it says which crystal); "
                                 "this process's rows stay in its part for a resume")
            counted = ("predicted", "skipped", "out_of_domain", "seen_in_training")
            totals = distributed.summed([report[k] or 0 for k in counted])
            report.update({k: int(v) if report[k] is not None else None for k, v in zip(counted, totals)})
            distributed.barrier(context)
            if context.main:
                join_parts(out_path, count, {**made_by, "block": [0, 1]})
            distributed.barrier(context)
        return report
    finally:
        distributed.stop(context)


def is_parquet(path: PathLike) -> bool:
    return Path(path).suffix.lower() == ".parquet"


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


def fingerprint(model_path: PathLike, atom_init: PathLike | None, dataset: CrystalDataset,
                block_index: tuple[int, int], interval: float | None) -> dict:
    """What makes a prediction file's rows: the model file's (and element table's) SHA-256, the input list's
    (ids and where each crystal comes from, in order), the block of it, the interval level. Stored beside the
    output so that resume, a second writer and joining shards are checked against it."""
    sources = "\n".join(f"{i}\t{s}" for i, s in zip(dataset.ids, dataset.sources))
    return {"model_sha256": file_sha256(resolve_model(model_path)),
            "element_table_sha256": file_sha256(Path(atom_init)) if atom_init else None,
            "inputs_sha256": hashlib.sha256(sources.encode()).hexdigest(), "n_inputs": len(dataset.ids),
            "block": list(block_index), "interval": interval}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def prediction_header(predictor: Predictor, interval: float | None) -> list[str]:
    placeholder = np.zeros((1, predictor.model.config.n_outputs))
    domain = predictor.record.domain
    columns = predictor.columns(placeholder, placeholder, interval, distance=np.ones(1))  # only their names
    return ["id", *columns, *(["ood"] if domain else []),
            *(["ood_score"] if domain.get("validation_distances") else [])]


def prediction_metadata(predictor: Predictor, model_path: PathLike, made_by: dict, interval: float | None) -> dict:
    """The CSV on the Web description of a prediction file (its -metadata.json sidecar): each column with
    its target and unit, the model, and the fingerprint of what made the rows."""
    header = prediction_header(predictor, interval)
    units = column_units(predictor.target_names, predictor.units, predictor.is_classifier, header)
    return table_metadata(header, predictor.describe(interval), units, {"class": "integer", "ood": "integer"},
                          model=str(model_path),
                          targets=predictor.target_names, units=predictor.units, interval_level=interval,
                          fingerprint={**made_by, "columns": header})


def _predict_block(predictor: Predictor, dataset: CrystalDataset, out_path: Path, metadata: dict, batch_size: int,
                   workers: int, skip_bad: bool, chunk: int, progress: bool, interval: float | None,
                   resume: bool | None) -> dict:
    with_domain = bool(predictor.record.domain)
    kind = ChunkedParquet if is_parquet(out_path) else ChunkedCsv
    output = kind(out_path, metadata["fingerprint"]["columns"], metadata)
    done = output.open(resume)
    if done:
        log.info("%s: %d predictions already written; predicting the rest", output.partial, len(done))
    rest = [k for k, crystal in enumerate(dataset.ids) if str(crystal) not in done]
    todo = CrystalDataset([dataset.ids[k] for k in rest], [dataset.items[k] for k in rest],
                          [dataset.sources[k] for k in rest], skipped=dataset.skipped)
    # the warning counts every row of the file, those of the run resumed too
    flagged = output.count("ood", "1") if done and with_domain else 0
    stream, written = GraphStream(predictor, todo, workers, skip_bad, chunk, progress), len(done)
    seen: int | None = None  # inputs that were training crystals of the model (predicted in this run)
    try:
        for ids, sources, batch in stream.chunks():
            values, spread, vectors = predictor.predict_graphs_full(batch, batch_size)
            keep = finite_or_skipped(values, spread, ids, sources, stream.skipped, skip_bad)
            ids, values, spread = [ids[k] for k in keep], values[keep], spread[keep]
            kept, vectors = [batch[k] for k in keep], vectors[keep]
            assessed = predictor.record.assess(ids, kept, vectors)
            columns = predictor.columns(values, spread, interval, assessed.distance)
            if assessed.ood is not None:
                columns["ood"] = assessed.ood
                flagged += int(assessed.ood.sum())
            if assessed.ood_score is not None:
                columns["ood_score"] = assessed.ood_score
            seen = None if assessed.seen is None else (seen or 0) + int(assessed.seen.sum())
            output.append([format_value(v) for v in row] for row in zip(ids, *columns.values()))
            written += len(ids)
    except OSError as exc:  # a full disk: the rows so far stay in OUT.partial for a resume
        output.abandon()
        raise_if_full(exc, out_path)
        raise
    except BaseException:
        output.abandon()  # rows written so far stay for a resume; an empty partial file goes
        raise
    finally:
        output.close()
    output.finish()
    stream.write_skipped(out_path)
    log.debug("wrote %d predictions to %s", written, out_path)  # the command line says it once
    return {"predicted": written, "skipped": len(stream.skipped), "out_of_domain": flagged if with_domain else None,
            "resumed": len(done), "seen_in_training": seen}


def join_parts(out_path: Path, count: int, made_by: dict) -> None:
    """The parts' rows in order under the first part's header (rank 0, after all finished), with one
    description for the whole (a sidecar, or inside a Parquet file); their skipped lists joined likewise."""
    parts = [part_path(out_path, k, count) for k in range(count)]
    first = json.loads(metadata_path(parts[0]).read_text())
    metadata = {**first, "url": out_path.name, "fingerprint": {**first["fingerprint"], **made_by}}
    joined = out_path.with_name(out_path.name + ".joined") if is_parquet(out_path) else out_path
    with atomic_path(joined) as tmp, open(tmp, "w") as out:
        for k, part in enumerate(parts):
            with open(part) as handle:
                for line_number, line in enumerate(handle):
                    if k == 0 or line_number >= 1:
                        out.write(line)
    if joined != out_path:
        csv_to_parquet(joined, out_path, metadata)
        joined.unlink()
    else:
        write_table_metadata(out_path, metadata)
    lists = [skipped_path(p) for p in parts]
    rows = [row for p in lists if p.is_file() for row in list(csv.reader(p.open(newline="")))[1:]]
    write_skipped(skipped_path(out_path), rows)
    for path in parts + lists + [metadata_path(p) for p in parts]:
        path.unlink(missing_ok=True)
