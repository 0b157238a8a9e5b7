import itertools
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the project's large data sets, beside a developer's clone (CGCNN_SHARED_DATA=/none: test as a user's clone)
SHARED = Path(os.environ.get("CGCNN_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATA = ROOT / "tests" / "data"  # small real sets every clone has (tests/data/README.md: origin, licence)
TINY = DATA / "mp-tiny100"
ORIGINAL = DATA / "original-cgcnn"
PRETRAINED = SHARED / "original-cgcnn" / "pretrained"
WHERE = {PRETRAINED: "the original published CGCNN models (github txie-93/cgcnn, MIT) are not shipped; copy "
                     "them to ../shared/data/original-cgcnn/pretrained beside the clone to run this test"}


def need(path: Path) -> Path:
    """`path`, or skip the test saying where the data comes from."""
    if not path.exists():
        reason = next((why for root, why in WHERE.items() if path == root or root in path.parents), None)
        pytest.skip(reason or f"{path} not available (the project's data sets live in ../shared/data beside "
                    "the clone; see its README)")
    return path


@pytest.fixture
def pretrained():
    """The folder of the 8 original published models (skipped where absent: they are not shipped)."""
    return need(PRETRAINED)


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
    """Rows of a `cgcnn predict` CSV (plain CSV, header first)."""
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def assert_same_predictions(text: str, reference: str) -> None:
    """Two `cgcnn predict` outputs hold the same rows in the same order and the same values to 1e-4 relative:
    runs that batch the crystals differently sum in another order, and the members' spread (a difference of
    close numbers) can move in its fifth digit."""
    import numpy as np

    lines, expected = text.splitlines(), reference.splitlines()
    assert lines[:1] == expected[:1] and len(lines) == len(expected)  # the header
    for line, want in zip(lines[1:], expected[1:]):
        got, ref = line.split(","), want.split(",")
        assert got[0] == ref[0] and len(got) == len(ref), (line, want)
        np.testing.assert_allclose([float(x) for x in got[1:]], [float(x) for x in ref[1:]], rtol=1e-4, atol=1e-6,
                                   err_msg=got[0])


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
