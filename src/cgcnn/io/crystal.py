"""A crystal as plain arrays (cell, Cartesian positions, atomic numbers), read as fast as is correct.

CIF files go through gemmi (~100× faster than pymatgen's parser); the lattice matrix is then built with
pymatgen's own `Lattice.from_parameters`, so positions are bit-identical to pymatgen's and the neighbour
list is too. Anything gemmi cannot read exactly (symmetry to expand, partial occupancy, odd species) falls
back to pymatgen/ASE through `structures.read_structures`. `benchmarks/check_readers.py` compares both
paths on every crystal of a dataset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PathLike
from ..errors import InputError
from .cif import structure_blocks
from .formats import format_of

CELL_TAGS = [f"_cell_length_{x}" for x in "abc"] + [f"_cell_angle_{x}" for x in ("alpha", "beta", "gamma")]


@dataclass
class Crystal:
    lattice: np.ndarray  # (3, 3) rows are the cell vectors, Å
    cart_coords: np.ndarray  # (N, 3) Å
    atomic_numbers: np.ndarray  # (N,)

    @classmethod
    def from_structure(cls, structure: Any) -> "Crystal":
        return cls(structure.lattice.matrix, structure.cart_coords, np.asarray(structure.atomic_numbers))


def read_cif_fast(path: Path) -> Crystal | None:
    """gemmi's reading of a P1 CIF with full occupancies, or None where pymatgen must decide."""
    import gemmi
    from pymatgen.core import Lattice

    try:
        document = gemmi.cif.read(str(path))
    except Exception:  # let pymatgen produce the user-facing error
        return None
    blocks = structure_blocks(document)
    if len(blocks) > 1:
        raise InputError(path, f"holds {len(blocks)} crystal structures (data_ blocks) where one is expected: "
                         "split the file (`cgcnn predict` reads every block of a file it is given)")
    try:
        if len(document) != 1 or any(document[0].find_value(tag) is None for tag in CELL_TAGS):
            return None
        small = gemmi.make_small_structure_from_block(document[0])
    except Exception:  # let pymatgen produce the user-facing error
        return None
    empty = [s.label for s in small.sites if s.occ <= 0]
    if empty:  # pymatgen would drop the site silently: a different crystal than the file describes
        raise InputError(path, f"site {empty[0]!r} has occupancy 0: CGCNN needs every "
                         "listed site occupied (remove the site, or order the structure)")
    if len(small.sites) == 0 or list(small.symops) not in ([], ["x, y, z"]):  # symmetry: pymatgen expands it
        return None
    sites = small.sites
    if any(s.occ != 1.0 or s.element.atomic_number < 1 for s in sites):
        return None
    cell = small.cell
    lattice = Lattice.from_parameters(cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma)
    frac = np.array([[s.fract.x, s.fract.y, s.fract.z] for s in sites], dtype=float)
    if not np.isfinite(frac).all() or not np.isfinite(lattice.matrix).all() or lattice.volume < 1e-3:
        return None
    numbers = np.array([s.element.atomic_number for s in sites])
    order = _pymatgen_site_order(numbers)
    frac, numbers = _as_pymatgen_reads(frac[order]), numbers[order]
    cart = np.array([np.dot(f, lattice.matrix) for f in frac]).reshape(-1, 3)
    return Crystal(lattice.matrix, cart, numbers)


@functools.lru_cache(maxsize=None)
def _composition(z: int):
    from pymatgen.core import Composition, Element

    return Composition({Element.from_Z(z): 1})


class _SiteKey:
    """pymatgen's Site.__lt__: electronegativity first, then the species symbol."""

    def __init__(self, z):
        self.x, self.symbol = _electronegativity(int(z)), _symbol(int(z))

    def __lt__(self, other):
        if self.x < other.x:
            return True
        if self.x > other.x:
            return False
        return self.symbol < other.symbol


@functools.lru_cache(maxsize=None)
def _electronegativity(z: int) -> float:
    import warnings

    from pymatgen.core import Element

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # noble gases: NaN, as pymatgen uses it
        return Element.from_Z(z).X


def _pymatgen_site_order(numbers) -> list:
    """The order pymatgen's CIF parser gives: a stable sort by composition, then `get_sorted_structure`
    (a stable sort by Site.__lt__). Most files are already in that order."""
    keys = {int(z): (_electronegativity(int(z)), _symbol(int(z))) for z in set(numbers.tolist())}
    if all(np.isfinite(x) for x, _ in keys.values()):
        # with finite electronegativities the second sort decides all but same-element ties, which
        # both sorts leave in file order: one sort on (X, symbol) is the same
        return sorted(range(len(numbers)), key=lambda k: keys[int(numbers[k])])
    order = sorted(range(len(numbers)), key=lambda k: _composition(int(numbers[k])))
    return sorted(order, key=lambda k: _SiteKey(numbers[k]))


@functools.lru_cache(maxsize=None)
def _symbol(z: int) -> str:
    from pymatgen.core import Element

    return Element.from_Z(z).symbol


def _as_pymatgen_reads(frac: np.ndarray) -> np.ndarray:
    """Two steps of pymatgen's CIF parser: values within 1e-4 (relative) of 1/3 or 2/3 become exactly
    those, then coordinates are wrapped into [0, 1) as x - floor(x)."""
    for ideal in (1 / 3, 2 / 3):
        frac = np.where(np.abs(frac / ideal - 1) <= 1e-4, ideal, frac)
    return frac - np.floor(frac)


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
        if fmt and fmt.name == "cif" and item.is_file() and item.stat().st_size > 0:
            crystal = read_cif_fast(item)
            if crystal is not None:
                return crystal
        return Crystal.from_structure(read_structures(item)[0][1])
    if isinstance(item, (str, dict)):
        return Crystal.from_structure(structure_from_text(item, source))
    return Crystal.from_structure(to_structure(item, source))
