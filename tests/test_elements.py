import json

import pytest

from cgcnn.graphs.elements import BINS, FEATURE_LENGTH, default_table, generate_default_table, load_table_file
from cgcnn.errors import InputError

# Where the generated table differs from the original atom_init.json, and why (see README):
# valence electrons of lanthanides/actinides (mendeleev counts the f electrons), atomic volume of elements
# that are gases (mendeleev gives the gas molar volume) and a few others, group/block of La, Ac, Lu.
DOCUMENTED_DIFFERENCES = {
    "group": {"La", "Lu", "Ac"},
    "block": {"La", "Lu", "Ac"},
    "valence_electrons": {"Pd", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm",
                          "Yb", "Lu", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm"},
    "atomic_volume": {"H", "He", "N", "O", "F", "Ne", "Cl", "Ar", "Br", "Kr", "Xe", "Pm", "At", "Np", "Pu",
                      "Bk", "Cf", "Es", "Fm"},
}


def test_shipped_table_is_what_mendeleev_generates():
    pytest.importorskip("mendeleev")
    assert generate_default_table() == {z: [int(x) for x in row] for z, row in default_table().items()}


def test_table_shape_is_the_originals():
    table = default_table()
    assert FEATURE_LENGTH == 92 and sorted(table) == list(range(1, 101))
    assert all(len(row) == 92 for row in table.values())


def test_differences_from_the_original_are_the_documented_ones(original):
    from pymatgen.core import Element

    ours = default_table()
    theirs = load_table_file(original / "atom_init.json")
    found, start = {}, 0
    for name, width, *_ in BINS:
        differ = {Element.from_Z(z).symbol for z in range(1, 101) if ours[z][start:start + width] != theirs[z][start:start + width]}
        if differ:
            found[name] = differ
        start += width
    assert found == DOCUMENTED_DIFFERENCES
    # and every element outside the documented sets has exactly the original's row
    documented = set().union(*DOCUMENTED_DIFFERENCES.values())
    assert all(ours[z] == theirs[z] for z in range(1, 93) if Element.from_Z(z).symbol not in documented)


def test_bad_table_file_names_the_file(tmp_path):
    bad = tmp_path / "atom_init.json"
    bad.write_text(json.dumps({"1": [0, 1], "2": [1]}))
    with pytest.raises(InputError, match="atom_init.json: element table rows must be"):
        load_table_file(bad)
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not a valid element table"):
        load_table_file(bad)
