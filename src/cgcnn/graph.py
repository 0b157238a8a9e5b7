"""Crystal graphs: a periodic neighbour list turned into a small multigraph of tensors.

Every periodic image within the radius is its own edge, so one pair of atoms may be joined several times.
Neighbour lists come from compiled code: pymatgen's `get_neighbor_list` by default (the routine under the
original's `get_all_neighbors`, so equidistant neighbours at the 12th place are chosen exactly as the
original chose them, which the published models need), or `vesin` (faster; ties may be broken otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError


@dataclass(frozen=True)
class GraphParams:
    radius: float = 8.0
    max_neighbors: int = 12
    backend: str = "pymatgen"  # or "vesin"


@dataclass
class CrystalGraph:
    """atomic_numbers (N,); edge_index (2, E): row 0 the centre atom i, row 1 its neighbour j; distances (E,)."""

    atomic_numbers: torch.Tensor
    edge_index: torch.Tensor
    distances: torch.Tensor

    @property
    def n_atoms(self) -> int:
        return int(self.atomic_numbers.numel())


def neighbor_list(structure, radius, backend="pymatgen"):
    """All (i, j, d) pairs with 0 < d <= radius over periodic images (an atom's own images included)."""
    if backend == "pymatgen":
        i, j, _, d = structure.get_neighbor_list(float(radius), numerical_tol=1e-8)
    elif backend == "vesin":
        from vesin import NeighborList

        i, j, d = NeighborList(cutoff=float(radius), full_list=True).compute(
            points=np.ascontiguousarray(structure.cart_coords, dtype=np.float64),
            box=np.ascontiguousarray(structure.lattice.matrix, dtype=np.float64),
            periodic=True,
            quantities="ijd",
        )
    else:
        raise ValueError(f"unknown neighbour-list backend {backend!r}; use 'pymatgen' or 'vesin'")
    return np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64), np.asarray(d, dtype=np.float64)


def nearest_per_center(i, j, d, max_neighbors):
    """Keep, for every centre i, its `max_neighbors` nearest edges (stable order by distance)."""
    order = np.lexsort((d, i))
    i, j, d = i[order], j[order], d[order]
    starts = np.searchsorted(i, i, side="left")
    keep = (np.arange(len(i)) - starts) < max_neighbors
    return i[keep], j[keep], d[keep]


def build_graph(structure, params: GraphParams = GraphParams(), source="<structure>") -> CrystalGraph:
    """The crystal graph of a pymatgen Structure."""
    n_atoms = len(structure)
    i, j, d = neighbor_list(structure, params.radius, params.backend)
    i, j, d = nearest_per_center(i, j, d, params.max_neighbors)
    counts = np.bincount(i, minlength=n_atoms)
    if (counts == 0).any():
        k = int(np.argmin(counts))
        raise InputError(
            source,
            f"atom {k} ({structure[k].species_string}) has no neighbour within {params.radius} Å; "
            "use a larger --radius",
        )
    return CrystalGraph(
        atomic_numbers=torch.as_tensor(structure.atomic_numbers, dtype=torch.long),
        edge_index=torch.as_tensor(np.stack([i, j])),
        distances=torch.as_tensor(d, dtype=torch.float32),
    )
