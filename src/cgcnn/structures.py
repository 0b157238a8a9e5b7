"""Read crystal structures and datasets.

Parsing is left to pymatgen (CIF, POSCAR/CONTCAR, pymatgen JSON) and ASE (extxyz, ASE db, trajectories);
this module only routes files to them, validates what comes back and turns failures into `InputError`s.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

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


def validate_structure(structure, source):
    """Reject what a crystal graph cannot represent, with a message naming `source`."""
    if len(structure) == 0:
        raise InputError(source, "the structure contains no atoms")
    if not structure.is_ordered:
        site = next(s for s in structure if not s.is_ordered)
        raise InputError(
            source,
            f"partially occupied site {site.species.formula!r}: CGCNN needs an ordered structure "
            "(order it first, e.g. with pymatgen's OrderDisorderedStructureTransformation)",
        )
    lattice = structure.lattice.matrix
    if not (np.isfinite(lattice).all() and np.isfinite(structure.cart_coords).all()):
        raise InputError(source, "the cell or the atomic coordinates contain NaN or infinity")
    if not abs(structure.volume) > 1e-3:
        raise InputError(source, f"the cell volume is {structure.volume:.3g} Å³; a periodic cell is needed")
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


def to_structure(obj, source="<structure>"):
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


def read_structures(path) -> list:
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
            else:
                pairs = [(path.stem, Structure.from_file(str(path)))]
    except InputError:
        raise
    except Exception as exc:  # the parsers raise many types; all mean "cannot read this file"
        raise InputError(path, f"cannot read a crystal structure ({_short(exc)})") from None
    if not pairs:
        raise InputError(path, "the file holds no structure")
    return [(name, validate_structure(s, path)) for name, s in pairs]


def structure_from_text(text: str, source):
    """Parse an embedded structure: a CIF, a POSCAR or a pymatgen JSON dict (as text or dict)."""
    from pymatgen.core import Structure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(text, dict):
                structure = Structure.from_dict(text)
            elif text.lstrip().startswith("{"):
                structure = Structure.from_dict(json.loads(text))
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

    def __len__(self):
        return len(self.ids)


def _parse_target(value: str, source, row_id):
    try:
        number = float(value)
    except ValueError:
        raise InputError(source, f"id {row_id!r}: target {value!r} is not a number") from None
    if not math.isfinite(number):
        raise InputError(source, f"id {row_id!r}: target is {value}; remove the row or give a value")
    return number


def _check_unique(ids, source):
    seen = set()
    for i in ids:
        if i in seen:
            raise InputError(source, f"id {i!r} appears more than once")
        seen.add(i)


def read_original_layout(folder: Path, with_targets=True) -> CrystalDataset:
    """The original CGCNN layout: ID.cif files plus a header-less id_prop.csv (id, target, ...)."""
    table = folder / "id_prop.csv"
    with open(table, newline="") as handle:
        rows = [r for r in csv.reader(handle) if r and any(c.strip() for c in r)]
    if not rows:
        raise InputError(table, "the file has no rows")
    widths = {len(r) for r in rows}
    if len(widths) != 1 or (with_targets and widths == {1}):
        raise InputError(table, "every row needs an id and the same number of target columns")
    ids = [r[0].strip() for r in rows]
    _check_unique(ids, table)
    targets = None
    if with_targets:
        targets = np.array([[_parse_target(c, table, r[0]) for c in r[1:]] for r in rows], dtype=np.float64)
    items = [folder / f"{crystal_id}.cif" for crystal_id in ids]
    for crystal_id, path in zip(ids, items):
        if not path.is_file():
            raise InputError(path, f"id {crystal_id!r} is listed in {table.name} but its CIF file is missing")
    n_targets = 0 if targets is None else targets.shape[1]
    names = ["target"] if n_targets == 1 else [str(k + 1) for k in range(n_targets)]  # id_prop.csv columns
    atom_init = folder / "atom_init.json"
    return CrystalDataset(ids, items, [str(p) for p in items], targets, names,
                          atom_init if atom_init.is_file() else None)


STRUCTURE_COLUMNS = ("structure", "cif", "poscar", "structure_file", "file", "path")


def _read_table(path: Path):
    import pandas as pd

    try:
        if path.suffix.lower() in (".json", ".jsonl") or path.name.endswith((".json.gz", ".jsonl.gz")):
            lines = ".jsonl" in path.name
            return pd.read_json(path, lines=lines, dtype=False)
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise InputError(path, f"cannot read the table ({_short(exc)})") from None


def read_table_layout(path: Path, targets=None, id_column="id", structure_column=None, with_targets=True):
    """A CSV/JSON table: one row per crystal, a structure column (file path or embedded text), targets."""
    frame = _read_table(path)
    if frame.empty:
        raise InputError(path, "the table has no rows")
    columns = list(frame.columns)
    structure_column = structure_column or next((c for c in STRUCTURE_COLUMNS if c in columns), None)
    if structure_column not in columns:
        raise InputError(path, f"no structure column; name one of {list(STRUCTURE_COLUMNS)} or pass --structure-column")
    ids = [str(v) for v in frame[id_column]] if id_column in columns else [str(k) for k in range(len(frame))]
    _check_unique(ids, path)
    if targets is None:
        skip = {structure_column, id_column}
        targets = [c for c in columns if c not in skip and _numeric_column(frame[c])] if with_targets else []
    missing = [t for t in targets if t not in columns]
    if missing:
        raise InputError(path, f"target column(s) {missing} not found; columns are {columns}")
    if with_targets and not targets:
        raise InputError(path, "no numeric target column; pass --targets")
    values = None
    if targets:
        values = np.array(
            [[_parse_target(frame[t].iloc[k], path, ids[k]) for t in targets] for k in range(len(frame))],
            dtype=np.float64,
        )
    items, sources = [], []
    for k, entry in enumerate(frame[structure_column]):
        item, source = _table_item(entry, path, ids[k])
        items.append(item)
        sources.append(source)
    return CrystalDataset(ids, items, sources, values, list(targets), None)


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


def load_dataset(path, targets=None, id_column="id", structure_column=None) -> CrystalDataset:
    """A labelled dataset in either layout: a folder with id_prop.csv, or a CSV/JSON table."""
    path = Path(path)
    if path.is_dir():
        if not (path / "id_prop.csv").is_file():
            raise InputError(path, "no id_prop.csv in this folder (expected the original CGCNN layout)")
        return read_original_layout(path)
    if path.is_file():
        return read_table_layout(path, targets, id_column, structure_column)
    raise InputError(path, "no such file or folder")


def _folder_files(folder: Path):
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_structure_file(p))
    return [p for p in files if p.name != "atom_init.json"]


def collect_structures(inputs) -> CrystalDataset:
    """Unlabelled structures from files, folders of structure files, dataset folders or tables."""
    ids, items, sources, atom_init = [], [], [], None
    for item in map(Path, inputs):
        if item.is_dir() and (item / "id_prop.csv").is_file():
            part = read_original_layout(item, with_targets=False)
        elif item.is_dir():
            files = _folder_files(item)
            if not files:
                raise InputError(item, "the folder contains no structure files")
            part = _files_dataset(files)
            part.atom_init = item / "atom_init.json" if (item / "atom_init.json").is_file() else None
        elif item.is_file() and item.suffix.lower() in (".csv", ".jsonl") or item.name.endswith(".csv.gz"):
            part = read_table_layout(item, with_targets=False)
        else:
            part = _files_dataset([item])
        ids += part.ids
        items += part.items
        sources += part.sources
        atom_init = atom_init or part.atom_init
    _check_unique(ids, "inputs")
    return CrystalDataset(ids, items, sources, atom_init=atom_init)


def _files_dataset(files) -> CrystalDataset:
    """CIFs stay paths (one crystal each, read later); other formats may hold several frames: read now."""
    ids, items, sources = [], [], []
    for path in files:
        if not path.is_file():
            raise InputError(path, "no such file")
        pairs = [(path.stem, path)] if path.suffix.lower() == ".cif" else read_structures(path)
        for name, item in pairs:
            ids.append(name)
            items.append(item)
            sources.append(str(path))
    return CrystalDataset(ids, items, sources)
