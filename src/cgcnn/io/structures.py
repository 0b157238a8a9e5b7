"""One crystal structure: read from a file (by the reader its format names in `formats`), from embedded
text (CIF, POSCAR, pymatgen JSON), or taken from a pymatgen Structure or ASE Atoms; validated, with every
failure an `InputError` naming the file.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import PathLike
from ..errors import InputError, exception_summary
from .formats import format_of, known_names, read_file

if TYPE_CHECKING:
    from pymatgen.core import Structure


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


def read_structures(path: PathLike) -> list[tuple[str, Structure]]:
    """All structures in one file as (id, Structure) pairs; the id is the file stem (plus ':k' for many)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty")
    try:
        pairs = [(name, _as_structure(obj, path)) for name, obj in read_file(path)]
    except InputError:
        raise
    except Exception as exc:  # the parsers raise many types; all mean "cannot read this file"
        raise InputError(path, _why_unreadable(path, exc)) from None
    if not pairs:
        raise InputError(path, "the file holds no structure")
    return [(name, validate_structure(s, path)) for name, s in pairs]


def _why_unreadable(path: Path, exc: Exception) -> str:
    fmt = format_of(path)
    if fmt is None:
        return f"not a structure file cgcnn knows by its name (it reads {', '.join(known_names())})"
    hint = fmt.problem(path) if fmt.problem else None
    return hint or f"cannot read a crystal structure ({exception_summary(exc)})"


def _as_structure(obj: Any, source: Path) -> Structure:
    from pymatgen.core import Structure

    return obj if isinstance(obj, Structure) else _from_ase(obj, source)


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
        raise InputError(source, f"cannot parse the embedded structure ({exception_summary(exc)})") from None
    return validate_structure(structure, source)
