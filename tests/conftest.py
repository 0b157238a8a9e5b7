import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TINY = SHARED / "mp-tiny100"
ORIGINAL = SHARED / "original-cgcnn"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture
def tiny100():
    return need(TINY)


@pytest.fixture
def original():
    return need(ORIGINAL)


def read_cif(path):
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_file(str(path))


def brute_force_neighbors(structure, radius):
    """Every (i, j, d) with 0 < d <= radius, by enumerating enough periodic images explicitly."""
    lattice = structure.lattice.matrix
    # images needed along a: radius / (distance between the b-c planes), plus one
    volume = abs(np.linalg.det(lattice))
    heights = [volume / np.linalg.norm(np.cross(lattice[(k + 1) % 3], lattice[(k + 2) % 3])) for k in range(3)]
    reach = [int(np.ceil(radius / h)) + 1 for h in heights]
    cart = structure.cart_coords
    pairs = []
    for shift in itertools.product(*(range(-r, r + 1) for r in reach)):
        offset = np.array(shift) @ lattice
        d = np.linalg.norm(cart[None, :, :] + offset - cart[:, None, :], axis=2)
        i, j = np.nonzero((d > 1e-8) & (d <= radius))
        pairs += list(zip(i.tolist(), j.tolist(), d[i, j].tolist()))
    return pairs


@pytest.fixture(autouse=True, scope="session")
def graph_store_in_a_temporary_folder(tmp_path_factory):
    """Tests never touch the user's cache."""
    import os

    os.environ["CGCNN_CACHE_DIR"] = str(tmp_path_factory.mktemp("graph-cache"))


def read_predictions(path):
    """Rows of a `cgcnn predict` CSV (its first line is a `#` comment saying what the columns hold)."""
    import csv

    with open(path) as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def embedded_rows(n):
    """The first n rows (id, formation energy, CIF text) of the embedded 1,500 Materials Project crystals:
    real crystals that every clone has, ../shared or not."""
    import csv
    import gzip
    from importlib import resources

    with resources.as_file(resources.files("cgcnn") / "data" / "mp_formation_energy_1500.csv.gz") as path:
        with gzip.open(path, "rt") as handle:
            rows = list(csv.DictReader(handle))
    return rows[:n]


def write_table(path, rows, columns):
    """A CSV table of `rows` (dicts) with the given columns (a missing key is an empty cell)."""
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return path


@pytest.fixture
def embedded_table(tmp_path):
    """A table of 60 embedded crystals: id, cif, formation_energy_per_atom."""
    return write_table(tmp_path / "embedded.csv", embedded_rows(60), ["id", "cif", "formation_energy_per_atom"])
