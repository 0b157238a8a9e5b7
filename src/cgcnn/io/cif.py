"""CIF files through gemmi: how many crystals a file holds, what is missing from one the parser refused,
and every crystal of a file with several data blocks (parsed by pymatgen, none lost)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError


def structure_blocks(document: Any) -> list:
    """The data blocks of a gemmi CIF document that describe a crystal (a cell and atom sites)."""
    return [block for block in document if block.find_value("_cell_length_a") is not None
            and (block.find_values("_atom_site_fract_x") or block.find_values("_atom_site_Cartn_x"))]


def count_blocks(path: Path) -> int:
    """How many crystals a CIF file holds (0 if gemmi cannot read it: the reader will say why)."""
    import gemmi

    try:
        return len(structure_blocks(gemmi.cif.read(str(path))))
    except Exception:
        return 0


def cif_problem(path: Path) -> str | None:
    """What is missing from a CIF the parser refused, in words, where gemmi can tell (else None)."""
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


def read_cif_blocks(path: Path) -> list:
    """Every crystal of a CIF with several data blocks, as (stem:k, Structure); none may be lost."""
    from pymatgen.io.cif import CifParser

    structures = CifParser(str(path)).parse_structures(primitive=False)
    expected = count_blocks(path)
    if len(structures) != expected:
        raise InputError(path, f"could read {len(structures)} of its {expected} crystal structures (data_ blocks)")
    return [(f"{path.stem}:{k}", structure) for k, structure in enumerate(structures)]
