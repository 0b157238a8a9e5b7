"""Crystal embeddings: the vector a trained model makes of each crystal, for use in other models.

A crystal's embedding is the mean of its atom vectors after the last convolution: under full pooling it is
exactly what feeds the layers after pooling (`CrystalGraphConvNet.forward_with_vectors`). With `sites`, each
site's own vector instead. Both are invariant to the order of the atoms, and a supercell gets its cell's
crystal vector. An ensemble embeds with one member (`member`, default the first): members learn different
bases, so their vectors are not averaged.

Output by the file's extension: `.csv` (id[, site, element], e0, e1, …), `.parquet` (the same columns; needs
pyarrow), or `.npy` (the vectors alone, float32, in input order; the id columns go to OUT.ids.csv beside it).
Crystals stream through in chunks, as in `cgcnn predict`.
"""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PathLike
from ..errors import InputError
from ..graphs.graph import CrystalGraph
from ..io.inputs import collect_structures
from ..io.write import (atomic_path, described_schema, output_file, require_pyarrow, table_metadata, write_csv,
                        write_table_metadata)
from .pipeline import CHUNK, GraphStream, files_read_by, protect_outputs
from .predict import SETTINGS, load_model

log = logging.getLogger(__name__)
FORMATS = (".csv", ".npy", ".parquet")


def embed_files(model_path: PathLike, inputs: Sequence[PathLike], out_path: PathLike,
                atom_init: PathLike | None = None, *, sites: bool = False, member: int = 0,
                batch_size: int = SETTINGS.batch_size, device: str = SETTINGS.device, workers: int = SETTINGS.workers,
                skip_bad: bool = SETTINGS.skip_bad, chunk: int = CHUNK,
                progress: bool = True, recursive: bool = False) -> dict:
    """Embed every crystal of `inputs` with the model and write them to `out_path` (format by extension).
    Returns {"crystals", "rows", "dimensions", "skipped"}."""
    out_path = Path(out_path)
    if out_path.suffix.lower() not in FORMATS:
        raise InputError(out_path, f"unknown embedding format {out_path.suffix!r}: name the file .csv, .npy or "
                         ".parquet")
    dataset = collect_structures(inputs, skip_bad, recursive)
    read = files_read_by(inputs, dataset, model_path, atom_init)
    out_path = protect_outputs(out_path, read)
    predictor = load_model(model_path, atom_init or dataset.atom_init, device)
    predictor.check_member(member)
    stream = GraphStream(predictor, dataset, workers, skip_bad, chunk, progress)
    dimensions = predictor.model.config.atom_fea_len
    writer = _writer(out_path, dimensions, sites, read, _metadata(model_path, dimensions, sites, member))
    counts = {"crystals": 0, "rows": 0}
    with writer:
        for ids, _, batch in stream.chunks():
            vectors = predictor.embed_graphs(batch, sites, member, batch_size)
            writer.write(_id_columns(ids, batch, sites), vectors)
            counts["crystals"] += len(ids)
            counts["rows"] += len(vectors)
    stream.write_skipped(out_path)
    return {**counts, "dimensions": predictor.model.config.atom_fea_len, "skipped": len(stream.skipped)}


def _metadata(model_path: PathLike, dimensions: int, sites: bool, member: int) -> dict:
    """What the embedding file holds (a CSV-on-the-Web sidecar; the key-value metadata of a Parquet file)."""
    what = ("each site's vector (its atom vector after the convolutions)" if sites else
            "each crystal's vector (the pooled atom vectors after the convolutions, before the hidden layers)")
    header = ["id", *(["site", "element"] if sites else []), *vector_columns(dimensions)]
    return table_metadata(header, f"e0…e{dimensions - 1}: {what}, from member {member} of the model",
                          datatypes={"site": "integer", "element": "string"}, model=str(model_path), member=member)


def _id_columns(ids: list, graphs: Sequence[CrystalGraph], sites: bool) -> dict[str, list]:
    """id per crystal; with sites: id, site (0-based, the file's order) and element per site."""
    if not sites:
        return {"id": list(ids)}
    from pymatgen.core.periodic_table import Element

    columns: dict[str, list] = {"id": [], "site": [], "element": []}
    for crystal_id, graph in zip(ids, graphs):
        numbers = graph.atomic_numbers.tolist()
        columns["id"] += [crystal_id] * len(numbers)
        columns["site"] += list(range(len(numbers)))
        columns["element"] += [Element.from_Z(z).symbol for z in numbers]
    return columns


def _writer(path: Path, dimensions: int, sites: bool, read: list, metadata: dict) -> _Writer:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _ParquetWriter(path, dimensions, metadata)
    if suffix == ".npy":
        ids = path.with_name(path.stem + ".ids.csv")
        output_file(ids, read, "its id list (OUT.ids.csv)")
        return _NpyWriter(path, ids, dimensions, sites, metadata)
    return _CsvWriter(path, dimensions, metadata)


def vector_columns(dimensions: int) -> list[str]:
    return [f"e{k}" for k in range(dimensions)]


class _Writer:
    """Writes chunks of (id columns, vectors) into a temporary file that replaces `path` only when whole."""

    def __init__(self, path: Path, dimensions: int, metadata: dict) -> None:
        self.path, self.dimensions, self.metadata = path, dimensions, metadata
        self.stack = ExitStack()

    def __enter__(self) -> _Writer:
        self.tmp = self.stack.enter_context(atomic_path(self.path))
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if exc[0] is None:
                self.close()
        finally:
            self.stack.__exit__(*exc)

    def open(self) -> None: ...

    def write(self, ids: dict[str, list], vectors: np.ndarray) -> None: ...

    def close(self) -> None: ...


class _CsvWriter(_Writer):
    def open(self) -> None:
        self.handle = self.stack.enter_context(open(self.tmp, "w", newline=""))
        self.csv = csv.writer(self.handle, lineterminator="\n")
        self.header_written = False

    def write(self, ids: dict[str, list], vectors: np.ndarray) -> None:
        if not self.header_written:
            self.csv.writerow([*ids, *vector_columns(self.dimensions)])
            self.header_written = True
        text = [[f"{v:.6g}" for v in row] for row in vectors.tolist()]
        self.csv.writerows([*key, *row] for key, row in zip(zip(*ids.values()), text))

    def close(self) -> None:
        if not self.header_written:  # no crystal: the header alone
            self.csv.writerow(["id", *vector_columns(self.dimensions)])
        write_table_metadata(self.path, self.metadata)


class _ParquetWriter(_Writer):
    def open(self) -> None:
        require_pyarrow(self.path, ".csv / .npy")
        self.writer: Any = None

    def write(self, ids: dict[str, list], vectors: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = {**{k: pa.array(v) for k, v in ids.items()},
                  **{name: pa.array(vectors[:, k]) for k, name in enumerate(vector_columns(self.dimensions))}}
        table = pa.table(arrays)
        if self.writer is None:  # the description travels inside the file, as Parquet's key-value metadata
            self.writer = pq.ParquetWriter(str(self.tmp), described_schema(table.schema, self.metadata))
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is None:  # no crystal: an empty table with the columns
            self.write({"id": []}, np.zeros((0, self.dimensions), dtype=np.float32))
        self.writer.close()


class _NpyWriter(_Writer):
    """Vectors go to a raw float32 file as they come; at the end the .npy header (which needs the row count)
    and that data are joined, so memory stays bounded. The ids go to a CSV beside it."""

    def __init__(self, path: Path, ids_path: Path, dimensions: int, sites: bool, metadata: dict) -> None:
        super().__init__(path, dimensions, metadata)
        self.ids_path, self.sites = ids_path, sites

    def open(self) -> None:
        raw = self.tmp.with_name(self.tmp.name + ".raw")
        self.raw = self.stack.enter_context(open(raw, "w+b"))
        self.stack.callback(raw.unlink, missing_ok=True)  # also when the run fails
        self.id_rows: list = []
        self.rows = 0

    def write(self, ids: dict[str, list], vectors: np.ndarray) -> None:
        self.raw.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        self.id_rows += list(zip(*ids.values()))
        self.rows += len(vectors)

    def close(self) -> None:
        header = ["id", "site", "element"] if self.sites else ["id"]
        write_csv(self.ids_path, header, self.id_rows)
        columns = [c for c in self.metadata["tableSchema"]["columns"] if c["name"] in header]
        described = f"the rows of {self.path.name}, in order; " + self.metadata["dc:description"]
        write_table_metadata(self.ids_path, {**self.metadata, "dc:description": described,
                                             "tableSchema": {"columns": columns}})
        self.raw.flush()
        self.raw.seek(0)
        with open(self.tmp, "wb") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (self.rows, self.dimensions)})
            shutil.copyfileobj(self.raw, out)
