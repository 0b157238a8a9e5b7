from collections import Counter

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from cgcnn.errors import InputError
from cgcnn.config import GraphConfig
from cgcnn.graphs.graph import build_graph
from conftest import brute_force_neighbors, read_cif

CELLS = {
    "one atom, cell far smaller than the cutoff": Structure(Lattice.cubic(2.5), ["Cu"], [[0, 0, 0]]),
    "rock salt": Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "triclinic": Structure(
        Lattice.from_parameters(3.1, 4.2, 5.3, 75, 82, 101), ["Si", "O", "O"],
        [[0.1, 0.2, 0.3], [0.6, 0.1, 0.8], [0.35, 0.7, 0.05]],
    ),
    "thin slab-like cell": Structure(Lattice.from_parameters(2.2, 9.0, 2.9, 90, 90, 60), ["C", "C"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]]),
}


def _by_center(i, j, d, n):
    """Per centre: how often each neighbour occurs, and the sorted distances."""
    i, j, d = map(np.asarray, (i, j, d))
    return [(Counter(j[i == a].tolist()), np.sort(d[i == a])) for a in range(n)]


@pytest.mark.parametrize("name", list(CELLS))
def test_all_neighbors_match_brute_force(name):
    structure = CELLS[name]
    graph = build_graph(structure, GraphConfig(radius=6.0, max_neighbors=10**6))
    i, j, d = zip(*brute_force_neighbors(structure, 6.0))
    expected = _by_center(i, j, d, len(structure))
    got = _by_center(graph.edge_index[0].tolist(), graph.edge_index[1].tolist(), graph.distances.tolist(),
                     len(structure))
    for (got_count, got_d), (want_count, want_d) in zip(got, expected):
        assert got_count == want_count
        np.testing.assert_allclose(got_d, want_d, atol=1e-5)


@pytest.mark.parametrize("name", list(CELLS))
def test_keeps_the_twelve_nearest(name):
    structure = CELLS[name]
    graph = build_graph(structure, GraphConfig())
    i, j, d = map(np.array, zip(*brute_force_neighbors(structure, 8.0)))
    for atom in range(len(structure)):
        mine = np.sort(graph.distances[graph.edge_index[0] == atom].numpy())
        assert len(mine) == 12
        np.testing.assert_allclose(mine, np.sort(d[i == atom])[:12], atol=1e-5)


def test_multigraph_joins_a_pair_several_times():
    graph = build_graph(CELLS["one atom, cell far smaller than the cutoff"])
    assert graph.n_atoms == 1
    assert graph.edge_index.shape == (2, 12)
    assert (graph.edge_index == 0).all()  # the atom's own periodic images


def test_real_crystal_edges_are_sorted_and_bounded(tiny100):
    structure = read_cif(tiny100 / "0.cif")
    graph = build_graph(structure)
    assert graph.edge_index.shape[1] == 12 * len(structure)
    assert float(graph.distances.max()) <= 8.0
    for atom in range(len(structure)):
        d = graph.distances[graph.edge_index[0] == atom]
        assert (d[1:] >= d[:-1]).all()


def test_isolated_atom_is_a_clear_error():
    structure = Structure(Lattice.cubic(12.0), ["Fe"], [[0, 0, 0]])
    with pytest.raises(InputError, match="no neighbour within 8.0 Å, the graph radius") as err:
        build_graph(structure, source="lonely.cif")
    assert "lonely.cif" in str(err.value)
