"""A crystal as plain arrays (cell, Cartesian positions, atomic numbers), read as fast as is correct: by
its format's fast reader where the format table has one (CIFs through gemmi, `cif.read_cif_arrays`), else
through pymatgen/ASE (`structures.read_structures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PathLike
from ..errors import InputError
from .formats import format_of


@dataclass
class Crystal:
    lattice: np.ndarray  # (3, 3) rows are the cell vectors, Å
    cart_coords: np.ndarray  # (N, 3) Å
    atomic_numbers: np.ndarray  # (N,)

    @classmethod
    def from_structure(cls, structure: Any) -> "Crystal":
        return cls(structure.lattice.matrix, structure.cart_coords, np.asarray(structure.atomic_numbers))


def load_crystal(item: Any, source: PathLike) -> Crystal:
    """A Crystal from a path, embedded text (a str), a pymatgen Structure or an ASE Atoms."""
    from .streams import Frame, read_frame
    from .structures import read_structures, structure_from_text, to_structure

    if isinstance(item, Frame):  # one structure of a file of many, read only now
        try:
            frame = read_frame(item)
        except Exception as exc:  # the readers raise many types; all mean "cannot read this frame"
            raise InputError(source, f"cannot read {item.where()} ({type(exc).__name__}: {str(exc)[:200]})") from None
        if isinstance(frame, str):  # a table's cell
            return Crystal.from_structure(structure_from_text(frame, source))
        return Crystal.from_structure(to_structure(frame, source))
    if isinstance(item, Path):
        fmt = format_of(item)
        if fmt and fmt.arrays and item.is_file() and item.stat().st_size > 0:
            arrays = fmt.arrays(item)
            if arrays is not None:
                return Crystal(*arrays)
        return Crystal.from_structure(read_structures(item)[0][1])
    if isinstance(item, (str, dict)):
        return Crystal.from_structure(structure_from_text(item, source))
    return Crystal.from_structure(to_structure(item, source))
