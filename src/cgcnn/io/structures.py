"""Read crystal structures and datasets.

Parsing is left to pymatgen (CIF, POSCAR/CONTCAR, pymatgen JSON) and ASE (extxyz, ASE db, trajectories);
this module only routes files to them, validates what comes back and turns failures into `InputError`s.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import PathLike
from ..errors import InputError, NothingUsable

if TYPE_CHECKING:
    from pymatgen.core import Structure

from .streams import Frame, csv_records, is_streamed, list_frames, parquet_rows

log = logging.getLogger(__name__)
PYMATGEN_SUFFIXES = {".cif", ".vasp", ".poscar", ".json", ".cssr", ".xsf", ".mcif"}
ASE_SUFFIXES = {".xyz", ".extxyz", ".db", ".traj", ".in", ".pwi", ".res"}
VASP_NAMES = ("POSCAR", "CONTCAR")


def is_structure_file(path: Path) -> bool:
    path = Path(path)
    if path.name.startswith("."):
        return False
    suffix = path.suffix.lower()
    return suffix in PYMATGEN_SUFFIXES | ASE_SUFFIXES or path.name.upper().startswith(VASP_NAMES)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def validate_structure(structure: Structure, source: PathLike) -> Structure:
    """Reject what only a Structure can tell (disorder, unknown species), with a message naming `source`;
    the geometry (atoms, finite numbers, volume, overlaps) is checked by graph.check_cell for every path."""
    if not structure.is_ordered:
        site = next(s for s in structure if not s.is_ordered)
        raise InputError(
            source,
            f"partially occupied site {site.species.formula!r}: CGCNN needs an ordered structure "
            "(order it first, e.g. with pymatgen's OrderDisorderedStructureTransformation)",
        )
    from pymatgen.core.periodic_table import DummySpecies

    for site in structure:
        if isinstance(site.specie, DummySpecies) or not 1 <= getattr(site.specie, "Z", 0) <= 118:
            raise InputError(source, f"unknown element {site.species_string!r}")
    return structure


def _from_ase(atoms, source):
    from pymatgen.io.ase import AseAtomsAdaptor

    if not all(atoms.pbc) or atoms.cell.volume < 1e-3:
        raise InputError(source, "the structure has no 3-D periodic cell (a molecule?); CGCNN needs a crystal")
    return AseAtomsAdaptor.get_structure(atoms)


def to_structure(obj: Any, source: PathLike = "<structure>") -> Structure:
    """A pymatgen Structure from a pymatgen Structure or an ASE Atoms object, validated."""
    from pymatgen.core import Structure

    if isinstance(obj, Structure):
        return validate_structure(obj, source)
    if hasattr(obj, "get_positions") and hasattr(obj, "cell"):
        return validate_structure(_from_ase(obj, source), source)
    raise InputError(source, f"expected a pymatgen Structure or an ASE Atoms, got {type(obj).__name__}")


def _read_with_ase(path: Path):
    import ase.io

    if path.suffix.lower() == ".db":
        import ase.db

        with ase.db.connect(str(path)) as db:
            return [(f"{path.stem}:{row.id}", row.toatoms()) for row in db.select()]
    frames = ase.io.read(str(path), index=":")
    if len(frames) == 1:
        return [(path.stem, frames[0])]
    return [(f"{path.stem}:{k}", atoms) for k, atoms in enumerate(frames)]


def read_structures(path: PathLike) -> list[tuple[str, Structure]]:
    """All structures in one file as (id, Structure) pairs; the id is the file stem (plus ':k' for many)."""
    from pymatgen.core import Structure

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if path.suffix.lower() in ASE_SUFFIXES:
                pairs = [(name, _from_ase(atoms, path)) for name, atoms in _read_with_ase(path)]
            elif path.suffix.lower() == ".cif" and _cif_blocks(path) > 1:
                pairs = _read_cif_blocks(path)
            else:
                pairs = [(path.stem, Structure.from_file(str(path)))]
    except InputError:
        raise
    except Exception as exc:  # the parsers raise many types; all mean "cannot read this file"
        raise InputError(path, _cif_problem(path) or f"cannot read a crystal structure ({_short(exc)})") from None
    if not pairs:
        raise InputError(path, "the file holds no structure")
    return [(name, validate_structure(s, path)) for name, s in pairs]


def _cif_problem(path: Path) -> str | None:
    """What is missing from a CIF the parser refused, in words, where gemmi can tell (else None)."""
    if path.suffix.lower() != ".cif":
        return None
    import gemmi

    try:
        document = gemmi.cif.read(str(path))
    except Exception:
        return None
    if len(document) == 0:
        return "cannot read a crystal structure (no data_ block)"
    block = document[0]
    if block.find_value("_cell_length_a") is None:
        return "cannot read a crystal structure (no _cell_length_a: the cell is missing)"
    if not (len(block.find_values("_atom_site_fract_x")) or len(block.find_values("_atom_site_Cartn_x"))):
        return "cannot read a crystal structure: it lists no atoms (no rows of _atom_site_fract_x)"
    return None


def structure_blocks(document: Any) -> list:
    """The data blocks of a gemmi CIF document that describe a crystal (a cell and atom sites)."""
    return [block for block in document if block.find_value("_cell_length_a") is not None
            and (block.find_values("_atom_site_fract_x") or block.find_values("_atom_site_Cartn_x"))]


def _cif_blocks(path: Path) -> int:
    """How many crystals a CIF file holds (0 if gemmi cannot read it: the reader will say why)."""
    import gemmi

    try:
        return len(structure_blocks(gemmi.cif.read(str(path))))
    except Exception:
        return 0




def _read_cif_blocks(path: Path) -> list:
    """Every crystal of a CIF with several data blocks, as (stem:k, Structure); none may be lost."""
    from pymatgen.io.cif import CifParser

    structures = CifParser(str(path)).parse_structures(primitive=False)
    expected = _cif_blocks(path)
    if len(structures) != expected:
        raise InputError(path, f"could read {len(structures)} of its {expected} crystal structures (data_ blocks)")
    return [(f"{path.stem}:{k}", structure) for k, structure in enumerate(structures)]


def _dict_text(text: str) -> dict:
    """A structure dict written as JSON, or as a Python literal (single quotes, as matminer tables hold
    them), read without evaluating code."""
    import ast

    try:
        return json.loads(text)
    except ValueError:
        value = ast.literal_eval(text)
    if not isinstance(value, dict):
        raise ValueError("not a dictionary")
    return value


def read_table_text(path: Path) -> str:
    """A text table's contents: UTF-8 with or without a byte-order mark (gzip-compressed if named .gz);
    anything else is one clear error naming the file."""
    import gzip

    try:
        data = path.read_bytes()
        data = gzip.decompress(data) if path.name.endswith(".gz") else data
    except (OSError, EOFError) as exc:
        raise InputError(path, f"cannot read the file ({_short(exc)})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, "is UTF-16 text; save it as UTF-8 (e.g. \"CSV UTF-8\" in a spreadsheet)")
    if b"\x00" in data[:4096]:
        raise InputError(path, "is a binary file, not a text table")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}; "
                         "Latin-1 or Windows-1252?): save it as UTF-8") from None


def structure_from_text(text: str | dict, source: PathLike) -> Structure:
    """Parse an embedded structure: a CIF, a POSCAR or a pymatgen JSON dict (as text or dict)."""
    from pymatgen.core import Structure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(text, dict):
                structure = Structure.from_dict(text)
            elif text.lstrip().startswith("{"):
                structure = Structure.from_dict(_dict_text(text))
            elif "_cell_length_a" in text:
                structure = Structure.from_str(text, fmt="cif")
            else:
                structure = Structure.from_str(text, fmt="poscar")
    except Exception as exc:
        raise InputError(source, f"cannot parse the embedded structure ({_short(exc)})") from None
    return validate_structure(structure, source)


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


STRUCTURE_COLUMNS = ("structure", "cif", "poscar", "structure_file", "file", "path")


def _read_table(path: Path):
    import pandas as pd

    try:
        if path.suffix.lower() in (".json", ".jsonl") or path.name.endswith((".json.gz", ".jsonl.gz")):
            lines = ".jsonl" in path.name
            return pd.read_json(path, lines=lines, dtype=False)
        return pd.read_csv(io.StringIO(read_table_text(path)), dtype=str, keep_default_na=False)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(path, f"cannot read the table ({_short(exc)})") from None


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
        structure_files = not (item.is_dir() and (item / "id_prop.csv").is_file()) and not _is_table(item)
        if item.is_dir() and (item / "id_prop.csv").is_file():
            part = read_original_layout(item, with_targets=False, skip_bad=skip_bad)
        elif item.is_dir():
            files = _folder_files(item, recursive)
            if not files:
                raise InputError(item, "the folder contains no structure files" + ("" if recursive else
                                 " (--recursive searches its subfolders)"))
            part = _files_dataset(files)
            part.atom_init = item / "atom_init.json" if (item / "atom_init.json").is_file() else None
        elif item.suffix.lower() == ".csv" and item.is_file():  # read record by record, structures later
            part = read_table_lazily(item, skip_bad)
        elif item.suffix.lower() == ".parquet" and item.is_file():
            part = read_parquet_lazily(item, skip_bad)
        elif _is_table(item):
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


def _is_table(path: Path) -> bool:
    suffix = path.suffix.lower()
    return path.is_file() and (suffix in (".csv", ".jsonl", ".parquet") or path.name.endswith(".csv.gz"))


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
        single_cif = path.suffix.lower() == ".cif" and _cif_blocks(path) <= 1
        if single_cif:
            pairs: list = [(path.stem, path)]
        elif is_streamed(path):  # many frames: listed now, each read when its graph is built
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
