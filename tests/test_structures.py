import json
import shutil

import numpy as np
import pytest

from cgcnn.errors import InputError
from cgcnn.io.inputs import collect_structures
from cgcnn.io.datasets import load_dataset
from cgcnn.io.structures import read_structures
from conftest import read_cif, read_predictions
from test_model import random_predictor


def write_formats(structure, folder):
    """The same crystal as CIF, POSCAR, extxyz, ASE db, pymatgen JSON and CASTEP .cell."""
    import ase.db
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    structure.to(filename=str(folder / "x.cif"))
    structure.to(filename=str(folder / "POSCAR"), fmt="poscar")
    (folder / "x.json").write_text(json.dumps(structure.as_dict()))
    ase.io.write(folder / "x.extxyz", atoms)
    with ase.db.connect(str(folder / "x.db")) as db:
        db.write(atoms)
    ase.io.write(folder / "x.cell", atoms)
    return [folder / n for n in ("x.cif", "POSCAR", "x.json", "x.extxyz", "x.db", "x.cell")]


def test_every_format_gives_the_same_prediction(tiny100, tmp_path):
    structure = read_cif(tiny100 / "7.cif")
    predictor = random_predictor()
    expected = predictor.predict(structure)
    for path in write_formats(structure, tmp_path):
        (name, parsed), = read_structures(path)
        np.testing.assert_allclose(predictor.predict(parsed), expected, atol=1e-5, err_msg=path.name)


def test_a_folder_of_every_format_is_read_by_the_format_table(tiny100, tmp_path):
    from cgcnn.io.formats import FORMATS, format_of

    written = write_formats(read_cif(tiny100 / "7.cif"), tmp_path)
    assert collect_structures([tmp_path]).sources == sorted(map(str, written))
    assert [format_of(p).name for p in written] == ["cif", "vasp", "pymatgen-json", "extxyz", "ase-db", "castep-cell"]
    extensions = [e for fmt in FORMATS for e in fmt.extensions]
    assert len(extensions) == len(set(extensions)), "an extension routed to two formats"
    assert format_of(tmp_path / "POSCAR.xyz").name == "extxyz" and format_of(tmp_path / ".x.cif") is None


def test_multi_frame_files_get_one_id_per_frame(tiny100, tmp_path):
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = [AseAtomsAdaptor.get_atoms(read_cif(tiny100 / f"{k}.cif")) for k in (1, 2, 3)]
    ase.io.write(tmp_path / "many.extxyz", frames)
    assert [i for i, _ in read_structures(tmp_path / "many.extxyz")] == ["many:0", "many:1", "many:2"]


def test_table_layout_with_files_and_embedded_text(tiny100, tmp_path):
    import pandas as pd

    shutil.copy(tiny100 / "4.cif", tmp_path / "four.cif")
    table = pd.DataFrame({
        "id": ["a", "b", "c"],
        "structure": ["four.cif", (tiny100 / "5.cif").read_text(),
                      json.dumps(read_cif(tiny100 / "6.cif").as_dict())],
        "energy": [1.0, 2.0, 3.0],
        "gap": [0.0, 0.5, 1.5],
    })
    table.to_csv(tmp_path / "data.csv", index=False)
    data = load_dataset(tmp_path / "data.csv")
    assert data.ids == ["a", "b", "c"] and data.target_names == ["energy", "gap"]
    np.testing.assert_allclose(data.targets, [[1, 0], [2, 0.5], [3, 1.5]])
    from cgcnn.io.crystal import load_crystal

    assert len(load_crystal(data.items[1], "b").atomic_numbers) == len(read_cif(tiny100 / "5.cif"))
    assert len(load_crystal(data.items[2], "c").atomic_numbers) == len(read_cif(tiny100 / "6.cif"))
    table.to_json(tmp_path / "data.json", orient="records")
    only_gap = load_dataset(tmp_path / "data.json", targets=["gap"])
    assert only_gap.target_names == ["gap"] and only_gap.targets.shape == (3, 1)


def test_original_layout(original):
    data = load_dataset(original / "sample-regression")
    assert len(data) == 10 and data.targets.shape == (10, 1)
    assert data.atom_init == original / "sample-regression" / "atom_init.json"


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("0.250000  1\n", "0.250000  0.5\n", 1), "partially occupied site"),
    (lambda t: t.replace("  In  In4", "  Xx  Xx4", 1), "unknown element"),
    (lambda t: t.replace("_cell_length_a", "_cell_length_q", 1), "cannot read a crystal structure"),
    (lambda t: "", "the file is empty"),
    (lambda t: t[: len(t) // 3], "cannot read a crystal structure"),
])
def test_bad_structures_name_the_file(tiny100, tmp_path, edit, message):
    path = tmp_path / "bad.cif"
    path.write_text(edit((tiny100 / "1.cif").read_text()))
    with pytest.raises(InputError, match=message) as err:
        read_structures(path)
    assert str(path) in str(err.value)


def test_binary_junk_and_empty_folder(tmp_path):
    junk = tmp_path / "junk.cif"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="junk.cif"):
        read_structures(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="contains no structure files"):
        collect_structures([tmp_path / "empty"])


def test_vasp_folders_get_their_paths_as_ids_and_are_searched_recursively(tmp_path, monkeypatch, capsys):
    """`predict a/POSCAR b/POSCAR` (every VASP run folder holds a POSCAR): clashing names take their paths."""
    from conftest import embedded_rows
    from pymatgen.core import Structure
    from test_cli import run_cli

    for k, folder in enumerate(["a", "b", "b/relaxed"]):
        (tmp_path / folder).mkdir(parents=True)
        Structure.from_str(embedded_rows(3)[k]["cif"], fmt="cif").to(filename=str(tmp_path / folder / "POSCAR"),
                                                                     fmt="poscar")
    monkeypatch.chdir(tmp_path)
    assert collect_structures(["a/POSCAR", "b/POSCAR"]).ids == ["a/POSCAR", "b/POSCAR"]
    assert collect_structures(["a"]).ids == ["POSCAR"]  # no clash: the name, as before
    assert collect_structures(["."], recursive=True).ids == ["a/POSCAR", "b/POSCAR", "b/relaxed/POSCAR"]
    with pytest.raises(InputError, match="--recursive"):
        collect_structures([tmp_path])
    code, out, err = run_cli(["--no-progress", "predict", "--model", "formation-energy", "--recursive", "--out",
                              "p.csv", "."], capsys)
    assert code == 0, err
    assert [r["id"] for r in read_predictions(tmp_path / "p.csv")] == ["a/POSCAR", "b/POSCAR", "b/relaxed/POSCAR"]


def test_the_fast_cif_reader_places_atoms_as_pymatgen_does_bit_for_bit(tiny100, tmp_path):
    """gemmi's reading, without pymatgen, gives pymatgen's cell, positions and site order exactly; a noble
    gas (no electronegativity) takes pymatgen's own ordering."""
    from cgcnn.io.cif import read_cif_arrays
    from cgcnn.io.crystal import Crystal

    structure = read_cif(tiny100 / "0.cif")
    structure.replace(0, "Ar")  # no electronegativity in pymatgen
    structure.to(filename=str(tmp_path / "with-argon.cif"))
    for path in [*sorted(tiny100.glob("*.cif")), tmp_path / "with-argon.cif"]:
        fast = read_cif_arrays(path)
        assert fast is not None, path
        theirs = Crystal.from_structure(read_cif(path))
        for mine, reference in zip(fast, (theirs.lattice, theirs.cart_coords, theirs.atomic_numbers)):
            assert np.array_equal(mine, reference), path


def test_the_tables_that_stand_in_for_pymatgen_are_pymatgens():
    import warnings

    from pymatgen.core import Element, Lattice

    from cgcnn.io.cif import ELECTRONEGATIVITY, lattice_from_parameters

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.array([Element.from_Z(z).X for z in range(1, 119)])
    assert np.array_equal(ELECTRONEGATIVITY, theirs, equal_nan=True)
    rng = np.random.default_rng(0)
    for _ in range(500):
        lengths, angles = rng.uniform(1, 30, 3), rng.uniform(40, 140, 3)
        assert np.array_equal(lattice_from_parameters(*lengths, *angles),
                              Lattice.from_parameters(*lengths, *angles).matrix)
