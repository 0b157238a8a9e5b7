"""CIF files through gemmi: how many crystals a file holds, what is missing from one the parser refused,
every crystal of a file with several data blocks (parsed by pymatgen, none lost), and the fast path to
arrays (`read_cif_arrays`, ~100× faster than pymatgen's parser: the lattice matrix is built with pymatgen's
own `Lattice.from_parameters` and the sites ordered as pymatgen orders them, so positions and neighbour
lists are bit-identical; anything gemmi cannot read exactly, such as symmetry to expand, partial occupancy
or odd species, is left to pymatgen). `benchmarks/check_readers.py` compares both paths on every crystal
of a dataset.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

CELL_TAGS = [f"_cell_length_{x}" for x in "abc"] + [f"_cell_angle_{x}" for x in ("alpha", "beta", "gamma")]


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
    if not len(block.find_values("_atom_site_label")):
        return "cannot read a crystal structure: its atom loop has no _atom_site_label column (the reader needs one)"
    return _cell_problem(block)


def _cell_problem(block) -> str | None:
    """What is wrong with a block's cell parameters (a length not positive, angles that span no volume)."""
    import gemmi

    lengths = [gemmi.cif.as_number(block.find_value(f"_cell_length_{k}") or "?") for k in "abc"]
    angles = [gemmi.cif.as_number(block.find_value(f"_cell_angle_{k}") or "90") for k in ("alpha", "beta", "gamma")]
    if not all(length > 0 for length in lengths):  # NaN (unreadable) fails this too
        shown = ", ".join(f"{length:g}" for length in lengths)
        return f"cannot read a crystal structure: its cell lengths a, b, c ({shown} Å) are not all positive numbers"
    cosines = np.cos(np.radians(angles))
    # the cell's volume is a·b·c·√(this): zero or negative when the angles cannot meet (e.g. γ = 180°)
    volume_factor = 1 - (cosines**2).sum() + 2 * cosines.prod()
    if not volume_factor > 1e-8:
        shown = ", ".join(f"{angle:g}" for angle in angles)
        return f"cannot read a crystal structure: its cell angles α, β, γ ({shown}°) span no volume"
    return None


def read_cif_blocks(path: Path) -> list:
    """Every crystal of a CIF with several data blocks, as (stem:k, Structure); none may be lost."""
    from pymatgen.io.cif import CifParser

    structures = CifParser(str(path)).parse_structures(primitive=False)
    expected = count_blocks(path)
    if len(structures) != expected:
        raise InputError(path, f"could read {len(structures)} of its {expected} crystal structures (data_ blocks)")
    return [(f"{path.stem}:{k}", structure) for k, structure in enumerate(structures)]


def read_cif_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(lattice rows, Cartesian positions, atomic numbers) of a P1 CIF with full occupancies, read by gemmi
    exactly as pymatgen would place them; None where pymatgen must decide."""
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
    return lattice.matrix, cart, numbers


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
