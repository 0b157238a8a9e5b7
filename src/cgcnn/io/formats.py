"""Every file format cgcnn reads, one row each: its name, the names its files end with, who parses it and
whether a file may hold many structures. A new format is a row here (and a reader, if neither pymatgen's
`Structure.from_file` nor `ase.io.read` reads it); nothing else routes on file names.

Files of many structures that can be listed without parsing (extxyz byte ranges, ASE database rows) are
`listed`: `streams.list_frames` finds each structure and the worker that builds its graph reads it.
Tables of many crystals (a structure column, optional labels) are `TABLES`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cif import cif_problem, count_blocks, read_cif_arrays, read_cif_blocks

Reader = Callable[[Path], list]  # a file → [(id, pymatgen Structure or ASE Atoms)]


def _pymatgen_file(path: Path) -> list:
    from pymatgen.core import Structure

    return [(path.stem, Structure.from_file(str(path)))]


def _cif_file(path: Path) -> list:
    """One crystal, or every data block of a file with several (each `stem:k`)."""
    return read_cif_blocks(path) if count_blocks(path) > 1 else _pymatgen_file(path)


def _ase_file(path: Path) -> list:
    import ase.io

    frames = ase.io.read(str(path), index=":")
    if len(frames) == 1:
        return [(path.stem, frames[0])]
    return [(f"{path.stem}:{k}", atoms) for k, atoms in enumerate(frames)]


def _ase_database(path: Path) -> list:
    import ase.db

    with ase.db.connect(str(path)) as db:
        return [(f"{path.stem}:{row.id}", row.toatoms()) for row in db.select()]


@dataclass(frozen=True)
class Format:
    """One structure file format."""

    name: str
    extensions: tuple[str, ...]  # lower-case, with the dot
    read: Reader
    many: bool = False  # a file may hold several structures
    listed: str = ""  # the `streams` kind listing its frames without parsing them ("" if none)
    file_names: tuple[str, ...] = ()  # files recognised by how their name starts (VASP's POSCAR)
    # optional fast paths and diagnostics of a format:
    count: Callable[[Path], int] | None = None  # structures in a file, without parsing them (one: read later)
    arrays: Callable[[Path], Any] | None = None  # (lattice, Cartesian positions, atomic numbers), or None
    problem: Callable[[Path], str | None] | None = None  # what a file its reader refused lacks, in words


FORMATS = (
    Format("cif", (".cif",), _cif_file, many=True, count=count_blocks, arrays=read_cif_arrays, problem=cif_problem),
    Format("mcif", (".mcif",), _pymatgen_file),
    Format("vasp", (".vasp", ".poscar"), _pymatgen_file, file_names=("POSCAR", "CONTCAR")),
    Format("pymatgen-json", (".json",), _pymatgen_file),
    Format("cssr", (".cssr",), _pymatgen_file),
    Format("xsf", (".xsf",), _pymatgen_file),
    Format("extxyz", (".xyz", ".extxyz"), _ase_file, many=True, listed="extxyz"),
    Format("ase-db", (".db",), _ase_database, many=True, listed="db"),
    Format("ase-trajectory", (".traj",), _ase_file, many=True),
    Format("espresso-in", (".in", ".pwi"), _ase_file),
    Format("res", (".res",), _ase_file),
    Format("castep-cell", (".cell",), _ase_file),
)

# Tables of crystals: a structure column (text or a file's path), an id column, labels for training.
# Prediction reads CSV and Parquet record by record; the rest are read whole.
TABLES = {".csv": "csv", ".csv.gz": "csv.gz", ".jsonl": "jsonl", ".parquet": "parquet"}
JSON_TABLES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")  # read as JSON (lines) when training


def format_of(path: Path) -> Format | None:
    """The structure format of a file, by its name (None if it is not one; hidden files never are)."""
    path = Path(path)
    if path.name.startswith("."):
        return None
    suffix = path.suffix.lower()
    by_suffix = (fmt for fmt in FORMATS if suffix in fmt.extensions)
    by_name = (fmt for fmt in FORMATS if fmt.file_names and path.name.upper().startswith(fmt.file_names))
    return next(by_suffix, None) or next(by_name, None)


def known_names() -> list[str]:
    """The file names the format table recognises, for messages: `.cif`, …, `POSCAR*`."""
    return [e for fmt in FORMATS for e in fmt.extensions] + [f"{n}*" for fmt in FORMATS for n in fmt.file_names]


def is_structure_file(path: Path) -> bool:
    return format_of(path) is not None


def table_kind(path: Path) -> str | None:
    """"csv", "csv.gz", "jsonl" or "parquet" for a table of crystals given as an input, else None."""
    name = Path(path).name.lower()
    return next((kind for end, kind in TABLES.items() if name.endswith(end)), None)


def is_json_table(path: Path) -> bool:
    return Path(path).name.lower().endswith(JSON_TABLES)


def read_file(path: Path) -> list[tuple[str, Any]]:
    """Every structure of a file as (id, pymatgen Structure or ASE Atoms), parsed by its format's reader
    (pymatgen's file-name rules for a file no row claims); the parsers' warnings are silenced."""
    fmt = format_of(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (fmt.read if fmt else _pymatgen_file)(path)
