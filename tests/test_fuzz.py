"""Property-based fuzzing of the readers and the graph builder (hypothesis): whatever the bytes, the
result is a crystal graph or one InputError naming the file, never another exception.

CGCNN_FUZZ_EXAMPLES sets the number of inputs per strategy (default 150; the issue note reports a
larger run)."""

import os
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cgcnn.io.crystal import Crystal, load_crystal
from cgcnn.errors import InputError
from cgcnn.config import GraphConfig
from cgcnn.graphs.graph import build_graph
from conftest import TINY

EXAMPLES = int(os.environ.get("CGCNN_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
SMALL = GraphConfig(radius=5.0)  # keeps each try fast; the code paths are the same


def must_read_or_refuse(path):
    """The property: a graph, or an InputError that names the file."""
    try:
        crystal = load_crystal(path, str(path))
        build_graph(crystal, SMALL, str(path))
    except InputError as exc:
        assert str(path) in str(exc)


def seed_text(name="1.cif"):
    if not (TINY / name).exists():
        pytest.skip("mp-tiny100 not available")
    return (TINY / name).read_text()


NUMBERS = st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e308", "-1e-308", "1e5", "0.5", "?", ".", "''", "1/3"])


@st.composite
def mutated(draw, text):
    """A real file with a few random edits: deleted or duplicated spans, replaced numbers, swapped lines."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        kind = rng.choice(["delete", "duplicate", "number", "swap", "chars"])
        k = rng.randrange(len(lines)) if lines else 0
        if not lines:
            break
        if kind == "delete":
            del lines[k : k + rng.randint(1, 5)]
        elif kind == "duplicate":
            lines.insert(k, lines[k])
        elif kind == "number":
            tokens = lines[k].split()
            if tokens:
                tokens[rng.randrange(len(tokens))] = draw(NUMBERS)
                lines[k] = "  ".join(tokens)
        elif kind == "swap":
            j = rng.randrange(len(lines))
            lines[k], lines[j] = lines[j], lines[k]
        else:
            cut = rng.randrange(len(lines[k]) + 1)
            lines[k] = lines[k][:cut] + draw(st.text(max_size=8)) + lines[k][cut:]
    return "\n".join(lines) + "\n"


@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "x.cif"
    path.write_bytes(data)
    must_read_or_refuse(path)


@FUZZ
@given(data=st.data())
def test_mutated_cif(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "x.cif"
    path.write_text(data.draw(mutated(seed_text())), errors="surrogatepass")
    must_read_or_refuse(path)


@FUZZ
@given(data=st.data())
def test_mutated_poscar(tmp_path_factory, data):
    from pymatgen.core import Structure

    poscar = Structure.from_str(seed_text("2.cif"), fmt="cif").to(fmt="poscar")
    path = tmp_path_factory.mktemp("fuzz") / "POSCAR"
    path.write_text(data.draw(mutated(poscar)), errors="surrogatepass")
    must_read_or_refuse(path)


FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.floats(-20, 20)


@FUZZ
@given(lattice=st.lists(FLOATS, min_size=9, max_size=9), n=st.integers(0, 6), data=st.data())
def test_random_cells(lattice, n, data):
    """Arrays straight into the graph builder: degenerate, tiny, huge, NaN cells and odd elements."""
    coords = data.draw(st.lists(st.lists(FLOATS, min_size=3, max_size=3), min_size=n, max_size=n))
    numbers = data.draw(st.lists(st.integers(-5, 130), min_size=n, max_size=n))
    crystal = Crystal(np.array(lattice).reshape(3, 3), np.array(coords, dtype=float).reshape(n, 3), np.array(numbers))
    try:
        build_graph(crystal, SMALL, "cell")
    except InputError as exc:
        assert exc.source == "cell"
