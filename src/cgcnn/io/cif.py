"""CIF files through gemmi: how many crystals a file holds, what is missing from one the parser refused,
every crystal of a file with several data blocks (parsed by pymatgen, none lost), and the fast path to
arrays (`read_cif_arrays`, ~100× faster than pymatgen's parser: the lattice matrix is built with pymatgen's
own `Lattice.from_parameters` and the sites ordered as pymatgen orders them, so positions and neighbour
lists are bit-identical; anything gemmi cannot read exactly, such as symmetry to expand, partial occupancy
or odd species, is left to pymatgen). `benchmarks/check_readers.py` compares both paths on every crystal
of a dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

NAN = float("nan")
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
    exactly as pymatgen would place them; None where pymatgen must decide. pymatgen itself is not imported
    here (a fifth of a second per process): its cell matrix and site order are reproduced below."""
    import gemmi

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
    sites = small.sites
    empty = [s.label for s in sites if s.occ <= 0]
    if empty:  # pymatgen would drop the site silently: a different crystal than the file describes
        raise InputError(path, f"site {empty[0]!r} has occupancy 0: CGCNN needs every "
                         "listed site occupied (remove the site, or order the structure)")
    if len(sites) == 0 or list(small.symops) not in ([], ["x, y, z"]):  # symmetry: pymatgen expands it
        return None
    numbers = np.array([s.element.atomic_number for s in sites])
    if any(s.occ != 1.0 for s in sites) or (numbers < 1).any() or (numbers > len(ELECTRONEGATIVITY)).any():
        return None
    cell = small.cell
    lattice = lattice_from_parameters(cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma)
    frac = np.array([s.fract.tolist() for s in sites], dtype=float)
    if not (np.isfinite(frac).all() and np.isfinite(lattice).all()) or abs(np.linalg.det(lattice)) < 1e-3:
        return None
    order = _pymatgen_site_order(numbers)
    frac, numbers = _as_pymatgen_reads(frac[order]), numbers[order]
    cart = np.array([np.dot(f, lattice) for f in frac]).reshape(-1, 3)  # row by row, as pymatgen's sites
    return lattice, cart, numbers


def lattice_from_parameters(a: float, b: float, c: float, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """The cell matrix pymatgen's `Lattice.from_parameters` builds, by the same operations (so the same bits;
    test_structures compares them): c along z, a in the xz plane."""
    angles = np.radians([alpha, beta, gamma])
    (cos_alpha, cos_beta, cos_gamma), (sin_alpha, sin_beta, sin_gamma) = np.cos(angles), np.sin(angles)
    gamma_star = np.arccos(np.clip((cos_alpha * cos_beta - cos_gamma) / (sin_alpha * sin_beta), -1, 1))
    return np.array([[a * sin_beta, 0.0, a * cos_beta],
                     [-b * sin_alpha * np.cos(gamma_star), b * sin_alpha * np.sin(gamma_star), b * cos_alpha],
                     [0.0, 0.0, float(c)]], dtype=np.float64)


# pymatgen's Pauling electronegativities (Element.X) by atomic number from 1; NaN where it has none (the
# noble gases but Kr and Xe, and Z > 103). test_structures compares the table with pymatgen's
ELECTRONEGATIVITY = np.array([
    2.2, NAN, 0.98, 1.57, 2.04, 2.55, 3.04, 3.44, 3.98, NAN, 0.93, 1.31, 1.61, 1.9, 2.19, 2.58, 3.16, NAN, 0.82, 1,
    1.36, 1.54, 1.63, 1.66, 1.55, 1.83, 1.88, 1.91, 1.9, 1.65, 1.81, 2.01, 2.18, 2.55, 2.96, 3, 0.82, 0.95, 1.22,
    1.33, 1.6, 2.16, 1.9, 2.2, 2.28, 2.2, 1.93, 1.69, 1.78, 1.96, 2.05, 2.1, 2.66, 2.6, 0.79, 0.89, 1.1, 1.12,
    1.13, 1.14, 1.13, 1.17, 1.2, 1.2, 1.1, 1.22, 1.23, 1.24, 1.25, 1.1, 1.27, 1.3, 1.5, 2.36, 1.9, 2.2, 2.2, 2.28,
    2.54, 2, 1.62, 2.33, 2.02, 2, 2.2, 2.2, 0.7, 0.9, 1.1, 1.3, 1.5, 1.38, 1.36, 1.28, 1.3, 1.3, 1.3, 1.3, 1.3,
    1.3, 1.3, 1.3, 1.3] + [NAN] * 15)


def _pymatgen_site_order(numbers: np.ndarray) -> list:
    """The order pymatgen's CIF parser gives: a stable sort by composition, then `get_sorted_structure`
    (a stable sort by electronegativity, then symbol). With every electronegativity known, the second sort
    decides all but same-element ties, which both sorts leave in file order, so one sort on (X, symbol) is
    the same. Without (a noble gas; rare), pymatgen's own comparisons decide."""
    import gemmi

    keys = {z: (float(ELECTRONEGATIVITY[z - 1]), gemmi.Element(z).name) for z in set(numbers.tolist())}
    if all(np.isfinite(x) for x, _ in keys.values()):
        return sorted(range(len(numbers)), key=lambda k: keys[int(numbers[k])])
    import warnings

    from pymatgen.core import Composition, Element

    compositions = {z: Composition({Element.from_Z(z): 1}) for z in keys}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no Pauling electronegativity": NaN, as pymatgen compares it
        order = sorted(range(len(numbers)), key=lambda k: compositions[int(numbers[k])])
    return sorted(order, key=lambda k: _SiteKey(*keys[int(numbers[k])]))


class _SiteKey:
    """pymatgen's Site.__lt__ (NaN electronegativities compare as it compares them)."""

    def __init__(self, x: float, symbol: str):
        self.x, self.symbol = x, symbol

    def __lt__(self, other: "_SiteKey") -> bool:
        if self.x < other.x:
            return True
        if self.x > other.x:
            return False
        return self.symbol < other.symbol


def _as_pymatgen_reads(frac: np.ndarray) -> np.ndarray:
    """Two steps of pymatgen's CIF parser: values within 1e-4 (relative) of 1/3 or 2/3 become exactly
    those, then coordinates are wrapped into [0, 1) as x - floor(x)."""
    for ideal in (1 / 3, 2 / 3):
        frac = np.where(np.abs(frac / ideal - 1) <= 1e-4, ideal, frac)
    return frac - np.floor(frac)
