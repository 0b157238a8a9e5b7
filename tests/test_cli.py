"""The command line: normal use, and bad input → one clear line naming the file, exit code 2."""

import csv
import shutil
import subprocess
import sys

import pytest
from conftest import read_predictions

from cgcnn.cli import main


def small_dataset(tiny100, folder, n=12):
    folder.mkdir()
    lines = (tiny100 / "id_prop.csv").read_text().splitlines()[:n]
    for line in lines:
        shutil.copy(tiny100 / f"{line.split(',')[0]}.cif", folder)
    (folder / "id_prop.csv").write_text("\n".join(",".join(ln.split(",")[:2]) for ln in lines) + "\n")
    return folder


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def break_missing_cif(folder):
    (folder / "3.cif").unlink()
    return "3.cif: id '3' is listed in id_prop.csv but its CIF file is missing"


def break_unparsable_cif(folder):
    (folder / "4.cif").write_text("data_broken\n_cell_length_a 3\nloop_\n_atom_site_label\nFe1\n")
    return "4.cif: cannot read a crystal structure"


def break_unknown_element(folder):
    text = (folder / "5.cif").read_text().splitlines(keepends=True)
    first_atom = next(k for k, ln in enumerate(text) if ln.strip().endswith(" 1") and len(ln.split()) == 7)
    parts = text[first_atom].split()
    text[first_atom] = "  Xx  Xx1  " + "  ".join(parts[2:]) + "\n"
    (folder / "5.cif").write_text("".join(text))
    return "5.cif: unknown element 'Xx"


def break_infinite_target(folder):
    # (an empty or nan cell is a missing label: tests/test_multitask.py)
    lines = (folder / "id_prop.csv").read_text().splitlines()
    lines[2] = lines[2].split(",")[0] + ",inf"
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return "id_prop.csv: id '2': target is inf"


def break_text_target(folder):
    lines = (folder / "id_prop.csv").read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",high"
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return "id_prop.csv: id '1': target 'high' is not a number"


def break_empty_folder(folder):
    shutil.rmtree(folder)
    folder.mkdir()
    return "no id_prop.csv in this folder"


def break_duplicate_id(folder):
    with open(folder / "id_prop.csv", "a") as handle:
        handle.write("0,1.0\n")
    return "id_prop.csv: id '0' appears more than once"


@pytest.mark.parametrize("breaker", [break_missing_cif, break_unparsable_cif, break_unknown_element,
                                     break_infinite_target, break_text_target, break_empty_folder,
                                     break_duplicate_id])
def test_bad_training_input(tiny100, tmp_path, capsys, breaker):
    data = small_dataset(tiny100, tmp_path / "data")
    expected = breaker(data)
    run = tmp_path / "run"
    code, _, err = run_cli(["--no-progress", "train", data, "--out", run, "--epochs", "1"], capsys)
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not run.exists()  # nothing half-written


def test_element_missing_from_the_table(tiny100, tmp_path, capsys):
    import json

    data = small_dataset(tiny100, tmp_path / "data")
    table = {"8": [1.0, 0.0], "1": [0.0, 1.0]}
    (tmp_path / "tiny_table.json").write_text(json.dumps(table))
    code, _, err = run_cli(["train", data, "--out", tmp_path / "run", "--atom-init", tmp_path / "tiny_table.json"],
                           capsys)
    assert code == 2 and "are not in the element feature table" in err and ".cif" in err


def test_bad_prediction_input(tmp_path, capsys, original):
    model = "band-gap"
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", tmp_path / "empty"], capsys)
    assert code == 2 and "empty: the folder contains no structure files" in err
    code, _, err = run_cli(["predict", "--model", tmp_path / "nope.pt", "--out", tmp_path / "p.csv",
                            original / "sample-regression"], capsys)
    assert code == 2 and "nope.pt: no such model file" in err
    assert not (tmp_path / "p.csv").exists()


def test_predict_with_original_checkpoints(tiny100, original, pretrained, tmp_path, capsys):
    out_default, out_given = tmp_path / "a.csv", tmp_path / "b.csv"
    model = pretrained / "formation-energy-per-atom.pth.tar"
    assert run_cli(["predict", "--model", model, "--out", out_default, tiny100], capsys)[0] == 0
    assert run_cli(["predict", "--model", model, "--out", out_given, "--atom-init", original / "atom_init.json",
                    tiny100], capsys)[0] == 0
    rows = list(read_predictions(out_default))
    assert list(rows[0]) == ["id", "prediction"] and len(rows) == 100
    assert out_default.read_text() == out_given.read_text()  # the shipped table is the original one
    truth = {r[0]: float(r[1]) for r in csv.reader(open(tiny100 / "id_prop.csv"))}
    mae = sum(abs(float(r["prediction"]) - truth[r["id"]]) for r in rows) / len(rows)
    assert mae < 0.15  # the published model on Materials Project crystals

    classifier = pretrained / "semi-metal-classification.pth.tar"
    assert run_cli(["predict", "--model", classifier, "--out", tmp_path / "c.csv",
                    original / "sample-classification"], capsys)[0] == 0
    rows = list(read_predictions(tmp_path / "c.csv"))
    assert list(rows[0]) == ["id", "prediction", "class"] and len(rows) == 10
    assert all(0 <= float(r["prediction"]) <= 1 and r["class"] in "01" for r in rows)


def test_console_script_help():
    proc = subprocess.run([sys.executable, "-m", "cgcnn", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "train" in proc.stdout and "predict" in proc.stdout


def test_messages_count_in_good_english_and_models_show_their_licence(tmp_path, capsys):
    from pymatgen.core import Lattice, Structure

    Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(tmp_path / "x.cif"))
    code, out, err = run_cli(["-v", "predict", "--model", "formation-energy", "--out", tmp_path / "p.csv",
                              tmp_path / "x.cif", "--no-progress"], capsys)
    assert code == 0 and "wrote 1 prediction to" in out and "wrote" not in err  # said once, with -v too
    from cgcnn import shipped_models

    assert run_cli(["models"], capsys)[1].count("licence: weights MIT") == len(shipped_models()) >= 7


def test_models_say_how_each_transfer_model_was_chosen(capsys):
    out = run_cli(["models"], capsys)[1]
    phonon = out[out.index("phonon-peak"):].split("licence")[0]
    refractive = out[out.index("refractive-index"):].split("licence")[0]
    assert "trained from scratch (chosen on validation MAE: fine-tuned" in phonon
    assert "fine-tuned from formation-energy (chosen on validation MAE" in refractive
