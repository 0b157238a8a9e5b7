"""Files of many structures read lazily: an extxyz trajectory or an ASE database is listed (an id for each
frame and where it is) without reading a structure; each frame is read when its graph is built, in the
worker process that builds it. Memory then holds a few numbers per frame, not the structures.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from ..config import PathLike
from ..errors import InputError
from .formats import format_of

@dataclass(frozen=True)
class Frame:
    """Where one structure of a multi-frame file is: byte range (extxyz) or row id (ASE database)."""

    path: str
    kind: str
    start: int
    stop: int = -1
    column: int | str = -1  # a table's structure column (its index in a CSV, its name in Parquet)
    index: int = -1  # the frame's number in an (ext)xyz file, for messages

    def where(self) -> str:
        """Which structure of the file this is, in words, for an error message."""
        if self.kind == "extxyz":
            return f"frame {self.index}"
        if self.kind == "db":
            return f"row id {self.start}"
        if self.kind == "parquet":
            return f"row {self.stop} of row group {self.start}"
        return f"the record at byte {self.start}"


def list_frames(path: PathLike) -> list[tuple[str, Frame]]:
    """(id, Frame) of every structure in the file: the stem for a single one, else stem:k (stem:row id for a
    database, as ASE numbers its rows)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty")
    fmt = format_of(path)
    kind = fmt.listed if fmt else ""
    frames = _database_rows(path) if kind == "db" else _xyz_frames(path)
    if not frames:
        raise InputError(path, "the file holds no structure")
    if len(frames) == 1 and kind != "db":
        return [(path.stem, frames[0])]
    return [(f"{path.stem}:{frame.start if kind == 'db' else k}", frame) for k, frame in enumerate(frames)]


def _xyz_frames(path: Path) -> list[Frame]:
    """Each frame of an (ext)xyz file starts with its atom count, then a comment line, then one line per
    atom: one pass over the lines finds where every frame starts and stops."""
    frames: list[Frame] = []
    offset = 0
    with open(path, "rb") as handle:
        while True:
            line = handle.readline()
            if not line:
                break
            if not line.strip():  # blank lines between frames
                offset += len(line)
                continue
            try:
                atoms = int(line.split()[0])
            except ValueError:
                raise InputError(path, f"not an xyz file: a frame starts with its atom count, not {line[:40]!r}"
                                 ) from None
            if atoms < 1:
                raise InputError(path, f"frame {len(frames)} declares {atoms} atoms")
            size = len(line)
            for read in range(atoms + 1):
                body = handle.readline()
                if not body:  # stop at the file's end, whatever count the frame declared
                    raise InputError(path, f"frame {len(frames)} declares {atoms:,} atoms but the file ends "
                                     f"after {max(read - 1, 0):,} of them (a cut or damaged file)")
                size += len(body)
            frames.append(Frame(str(path), "extxyz", offset, offset + size, index=len(frames)))
            offset += size
    return frames


def _database_rows(path: Path) -> list[Frame]:
    import ase.db

    try:
        with ase.db.connect(str(path)) as db:
            return [Frame(str(path), "db", row.id) for row in db.select(include_data=False)]
    except Exception as exc:  # sqlite and ASE raise several types for a file that is not a database
        raise InputError(path, f"not a readable ASE database ({type(exc).__name__}: {exc})") from None


def csv_records(path: Path) -> Iterator[tuple[int, int, list[str]]]:
    """(start, stop, cells) of each record of a CSV file after its header, one at a time: a record ends at
    a line end outside quotes (CIF or POSCAR text in a cell spans many lines)."""
    import csv

    with open(path, "rb") as handle:
        start = handle.tell()
        pending, quotes = b"", 0
        for line in iter(handle.readline, b""):
            pending += line
            quotes += line.count(b'"')
            if quotes % 2:
                continue
            stop = start + len(pending)
            try:
                cells = next(csv.reader([pending.decode("utf-8-sig")]), [])
            except UnicodeDecodeError as exc:
                raise InputError(path, f"is not UTF-8 text (byte at position {start + exc.start}); save it as "
                                 "UTF-8") from None
            if cells:
                yield start, stop, cells
            start, pending, quotes = stop, b"", 0
        if pending.strip():  # an unclosed quote: the last record was cut inside a quoted cell
            raise InputError(path, f"the table ends inside a quoted cell (the record starting at byte {start} "
                             "has an unclosed quote): a cut or damaged file")


def parquet_rows(path: Path, columns: tuple[str, ...]) -> Iterator[Any]:
    """(row group, row in it, values of `columns`) of a Parquet table, one row group in memory at a time."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(path, "reading Parquet needs pyarrow: pip install 'cgcnn[parquet]'") from None
    try:
        table = pq.ParquetFile(path)
        names = table.schema_arrow.names
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(path, f"not a readable Parquet file ({type(exc).__name__})") from None
    wanted = [c for c in columns if c in names]
    yield names
    for group in range(table.num_row_groups):
        data = table.read_row_group(group, columns=wanted).to_pydict()
        for row in range(table.metadata.row_group(group).num_rows):
            yield group, row, {c: data[c][row] for c in wanted}


@functools.lru_cache(maxsize=2)  # a worker reads the frames of a row group one after another
def _row_group(path: str, group: int, column: str) -> list:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group, columns=[column]).column(0).to_pylist()


def read_frame(frame: Frame) -> Any:
    """One frame: ASE Atoms (extxyz, database) or the structure text of a table's cell (csv)."""
    import csv
    import io

    import ase.db
    import ase.io

    if frame.kind == "parquet":  # start: row group, stop: row in it, column: the structure column's name
        return _row_group(frame.path, frame.start, str(frame.column))[frame.stop]
    if frame.kind == "csv":
        with open(frame.path, "rb") as handle:
            handle.seek(frame.start)
            record = handle.read(frame.stop - frame.start).decode("utf-8")
        return next(csv.reader([record]))[int(frame.column)]
    if frame.kind == "db":
        with ase.db.connect(frame.path) as db:
            return db.get(id=frame.start).toatoms()
    with open(frame.path, "rb") as handle:
        handle.seek(frame.start)
        text = handle.read(frame.stop - frame.start).decode()
    return ase.io.read(io.StringIO(text), format="extxyz")
