"""Datasets of crystals with labels: the original layout (a folder of CIFs and id_prop.csv) and tables
(CSV, JSON lines) with a structure column; `CrystalDataset` is what every later stage takes.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PathLike
from ..errors import InputError, NothingUsable, exception_summary
from .formats import is_json_table

log = logging.getLogger(__name__)


@dataclass
class CrystalDataset:
    """Crystals with their ids, optional targets and the file each came from (for error messages).

    `items` are read lazily (and in parallel) when graphs are built: a Path to a structure file, embedded
    text (CIF, POSCAR or pymatgen JSON) or dict, or an already parsed Structure.
    """

    ids: list
    items: list
    sources: list
    targets: np.ndarray | None = None
    target_names: list = field(default_factory=list)
    atom_init: Path | None = None
    skipped: list = field(default_factory=list)  # (id, source, reason) left out under --skip-bad

    def __len__(self):
        return len(self.ids)


class Problems:
    """Bad entries: raised at once, or (with skip_bad) collected as (id, source, reason) and left out."""

    def __init__(self, skip_bad: bool):
        self.skip_bad = skip_bad
        self.found: list[tuple[str, str, str]] = []

    def report(self, crystal_id: object, source: PathLike, reason: str) -> None:
        if not self.skip_bad:
            raise InputError(source, reason)
        self.found.append((str(crystal_id), str(source), reason))


MISSING = {"", "nan", "na", "n/a", "none", "null"}  # cells that mean "no label" (case ignored)


def _parse_target(value: Any, source, row_id) -> float:
    """A target cell as a number; an empty or NaN cell is a missing label (NaN), left out of the loss."""
    if value is None or (isinstance(value, str) and value.strip().lower() in MISSING):
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(source, f"id {row_id!r}: target {value!r} is not a number") from None
    if math.isinf(number):
        raise InputError(source, f"id {row_id!r}: target is {value}; give a finite value or leave the cell empty")
    return number


def _check_unique(ids, source):
    seen = set()
    for i in ids:
        if i in seen:
            raise InputError(source, f"id {i!r} appears more than once")
        seen.add(i)


def read_original_layout(folder: Path, with_targets: bool = True, skip_bad: bool = False) -> CrystalDataset:
    """The original CGCNN layout: ID.cif files plus a header-less id_prop.csv (id, target, ...)."""
    table = folder / "id_prop.csv"
    rows = [r for r in csv.reader(io.StringIO(read_table_text(table))) if r and any(c.strip() for c in r)]
    header = _header_row(rows, folder)
    rows = rows[1:] if header else rows
    if not rows:
        raise InputError(table, "the file has no rows")
    width = len(rows[0])
    if (with_targets and width < 2) or any(len(r) != width for r in rows):
        raise InputError(table, "every row needs an id and the same number of target columns")
    problems, seen, ids, items, values = Problems(skip_bad), set(), [], [], []
    for row in rows:
        crystal_id, path = row[0].strip(), folder / f"{row[0].strip()}.cif"
        try:
            if crystal_id in seen:
                raise InputError(table, f"id {crystal_id!r} appears more than once")
            seen.add(crystal_id)
            if not path.is_file():
                raise InputError(path, f"id {crystal_id!r} is listed in {table.name} but its CIF file is missing")
            target = [_parse_target(c, table, crystal_id) for c in row[1:]] if with_targets else []
        except InputError as exc:
            problems.report(crystal_id, exc.source, exc.reason)
            continue
        ids.append(crystal_id)
        items.append(path)
        values.append(target)
    for orphan in sorted(set(p.stem for p in folder.glob("*.cif")) - seen):
        problems.report(orphan, folder / f"{orphan}.cif", f"the file has no row in {table.name}")
    n_targets = width - 1 if with_targets else 0
    names = ["target"] if n_targets == 1 else [str(k + 1) for k in range(n_targets)]  # id_prop.csv columns
    if header and len(header) == width:
        names = [name.strip() for name in header[1:]] if with_targets else []
    atom_init = folder / "atom_init.json"
    targets = np.array(values, dtype=np.float64).reshape(len(ids), n_targets) if with_targets else None
    return CrystalDataset(ids, items, [str(p) for p in items], targets, names,
                          atom_init if atom_init.is_file() else None, problems.found)


def _header_row(rows: list, folder: Path) -> list | None:
    """id_prop.csv has no header in the original layout, but people add one: a first row whose target cells
    are not numbers and whose id has no CIF file is taken as the header (and said so in the log)."""
    if len(rows) < 2 or len(rows[0]) < 2 or (folder / f"{rows[0][0].strip()}.cif").is_file():
        return None
    if any(_is_number(cell) for cell in rows[0][1:]):
        return None
    log.info("%s: the first row %s is a header; its names are the targets", folder / "id_prop.csv", rows[0])
    return rows[0]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_table_text(path: Path) -> str:
    """A text table's contents: UTF-8 with or without a byte-order mark (gzip-compressed if named .gz);
    anything else is one clear error naming the file."""
    import gzip

    try:
        data = path.read_bytes()
        data = gzip.decompress(data) if path.name.endswith(".gz") else data
    except (OSError, EOFError) as exc:
        raise InputError(path, f"cannot read the file ({exception_summary(exc)})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, "is UTF-16 text; save it as UTF-8 (e.g. \"CSV UTF-8\" in a spreadsheet)")
    if b"\x00" in data[:4096]:
        raise InputError(path, "is a binary file, not a text table")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}; "
                         "Latin-1 or Windows-1252?): save it as UTF-8") from None


STRUCTURE_COLUMNS = ("structure", "cif", "poscar", "structure_file", "file", "path")


def _read_table(path: Path):
    import pandas as pd

    try:
        if is_json_table(path):
            lines = ".jsonl" in path.name
            return pd.read_json(path, lines=lines, dtype=False)
        return pd.read_csv(io.StringIO(read_table_text(path)), dtype=str, keep_default_na=False)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(path, f"cannot read the table ({exception_summary(exc)})") from None


def read_table_layout(path: Path, targets: Sequence[str] | None = None, id_column: str = "id",
                      structure_column: str | None = None, with_targets: bool = True,
                      skip_bad: bool = False) -> CrystalDataset:
    """A CSV/JSON table: one row per crystal, a structure column (file path or embedded text), targets."""
    frame = _read_table(path)
    if frame.empty:
        raise InputError(path, "the table has no rows")
    columns = list(frame.columns)
    structure_column = structure_column or next((c for c in STRUCTURE_COLUMNS if c in columns), None)
    if structure_column not in columns:
        raise InputError(path, f"no structure column; name one of {list(STRUCTURE_COLUMNS)} or pass --structure-column")
    ids = [str(v) for v in frame[id_column]] if id_column in columns else [str(k) for k in range(len(frame))]
    if targets is None:
        skip = {structure_column, id_column}
        targets = [c for c in columns if c not in skip and _numeric_column(frame[c])] if with_targets else []
    missing = [t for t in targets if t not in columns]
    if missing:
        raise InputError(path, f"target column(s) {missing} not found; columns are {columns}")
    if with_targets and not targets:
        raise InputError(path, "no numeric target column; pass --targets")
    problems, seen, kept, items, sources, values = Problems(skip_bad), set(), [], [], [], []
    for k, entry in enumerate(frame[structure_column]):
        try:
            if ids[k] in seen:
                raise InputError(path, f"id {ids[k]!r} appears more than once")
            seen.add(ids[k])
            item, source = _table_item(entry, path, ids[k])
            values.append([_parse_target(frame[t].iloc[k], path, ids[k]) for t in targets])
        except InputError as exc:
            problems.report(ids[k], exc.source, exc.reason)
            continue
        kept.append(ids[k])
        items.append(item)
        sources.append(source)
    array = np.array(values, dtype=np.float64).reshape(len(kept), len(targets)) if targets else None
    return CrystalDataset(kept, items, sources, array, list(targets), None, problems.found)


def _numeric_column(series) -> bool:
    import pandas as pd

    return bool(pd.to_numeric(series, errors="coerce").notna().any())


def _table_item(entry, table: Path, row_id):
    """(item, source): embedded structure text as is, or the path of a structure file."""
    if isinstance(entry, dict) or (isinstance(entry, str) and ("\n" in entry or entry.lstrip().startswith("{"))):
        return entry, f"{table} (id {row_id})"
    path = table.parent / str(entry)
    if not str(entry).strip() or not path.is_file():
        raise InputError(table, f"id {row_id!r}: structure file {str(entry)!r} not found")
    return path, str(path)


def load_dataset(path: PathLike, targets: Sequence[str] | None = None, id_column: str = "id",
                 structure_column: str | None = None, skip_bad: bool = False) -> CrystalDataset:
    """A labelled dataset in either layout: a folder with id_prop.csv, or a CSV/JSON table."""
    path = Path(path)
    if path.is_dir():
        if not (path / "id_prop.csv").is_file():
            raise InputError(path, "no id_prop.csv in this folder (expected the original CGCNN layout)")
        dataset = select_targets(read_original_layout(path, skip_bad=skip_bad), targets, path / "id_prop.csv")
    elif path.is_file():
        dataset = read_table_layout(path, targets, id_column, structure_column, skip_bad=skip_bad)
    else:
        raise InputError(path, "no such file or folder")
    if not dataset.ids:
        raise NothingUsable(path, dataset.skipped)
    return dataset


def select_targets(dataset: CrystalDataset, targets: Sequence[str] | None, source: PathLike) -> CrystalDataset:
    """Keep only the named target columns (id_prop.csv's header names, or 1, 2, ... without a header)."""
    if not targets or dataset.targets is None:
        return dataset
    missing = [t for t in targets if t not in dataset.target_names]
    if missing:
        raise InputError(source, f"no target column {missing[0]!r}; its columns are "
                         f"{', '.join(dataset.target_names)}")
    at = [dataset.target_names.index(t) for t in targets]
    dataset.targets, dataset.target_names = dataset.targets[:, at], list(targets)
    return dataset
