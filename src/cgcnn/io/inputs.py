"""What a prediction command is given: structure files, folders of them, dataset folders and tables, as one
`CrystalDataset` whose structures are read later (a path, or a Frame of a file of many) by the workers that
build the graphs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..config import PathLike
from ..errors import InputError
from .datasets import (STRUCTURE_COLUMNS, CrystalDataset, Problems, _check_unique, _table_item, read_original_layout,
                       read_table_layout, read_table_text)
from .formats import format_of, is_structure_file, table_kind
from .streams import Frame, csv_records, list_frames, parquet_rows
from .structures import read_structures


def _folder_files(folder: Path, recursive: bool = False) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    hidden = lambda p: any(part.startswith(".") for part in p.relative_to(folder).parts)  # noqa: E731
    files = sorted(p for p in found if p.is_file() and is_structure_file(p) and not hidden(p))
    return [p for p in files if p.name != "atom_init.json"]


def collect_structures(inputs: Iterable[PathLike], skip_bad: bool = False, recursive: bool = False) -> CrystalDataset:
    """Unlabelled structures from files, folders of structure files (with `recursive`, their subfolders
    too), dataset folders or tables. A structure file's id is its name without suffix; where two files
    would give the same id (a/POSCAR, b/POSCAR), their paths are their ids."""
    ids, items, sources, atom_init, skipped, from_files = [], [], [], None, [], []
    for item in map(Path, inputs):
        table = table_kind(item) if item.is_file() else None
        structure_files = not (item.is_dir() and (item / "id_prop.csv").is_file()) and not table
        if item.is_dir() and (item / "id_prop.csv").is_file():
            part = read_original_layout(item, with_targets=False, skip_bad=skip_bad)
        elif item.is_dir():
            files = _folder_files(item, recursive)
            if not files:
                raise InputError(item, "the folder contains no structure files" + ("" if recursive else
                                 " (--recursive searches its subfolders)"))
            part = _files_dataset(files)
            part.atom_init = item / "atom_init.json" if (item / "atom_init.json").is_file() else None
        elif table == "csv":  # read record by record, structures later
            part = read_table_lazily(item, skip_bad)
        elif table == "parquet":
            part = read_parquet_lazily(item, skip_bad)
        elif table:
            part = read_table_layout(item, with_targets=False, skip_bad=skip_bad)
        else:
            part = _files_dataset([item])
        from_files += [structure_files] * len(part.ids)
        ids += part.ids
        items += part.items
        sources += part.sources
        atom_init = atom_init or part.atom_init
        skipped += part.skipped
    ids = _paths_for_clashing_ids(ids, sources, from_files)
    _check_unique(ids, "inputs")
    return CrystalDataset(ids, items, sources, atom_init=atom_init, skipped=skipped)


def read_table_lazily(path: Path, skip_bad: bool = False) -> CrystalDataset:
    """A CSV table's ids and where each structure is, one record at a time: an embedded structure stays in
    the file (a Frame: its record's byte range), read when its graph is built; a path is checked now."""
    with open(path, "rb") as handle:
        start = handle.read(4096)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in start:
        read_table_text(path)  # the clear error for UTF-16 or binary files
    records = csv_records(path)
    header = next(records, None)
    if header is None:
        raise InputError(path, "the table has no rows")
    columns = [c.strip() for c in header[2]]
    column = next((c for c in STRUCTURE_COLUMNS if c in columns), None)
    if column is None:
        raise InputError(path, f"no structure column; name one of {list(STRUCTURE_COLUMNS)}")
    at, id_at = columns.index(column), columns.index("id") if "id" in columns else None

    def _entries() -> Iterator[tuple]:
        for k, (begin, end, cells) in enumerate(records):
            crystal_id = cells[id_at] if id_at is not None and id_at < len(cells) else str(k)
            ragged = len(cells) != len(columns)
            problem = f"id {crystal_id!r}: {len(cells)} cells where the header has {len(columns)}" if ragged else None
            yield crystal_id, "" if ragged else cells[at], Frame(str(path), "csv", begin, end, at), problem

    return _listed(path, _entries(), skip_bad)


def read_parquet_lazily(path: Path, skip_bad: bool = False) -> CrystalDataset:
    """A Parquet table's ids and where each structure is (row group, row), one row group in memory at a time;
    embedded structures are read again when their graphs are built."""
    rows = parquet_rows(path, ("id", *STRUCTURE_COLUMNS))
    names = next(rows)
    column = next((c for c in STRUCTURE_COLUMNS if c in names), None)
    if column is None:
        raise InputError(path, f"no structure column; name one of {list(STRUCTURE_COLUMNS)}")
    entries = ((str(values["id"]) if "id" in values else str(k), values[column],
                Frame(str(path), "parquet", group, row, column), None)
               for k, (group, row, values) in enumerate(rows))
    return _listed(path, entries, skip_bad)


def _listed(path: Path, entries: Iterable, skip_bad: bool) -> CrystalDataset:
    """A lazily read table's dataset from (id, structure cell, Frame of that cell, problem or None): an
    embedded structure stays in the file (its Frame), a path is checked now; duplicates are problems."""
    problems, seen, ids, items, sources = Problems(skip_bad), set(), [], [], []
    for crystal_id, cell, frame, problem in entries:
        try:
            if problem:
                raise InputError(path, problem)
            if crystal_id in seen:
                raise InputError(path, f"id {crystal_id!r} appears more than once")
            seen.add(crystal_id)
            item, source = _table_item(cell, path, crystal_id)
        except InputError as exc:
            problems.report(crystal_id, exc.source, exc.reason)
            continue
        ids.append(crystal_id)
        items.append(frame if isinstance(item, str) else item)
        sources.append(source)
    return CrystalDataset(ids, items, sources, skipped=problems.found)


def _paths_for_clashing_ids(ids: list, sources: list, from_files: list) -> list:
    """Ids of structure files that clash take the file's path (relative to the working folder when below
    it) in place of its name; a frame suffix (`:0`) is kept. Ids from tables and dataset folders stay."""
    counts: dict = {}
    for crystal_id in ids:
        counts[crystal_id] = counts.get(crystal_id, 0) + 1
    renamed = []
    for crystal_id, source, is_file in zip(ids, sources, from_files):
        if counts[crystal_id] > 1 and is_file:
            path = Path(source)
            relative = os.path.relpath(path)
            shown = relative if not relative.startswith("..") else str(path)
            crystal_id = shown + str(crystal_id)[len(path.stem):] if str(crystal_id).startswith(path.stem) else shown
        renamed.append(crystal_id)
    return renamed


def _files_dataset(files) -> CrystalDataset:
    """CIFs stay paths (one crystal each, read later); other formats may hold several frames: read now."""
    ids, items, sources = [], [], []
    for path in files:
        if not path.is_file():
            raise InputError(path, "no such file")
        fmt = format_of(path)
        if fmt and fmt.count and fmt.count(path) <= 1:  # one structure: read when its graph is built
            pairs: list = [(path.stem, path)]
        elif fmt and fmt.listed:  # many frames: listed now, each read when its graph is built
            pairs = list_frames(path)
        else:
            pairs = read_structures(path)
        for name, item in pairs:
            ids.append(name)
            items.append(item)
            sources.append(str(path))
    return CrystalDataset(ids, items, sources)


def files_read(inputs: Iterable[PathLike], dataset: CrystalDataset) -> list[Path]:
    """Every file a command reads for these inputs: the arguments that are files, the structure files of
    the dataset, and a dataset folder's id_prop.csv and atom_init.json."""
    files = [item for item in dataset.items if isinstance(item, Path)]
    for item in map(Path, inputs):
        files += [item / "id_prop.csv", item / "atom_init.json"] if item.is_dir() else [item]
    return files
