"""Crystal graphs: a periodic neighbour list turned into a small multigraph of tensors.

Every periodic image within the radius is its own edge, so one pair of atoms may be joined several times.
Neighbour lists come from compiled code: pymatgen's `get_neighbor_list` (the routine under the original's
`get_all_neighbors`, so equidistant neighbours at the 12th place are chosen exactly as the original chose
them, which the published models need; a faster search such as vesin breaks those ties otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from numpy.typing import ArrayLike

from ..config import GraphConfig, PathLike
from ..errors import InputError

if TYPE_CHECKING:
    import torch

    from ..io.crystal import Crystal


class GraphArrays(NamedTuple):
    """A crystal graph as numpy arrays, as workers build it and the store keeps it (no torch needed)."""

    atomic_numbers: np.ndarray  # (N,) int64
    edge_index: np.ndarray  # (2, E) int64
    distances: np.ndarray  # (E,) float32


@dataclass
class CrystalGraph:
    """atomic_numbers (N,); edge_index (2, E): row 0 the centre atom i, row 1 its neighbour j; distances (E,)."""

    atomic_numbers: torch.Tensor
    edge_index: torch.Tensor
    distances: torch.Tensor

    @property
    def n_atoms(self) -> int:
        return int(self.atomic_numbers.numel())

    @classmethod
    def from_arrays(cls, arrays: GraphArrays) -> CrystalGraph:
        """Tensors sharing the arrays' memory (torch is imported only where tensors are needed)."""
        import torch

        numbers, edges, distances = arrays
        return cls(torch.from_numpy(np.asarray(numbers, dtype=np.int64)), torch.from_numpy(np.asarray(edges)),
                   torch.from_numpy(np.asarray(distances)))


def neighbor_list(lattice: ArrayLike, cart_coords: ArrayLike,
                  radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (i, j, d) pairs with 0 < d <= radius over periodic images (an atom's own images included)."""
    from pymatgen.optimization.neighbors import find_points_in_spheres

    lattice = np.ascontiguousarray(lattice, dtype=np.float64)
    cart = np.ascontiguousarray(cart_coords, dtype=np.float64)
    # exactly what Structure.get_neighbor_list does, without building a Structure
    i, j, _, d = find_points_in_spheres(cart, cart, r=float(radius), pbc=np.ones(3, dtype=np.int64),
                                        lattice=lattice, tol=1e-8)
    keep = ~((i == j) & (d <= 1e-8))
    return (np.asarray(i[keep], dtype=np.int64), np.asarray(j[keep], dtype=np.int64),
            np.asarray(d[keep], dtype=np.float64))


def nearest_per_center(i: np.ndarray, j: np.ndarray, d: np.ndarray, max_neighbors: int,
                       shortlist: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep, for every centre i, its `max_neighbors` nearest edges (stable order by distance).

    Sorting only the pairs within `shortlist` Å, when every centre has enough of them there, gives the
    same edges in the same order (a mask keeps the relative order) at a third of the cost."""
    near = d <= shortlist
    if len(i) and np.bincount(i[near], minlength=i.max() + 1).min() >= max_neighbors:
        i, j, d = i[near], j[near], d[near]
    if len(i) > 1 and (i[1:] < i[:-1]).any():  # grouped by centre, whatever order the search returns
        grouped = np.argsort(i, kind="stable")
        i, j, d = i[grouped], j[grouped], d[grouped]
    order = np.lexsort((d, i))  # i is sorted, so i[order] == i
    counts = np.bincount(i)
    rank = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
    kept = order[rank < max_neighbors]
    return i[kept], j[kept], d[kept]


MIN_DISTANCE = 0.1  # Å; closer atoms are a broken structure, not chemistry
MAX_PAIRS = 5e7  # neighbour pairs one crystal may produce before the list would exhaust memory
MAX_EXTENT = 1e4  # Å; the neighbour search grids the space the atoms span
# pymatgen's neighbour search grids the box around the cell and its atoms in cubes of side `radius`, at about
# 250 bytes per cube (measured: 2.4 GB for a 1,600 Å box at 8 Å); refused beyond 2 GB, a box of ~1,600 Å
SEARCH_BYTES_PER_CUBE, MAX_SEARCH_BYTES = 250, 2e9


def check_cell(crystal: Crystal, radius: float, source: PathLike) -> None:
    """Refuse cells a neighbour search cannot handle: no atoms, non-finite numbers, no volume, or so small
    or dense that the search within `radius` would produce more than MAX_PAIRS pairs."""
    lattice, cart = np.asarray(crystal.lattice, float), np.asarray(crystal.cart_coords, float)
    numbers = np.asarray(crystal.atomic_numbers)
    if len(numbers) == 0:
        raise InputError(source, "the structure contains no atoms")
    if len(numbers) != len(cart) or ((numbers < 1) | (numbers > 118)).any():
        raise InputError(source, "atomic numbers must be 1–118, one per atom")
    if not (np.isfinite(lattice).all() and np.isfinite(cart).all()):
        raise InputError(source, "the cell or the atomic coordinates contain NaN or infinity")
    extent = max(np.linalg.norm(lattice, axis=1).max(), np.ptp(cart, axis=0).max() if len(cart) else 0.0)
    if extent > MAX_EXTENT:
        raise InputError(source, f"the cell or the atoms span {extent:.3g} Å (more than {MAX_EXTENT:g} Å: wrong units?)")
    search = neighbor_search_bytes(lattice, cart, radius)
    if search > MAX_SEARCH_BYTES:
        raise InputError(source, f"the neighbour search over this cell would need about {search / 1e9:.3g} GB, "
                         f"more than the {MAX_SEARCH_BYTES / 1e9:g} GB allowed (a box of ~1,600 Å at 8 Å): "
                         "wrong units, or atoms far outside the cell?")
    volume = np.linalg.det(lattice)
    if volume < -1e-3:
        raise InputError(source, f"the cell volume is negative ({volume:.3g} Å³): a negative cell length, or "
                         "cell vectors in left-handed order")
    if not volume > 1e-3:
        raise InputError(source, f"the cell volume is {volume:.3g} Å³; a periodic cell is needed")
    pairs = len(cart) ** 2 * (4 / 3 * np.pi * radius**3) / volume
    if pairs > MAX_PAIRS:
        raise InputError(source, f"about {pairs:.2g} neighbour pairs within {radius} Å: the cell is too small "
                         "or too dense (wrong units or cell?)")


def neighbor_search_bytes(lattice: np.ndarray, cart: np.ndarray, radius: float) -> float:
    """The memory pymatgen's neighbour search would take: cubes of side `radius` over the box holding the
    cell's corners and the atoms, with a margin of `radius` (estimated before anything is allocated)."""
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float) @ lattice
    span = np.ptp(np.vstack([cart, corners]), axis=0) + 2 * radius
    return float(np.prod(np.ceil(span / radius))) * SEARCH_BYTES_PER_CUBE


def build_graph(crystal: Any, params: GraphConfig = GraphConfig(), source: PathLike = "<structure>") -> CrystalGraph:
    """The crystal graph of a `Crystal` (or of a pymatgen Structure)."""
    return CrystalGraph.from_arrays(graph_arrays(crystal, params, source))


def graph_arrays(crystal: Any, params: GraphConfig = GraphConfig(), source: PathLike = "<structure>") -> GraphArrays:
    """The crystal graph of a `Crystal` (or of a pymatgen Structure) as numpy arrays; every check of the cell."""
    from ..io.crystal import Crystal

    if not isinstance(crystal, Crystal):
        crystal = Crystal.from_structure(crystal)
    check_cell(crystal, params.radius, source)
    n_atoms = len(crystal.atomic_numbers)
    i, j, d = neighbor_list(crystal.lattice, crystal.cart_coords, params.radius)
    i, j, d = nearest_per_center(i, j, d, params.max_neighbors)
    if len(d) and d.min() < MIN_DISTANCE:
        k = int(np.argmin(d))
        raise InputError(source, f"atoms {i[k]} and {j[k]} are {d[k]:.3f} Å apart: overlapping sites")
    counts = np.bincount(i, minlength=n_atoms)
    if (counts == 0).any():
        from pymatgen.core import Element

        k = int(np.argmin(counts))
        raise InputError(
            source,
            f"atom {k} ({Element.from_Z(int(crystal.atomic_numbers[k])).symbol}) has no neighbour within "
            f"{params.radius} Å, the graph radius (a model's is set by --radius when it is trained)",
        )
    return GraphArrays(np.asarray(crystal.atomic_numbers, dtype=np.int64), np.stack([i, j]).astype(np.int64),
                       np.asarray(d, dtype=np.float32))


def fingerprint(graph: CrystalGraph, nearest: int = 4) -> str:
    """An identity of the crystal that survives another id, file format or cell (a supercell gives the same):
    its sites' elements, each with its `nearest` neighbour distances (rounded to 0.01 Å), as a multiset reduced
    by the greatest common count. Used to tell whether a crystal was among a model's training crystals."""
    import hashlib
    from collections import Counter
    from functools import reduce
    from math import gcd

    z, centre, d = graph.atomic_numbers.numpy(), graph.edge_index[0].numpy(), graph.distances.numpy()
    order = np.lexsort((d, centre))
    centre, d = centre[order], d[order]
    near = np.arange(len(centre)) - np.searchsorted(centre, np.arange(len(z)))[centre] < nearest
    # rounded and listed once for all sites (per-site numpy calls cost more than the sums)
    rounded, bounds = np.round(d[near], 2).tolist(), np.searchsorted(centre[near], np.arange(len(z) + 1)).tolist()
    sites = Counter((element, tuple(rounded[bounds[k] : bounds[k + 1]])) for k, element in enumerate(z.tolist()))
    common = reduce(gcd, sites.values())
    text = repr(sorted((site, n // common) for site, n in sites.items()))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
