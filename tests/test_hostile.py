"""Hostile input: every case stops `cgcnn train` with one line naming the file (exit code 2, nothing
written), or, with --skip-bad, is left out and listed in skipped.csv while training goes on."""

import csv

import numpy as np
import pytest
from conftest import read_predictions
from pymatgen.core import Lattice, Structure

from test_cli import run_cli, small_dataset

BAD = "3"  # the crystal each case breaks


def _atom_line(text):
    """The first row of the atom-site loop (symbol, label, multiplicity, x, y, z, occupancy)."""
    return next(ln for ln in text.splitlines() if len(ln.split()) == 7 and ln.split()[-1] == "1")


def _with_symbol(line, symbol):
    parts = line.split()
    return "  " + "  ".join([symbol, symbol + "99", *parts[2:]])


def rewrite(edit):
    def apply(folder):
        path = folder / f"{BAD}.cif"
        text = path.read_text()
        path.write_text(edit(text))
        return path
    return apply


def set_targets(edit_row):
    def apply(folder):
        path = folder / "id_prop.csv"
        rows = path.read_text().splitlines()
        rows = [edit_row(r) if r.split(",")[0] == BAD else r for r in rows]
        path.write_text("\n".join(rows) + "\n")
        return path
    return apply


def binary_junk(folder):
    (folder / f"{BAD}.cif").write_bytes(bytes(range(256)) * 16)
    return folder / f"{BAD}.cif"


def remove_file(folder):
    (folder / f"{BAD}.cif").unlink()
    return folder / f"{BAD}.cif"


def orphan_file(folder):
    (folder / "orphan.cif").write_text((folder / "0.cif").read_text())
    return folder / "orphan.cif"


def duplicate_id(folder):
    with open(folder / "id_prop.csv", "a") as handle:
        handle.write(f"{BAD},1.0\n")
    return folder / "id_prop.csv"


CASES = {
    "empty file": (rewrite(lambda t: ""), "the file is empty"),
    "truncated file": (rewrite(lambda t: t[: t.rindex("loop_")]), "cannot read a crystal structure"),
    "binary junk": (binary_junk, "cannot read a crystal structure"),
    "missing cell parameter": (rewrite(lambda t: t.replace("_cell_length_b", "_cell_length_q")),
                               "cannot read a crystal structure"),
    "zero cell length": (rewrite(lambda t: _set_cell_a(t, "0")), "are not all positive numbers"),
    "cell angles that span no volume": (rewrite(lambda t: _set_cell_line(t, "_cell_angle_gamma", "180")),
                                        "span no volume"),
    "atoms without labels": (rewrite(lambda t: _drop_label_column(t)), "has no _atom_site_label column"),
    "negative cell length": (rewrite(lambda t: _set_cell_a(t, "-5.0")), "the cell volume is negative"),
    "NaN coordinate": (rewrite(lambda t: _set_first_coordinate(t, "nan")), "cannot read a crystal structure"),
    "infinite coordinate": (rewrite(lambda t: _set_first_coordinate(t, "inf")), "cannot read a crystal structure"),
    "overlapping atoms": (rewrite(lambda t: t + _with_symbol(_atom_line(t), "Xe") + "\n"), "overlapping sites"),
    "no atoms": (rewrite(lambda t: t[: t.index(_atom_line(t))]), "cannot read a crystal structure"),
    "element beyond the table": (rewrite(lambda t: t.replace(_atom_line(t), _with_symbol(_atom_line(t), "Rf"))),
                                 "not in the element feature table"),
    "partial occupancy": (rewrite(lambda t: t.replace(_atom_line(t), _atom_line(t)[:-1] + "0.5")),
                          "partially occupied site"),
    "zero occupancy": (rewrite(lambda t: t.replace(_atom_line(t), _atom_line(t)[:-1] + "0")), "has occupancy 0"),
    "id without a file": (remove_file, "is listed in id_prop.csv but its CIF file is missing"),
    "file without an id": (orphan_file, "the file has no row in id_prop.csv"),
    "duplicate id": (duplicate_id, f"id '{BAD}' appears more than once"),
    "non-numeric target": (set_targets(lambda r: f"{BAD},abc"), "is not a number"),
    "infinite target": (set_targets(lambda r: f"{BAD},-inf"), "target is -inf"),  # NaN: a missing label
}


def _set_cell_a(text, value):
    return _set_cell_line(text, "_cell_length_a", value)


def _set_cell_line(text, key, value):
    line = next(ln for ln in text.splitlines() if ln.startswith(key))
    return text.replace(line, f"{key}   {value}")


def _drop_label_column(text):
    """The atom loop without its _atom_site_label column (the second of its seven)."""
    lines = [ln for ln in text.splitlines() if ln.strip() != "_atom_site_label"]
    rows = [" ".join(p[:1] + p[2:]) if len(p := ln.split()) == 7 and ln.startswith("  ") else ln for ln in lines]
    return "\n".join(rows) + "\n"


def _set_first_coordinate(text, value):
    line = _atom_line(text)
    parts = line.split()
    parts[3] = value
    return text.replace(line, "  " + "  ".join(parts))


def tiny_dataset(tiny100, folder):
    return small_dataset(tiny100, folder, n=12)


TRAIN = ["--epochs", "1", "--n-conv", "1", "--batch-size", "8", "--workers", "1"]


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_clear_error(tiny100, tmp_path, capsys, case):
    breaker, message = CASES[case]
    data = tiny_dataset(tiny100, tmp_path / "data")
    culprit = breaker(data)
    run = tmp_path / "run"
    code, _, err = run_cli(["--no-progress", "train", data, "--out", run, *TRAIN], capsys)
    assert code == 2, err
    assert message in err and culprit.name in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not run.exists()


@pytest.mark.parametrize("case", list(CASES))
def test_skip_bad_leaves_it_out_and_says_why(tiny100, tmp_path, capsys, case):
    breaker, message = CASES[case]
    data = tiny_dataset(tiny100, tmp_path / "data")
    breaker(data)
    run = tmp_path / "run"
    code, _, err = run_cli(["--no-progress", "train", data, "--out", run, "--skip-bad", *TRAIN], capsys)
    assert code == 0, err
    skipped = list(csv.DictReader(open(run / "skipped.csv")))
    assert len(skipped) == 1 and message in skipped[0]["reason"]
    assert skipped[0]["id"] in (BAD, "orphan")
    split = (run / "split.json").read_text()
    assert f'"{BAD}"' not in split or case in ("file without an id", "duplicate id")


def test_skip_bad_in_prediction(tiny100, tmp_path, capsys):
    data = tiny_dataset(tiny100, tmp_path / "data")
    (data / "5.cif").write_text("garbage")
    model = "formation-energy"
    code, out, err = run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", data], capsys)
    assert code == 2 and "5.cif: cannot read" in err and not (tmp_path / "p.csv").exists()
    code, out, err = run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", "--skip-bad", data], capsys)
    assert code == 0 and "1 skipped" in out
    assert len(list(read_predictions(tmp_path / "p.csv"))) == 11
    assert list(csv.DictReader(open(tmp_path / "p.skipped.csv")))[0]["id"] == "5"


def test_five_thousand_atom_cell_is_handled(tmp_path):
    from cgcnn.graphs.graph import build_graph
    from test_model import random_predictor

    # rock salt: the 12 nearest of each atom are unambiguous up to equivalent atoms
    cell = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    big = cell.make_supercell([9, 9, 8], in_place=False)
    assert len(big) == 5184
    graph = build_graph(big)
    assert graph.edge_index.shape == (2, 12 * 5184)
    small, large = random_predictor().predict([cell, big])[:, 0]
    assert np.isfinite(large) and large == pytest.approx(small, abs=1e-4)  # a supercell of the same crystal


def test_a_frame_declaring_more_atoms_than_the_file_holds_is_an_error_not_a_hang(tmp_path):
    from cgcnn.apps.chunked_predict import predict_files

    path = tmp_path / "frames.extxyz"
    path.write_text("3000000000\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3\nNa 0 0 0\n")
    with pytest.raises(Exception, match="declares 3,000,000,000 atoms but the file ends"):
        predict_files("formation-energy", [path], tmp_path / "p.csv", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.extxyz"]


def test_a_table_cut_inside_a_quoted_structure_is_refused_by_every_reader(tmp_path):
    from conftest import embedded_rows, write_table

    from cgcnn.apps.embed import embed_files
    from cgcnn.apps.explain import explain_files
    from cgcnn.apps.chunked_predict import predict_files

    table = write_table(tmp_path / "t.csv", embedded_rows(3), ["id", "cif"])
    text = table.read_text()
    table.write_text(text[: text.rindex("_cell_length_a")])  # cut inside the last quoted CIF
    for run in (lambda: predict_files("formation-energy", [table], tmp_path / "p.csv", progress=False),
                lambda: embed_files("formation-energy", [table], tmp_path / "e.csv", progress=False),
                lambda: explain_files("formation-energy", [table], tmp_path / "x.csv")):
        with pytest.raises(Exception, match="ends inside a quoted cell"):
            run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
