"""The hostile-input suite, part 2: ordinary mistakes of a careful but fallible user. None may destroy data
or give a silently wrong answer: each is one clear error (exit 2, the file named, nothing half-written and
nothing existing overwritten) or, where --skip-bad applies, a listed and explained omission."""

import csv
import errno
import os

import numpy as np
import pytest
import torch
from conftest import read_predictions

from cgcnn.errors import InputError
from cgcnn.graphs.elements import default_table, table_to_tensor
from cgcnn.model import CrystalGraphConvNet, ModelConfig, save_model
from test_cli import run_cli, small_dataset

TRAIN = ["--epochs", "1", "--n-conv", "1", "--batch-size", "8", "--workers", "1", "--no-progress"]


@pytest.fixture
def data(tiny100, tmp_path):
    return small_dataset(tiny100, tmp_path / "data", n=12)


def random_model(path, target="formation_energy_per_atom", seed=0, **tensors):
    torch.manual_seed(seed)
    model = CrystalGraphConvNet(ModelConfig(n_conv=1), table_to_tensor(default_table())).eval()
    state = model.state_dict()  # shares the tensors' memory
    for name, value in tensors.items():
        state[name.replace("__", ".")].fill_(value)
    save_model(model, path, [target])
    return path


def clear_error(code, err, *needles):
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert all(n in err for n in needles), err


# ---------------------------------------------------------------- 1. outputs that name an input


@pytest.mark.parametrize("target", ["0.cif", "id_prop.csv"])
def test_predict_refuses_to_overwrite_an_input(data, tmp_path, capsys, target):
    model = random_model(tmp_path / "m.pt")
    before = (data / target).read_bytes()
    code, _, err = run_cli(["predict", "--model", model, "--out", data / target, data], capsys)
    clear_error(code, err, target, "is an input of this command")
    assert (data / target).read_bytes() == before


def test_predict_refuses_to_overwrite_its_model_also_through_a_link(data, tmp_path, capsys):
    model = random_model(tmp_path / "m.pt")
    (tmp_path / "link.csv").symlink_to(model)
    before = model.read_bytes()
    for out in (model, tmp_path / "link.csv"):
        code, _, err = run_cli(["predict", "--model", model, "--out", out, data], capsys)
        clear_error(code, err, "is an input of this command")
    assert model.read_bytes() == before


def test_explain_refuses_to_overwrite_its_structure(data, tmp_path, capsys):
    model = random_model(tmp_path / "m.pt")
    before = (data / "1.cif").read_text()
    code, _, err = run_cli(["explain", "--model", model, "--out", data / "1.cif", data / "1.cif"], capsys)
    clear_error(code, err, "1.cif", "is an input")
    assert (data / "1.cif").read_text() == before


@pytest.mark.parametrize("out,said", [("folder/", "ends with '/', as a folder's name does"),
                                      ("existing", "is a folder")])
def test_an_output_that_is_a_folder_is_refused_before_any_work(data, tmp_path, capsys, out, said):
    (tmp_path / "existing").mkdir()
    model = random_model(tmp_path / "m.pt")
    code, _, err = run_cli(["predict", "--model", model, "--out", f"{tmp_path}/{out}", data], capsys)
    clear_error(code, err, said)
    assert not (tmp_path / "folder").exists()


def test_a_linked_output_writes_the_link_target(data, tmp_path, capsys):
    model = random_model(tmp_path / "m.pt")
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    assert run_cli(["predict", "--model", model, "--out", tmp_path / "link.csv", data], capsys)[0] == 0
    assert (tmp_path / "link.csv").is_symlink() and len(read_predictions(tmp_path / "real.csv")) == 12


def test_predict_refuses_to_overwrite_a_file_of_the_models_run(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(["train", data, "--out", run, *TRAIN], capsys)[0] == 0
    before = (run / "checkpoint.pt").read_bytes()
    code, _, err = run_cli(["predict", "--model", run, "--out", run / "checkpoint.pt", data], capsys)
    clear_error(code, err, "checkpoint.pt", "is an input of this command")
    assert (run / "checkpoint.pt").read_bytes() == before


def test_train_refuses_an_output_that_is_a_file_or_the_data(data, tmp_path, capsys):
    code, _, err = run_cli(["train", data, "--out", data / "id_prop.csv", *TRAIN], capsys)
    clear_error(code, err, "is a file; --out takes a run folder")
    code, _, err = run_cli(["train", data, "--out", data, *TRAIN], capsys)
    clear_error(code, err, "is an input of this run")


# ---------------------------------------------------------------- 2. one run folder, one training run


def test_a_run_folder_in_use_is_refused_naming_its_owner(data, tmp_path, capsys):
    from cgcnn.training.run_folder import run_folder_lock

    run = tmp_path / "run"
    run.mkdir()
    with run_folder_lock(run):  # as another `cgcnn train` holds it
        code, _, err = run_cli(["train", data, "--out", run, *TRAIN], capsys)
    clear_error(code, err, "another training run is using this folder", f"pid {os.getpid()}")
    assert sorted(p.name for p in run.iterdir()) == []  # nothing of the refused run, and the lock released
    assert run_cli(["train", data, "--out", run, *TRAIN], capsys)[0] == 0  # free again


# ---------------------------------------------------------------- 3. stores and temporary files


def test_a_store_that_cannot_be_read_is_never_deleted(data, tmp_path, monkeypatch):
    from cgcnn.graphs import store as store_module
    from cgcnn.graphs.featurize import featurize

    report = featurize(data, workers=1, cache=tmp_path / "cache", progress=False)
    path = tmp_path / "cache" / os.path.basename(report["store"])

    def denied(file, *args, **kwargs):  # as a store written by another user with mode 0600
        if str(file) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return open(file, *args, **kwargs)

    monkeypatch.setattr(store_module, "open", denied, raising=False)
    with pytest.raises(InputError, match="cannot read this graph store .permission denied"):
        featurize(data, workers=1, cache=tmp_path / "cache", progress=False)
    assert path.is_file()


def test_files_get_the_users_umask_and_dead_writers_temporaries_go(data, tmp_path, capsys):
    model = random_model(tmp_path / "m.pt")
    out = tmp_path / "out"
    out.mkdir()
    dead, alive = out / ".p.csv.999999999.x1.tmp", out / f".p.csv.{os.getpid()}.x2.tmp"
    dead.write_text("left by a killed run")
    alive.write_text("being written")
    old = os.umask(0o027)
    try:
        assert run_cli(["predict", "--model", model, "--out", out / "p.csv", data], capsys)[0] == 0
    finally:
        os.umask(old)
    assert (out / "p.csv").stat().st_mode & 0o777 == 0o640
    assert not dead.exists() and alive.exists()


def test_a_full_disk_is_one_error_and_keeps_the_previous_file(data, tmp_path, capsys, monkeypatch):
    model = random_model(tmp_path / "m.pt")
    out = tmp_path / "p.csv"
    assert run_cli(["predict", "--model", model, "--out", out, data], capsys)[0] == 0
    before = out.read_text()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("cgcnn.apps.pipeline.release_freed_memory", full)  # fails while the file is written
    code, _, err = run_cli(["predict", "--model", model, "--out", out, data], capsys)
    clear_error(code, err, "p.csv: cannot write: No space left on device")
    assert out.read_text() == before and [p.name for p in tmp_path.glob(".p.csv.*")] == []


@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_a_cache_folder_blocked_by_a_file_is_one_error(data, tmp_path, capsys, where):
    (tmp_path / "blocker").write_text("")
    cache = tmp_path / "blocker" if where == "a file" else tmp_path / "blocker" / "cache"
    code, _, err = run_cli(["featurize", data, "--cache-dir", cache, "--workers", "1", "--no-progress"], capsys)
    clear_error(code, err, "blocker", "is not a folder")


# ---------------------------------------------------------------- 4. resume with other data or settings


@pytest.mark.parametrize("change, listed", [
    (["--lr", "0.05"], "lr: 0.01 in the saved run, 0.05 now"),
    (["--max-neighbors", "8"], "max_neighbors: 12 in the saved run, 8 now"),
    (["--optim", "adam"], "optimizer: 'sgd' in the saved run, 'adam' now"),
    ("target", "target values: changed since the saved run"),
    ("structure", "structure files: changed since the saved run"),
])
def test_resume_refuses_other_data_or_settings_and_lists_them(data, tmp_path, capsys, change, listed):
    run = tmp_path / "run"
    assert run_cli(["train", data, "--out", run, *TRAIN], capsys)[0] == 0
    extra = change if isinstance(change, list) else []
    if change == "target":
        rows = (data / "id_prop.csv").read_text().splitlines()
        rows[3] = rows[3].split(",")[0] + ",1.2345"
        (data / "id_prop.csv").write_text("\n".join(rows) + "\n")
    elif change == "structure":
        text = (data / "4.cif").read_text()
        (data / "4.cif").write_text(text.replace("_cell_length_a", "_cell_length_a  ", 1) + "\n# edited\n")
    before = (run / "checkpoint.pt").read_bytes()
    code, _, err = run_cli(["train", data, "--out", run, "--resume", *TRAIN, *extra], capsys)
    assert code == 2 and "cannot resume" in err and listed in err and "Traceback" not in err, err
    if change != "structure":  # nothing else is blamed: a neighbour setting is no change of the files
        assert "structure files" not in err, err
    assert (run / "checkpoint.pt").read_bytes() == before


def test_resume_may_extend_the_epochs(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(["train", data, "--out", run, *TRAIN], capsys)[0] == 0
    more = ["--epochs", "2", "--n-conv", "1", "--batch-size", "8", "--workers", "2", "--no-progress"]
    args = ["train", data, "--out", run, "--resume", *more]
    assert run_cli(args, capsys)[0] == 0
    assert len(list(csv.DictReader(open(run / "log.csv")))) == 2


# ---------------------------------------------------------------- 5. several data_ blocks


def two_blocks(data):
    (data / "two.cif").write_text((data / "1.cif").read_text() + "\n" + (data / "2.cif").read_text())
    return data / "two.cif"


def test_every_block_of_a_cif_is_predicted(data, tmp_path, capsys):
    model = random_model(tmp_path / "m.pt")
    both = two_blocks(data)
    out = tmp_path / "p.csv"
    assert run_cli(["predict", "--model", model, "--out", out, both, data / "1.cif", data / "2.cif"], capsys)[0] == 0
    values = {r["id"]: float(r["prediction"]) for r in read_predictions(out)}
    assert values["two:0"] == pytest.approx(values["1"]) and values["two:1"] == pytest.approx(values["2"])


def test_a_dataset_entry_with_several_blocks_is_refused_or_listed(data, tmp_path, capsys):
    (data / "3.cif").write_text(two_blocks(data).read_text())
    (data / "two.cif").unlink()
    code, _, err = run_cli(["train", data, "--out", tmp_path / "run", *TRAIN], capsys)
    clear_error(code, err, "3.cif: holds 2 crystal structures")
    assert run_cli(["train", data, "--out", tmp_path / "run", "--skip-bad", *TRAIN], capsys)[0] == 0
    assert "holds 2 crystal structures" in (tmp_path / "run" / "skipped.csv").read_text()


# ---------------------------------------------------------------- 6. models that would answer NaN


@pytest.mark.parametrize("buffers, message", [
    ({"target_mean": float("nan")}, "NaN or infinite values (target_mean)"),
    ({"target_std": 0.0}, "target spread (target_std) is zero"),
])
def test_a_broken_model_file_is_refused(data, tmp_path, capsys, buffers, message):
    model = random_model(tmp_path / "m.pt", **buffers)
    code, _, err = run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", data], capsys)
    clear_error(code, err, "m.pt", message)


def test_a_non_finite_prediction_is_an_error_never_nan_in_the_table(data, tmp_path, capsys):
    model = random_model(tmp_path / "m.pt", fc_out__bias=3e38, target_std=10.0)  # finite weights, infinite output
    code, _, err = run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", data], capsys)
    err = err.split("\r")[-1]  # after the progress bar, which the error clears
    clear_error(code, err, "not a finite number")
    assert not (tmp_path / "p.csv").exists()
    code, out, _ = run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", "--skip-bad", data], capsys)
    listed = list(csv.DictReader(open(tmp_path / "p.skipped.csv")))
    assert code == 0 and len(listed) + len(read_predictions(tmp_path / "p.csv")) == 12
    assert "nan" not in (tmp_path / "p.csv").read_text().lower().split("\n", 1)[1]


# ---------------------------------------------------------------- 7. what --skip-bad left out


def test_featurize_lists_what_it_left_out_and_drops_a_stale_list(data, tmp_path, capsys):
    (data / "5.cif").write_text("garbage")
    code, out, _ = run_cli(["featurize", data, "--skip-bad", "--cache-dir", tmp_path / "c", "--workers", "1",
                            "--no-progress"], capsys)
    import json

    listed = json.loads(out)["skipped_list"]
    assert code == 0 and "5.cif: cannot read" not in listed and "cannot read" in open(listed).read()


def test_nothing_usable_says_why_and_still_lists_them(data, tmp_path, capsys):
    for path in data.glob("*.cif"):
        path.write_text("garbage")
    run = tmp_path / "run"
    code, _, err = run_cli(["train", data, "--out", run, "--skip-bad", *TRAIN], capsys)
    clear_error(code, err, "no usable crystal: all 12 were left out", "cannot read a crystal structure", "(12×)")
    assert len(list(csv.DictReader(open(run / "skipped.csv")))) == 12


def test_a_stale_skipped_list_does_not_survive(data, tmp_path, capsys):
    model = random_model(tmp_path / "m.pt")
    (tmp_path / "p.skipped.csv").write_text("id,file,reason\nold,old.cif,from an earlier run\n")
    assert run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", data], capsys)[0] == 0
    assert not (tmp_path / "p.skipped.csv").exists()


# ---------------------------------------------------------------- 8. answers in the right units


def test_screen_refuses_a_model_of_another_quantity(tmp_path, capsys):
    code, _, err = run_cli(["screen", "--model", "formation-energy", "--a", "Sr", "--b", "Ti",
                            "--out", tmp_path / "s.csv"], capsys)
    clear_error(code, err, "predicts formation_energy_per_atom [eV/atom]", "eV/cell")
    assert not (tmp_path / "s.csv").exists()


def test_tables_say_what_they_hold_band_gaps_are_not_negative_and_moduli_come_in_gpa(data, tmp_path, capsys):
    gap = random_model(tmp_path / "gap.pt", target="band_gap", target_mean=-5.0)  # predicts below zero
    assert run_cli(["predict", "--model", gap, "--out", tmp_path / "g.csv", data], capsys)[0] == 0
    assert (tmp_path / "g.csv").read_text().startswith("id,prediction")  # plain CSV; what it holds beside it
    assert "band_gap clipped at 0" in (tmp_path / "g.csv-metadata.json").read_text()
    assert all(float(r["prediction"]) == 0.0 for r in read_predictions(tmp_path / "g.csv"))
    assert run_cli(["predict", "--model", "bulk-modulus", "--out", tmp_path / "k.csv", data], capsys)[0] == 0
    rows = read_predictions(tmp_path / "k.csv")
    assert list(rows[0]) == ["id", "prediction", "std", "prediction_GPa", "ood", "ood_score"]
    assert all(float(r["prediction_GPa"]) == pytest.approx(10 ** float(r["prediction"]), rel=1e-4) for r in rows)


# ---------------------------------------------------------------- 9. tables in other encodings


@pytest.mark.parametrize("encode, message", [
    (lambda text: text.encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
    (lambda text: text.replace("1,", "é,", 1).encode("latin-1"), "is not UTF-8 text"),
    (lambda text: b"\x00\x01\x02" * 50, "is a binary file"),
])
def test_a_table_in_another_encoding_is_one_clear_error(data, tmp_path, capsys, encode, message):
    (data / "id_prop.csv").write_bytes(encode((data / "id_prop.csv").read_text()))
    code, _, err = run_cli(["train", data, "--out", tmp_path / "run", *TRAIN], capsys)
    clear_error(code, err, "id_prop.csv", message)


def test_a_bom_and_a_header_row_are_understood(data, tmp_path, capsys):
    text = (data / "id_prop.csv").read_text()
    (data / "id_prop.csv").write_bytes(b"\xef\xbb\xbf" + ("id,formation_energy\n" + text).encode())
    assert run_cli(["train", data, "--out", tmp_path / "run", *TRAIN], capsys)[0] == 0
    import json

    assert "formation_energy" in json.loads((tmp_path / "run" / "test_metrics.json").read_text())["test"]["targets"]


def test_a_table_of_python_literal_structures(data, tmp_path, capsys):
    from pymatgen.core import Structure

    rows = [(p.stem, repr(Structure.from_file(str(p)).as_dict())) for p in sorted(data.glob("*.cif"))[:3]]
    with open(tmp_path / "t.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("id", "structure"), *rows])
    assert "'@module'" in rows[0][1]  # single quotes: not JSON
    model = random_model(tmp_path / "m.pt")
    assert run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", tmp_path / "t.csv"], capsys)[0] == 0
    assert len(read_predictions(tmp_path / "p.csv")) == 3


# ---------------------------------------------------------------- 11. cells that would exhaust memory


def test_a_cell_spanning_thousands_of_angstrom_is_refused_before_allocating():
    from cgcnn.graphs.graph import build_graph
    from cgcnn.io.crystal import Crystal

    size = 3000.0  # under the 10^4 Å limit, but the neighbour grid would take ~13 GB
    crystal = Crystal(np.eye(3) * size, np.array([[0, 0, 0], [1.5, 0, 0], [size - 2, size - 2, size - 2]]),
                      np.array([11, 17, 11]))
    with pytest.raises(InputError, match="the neighbour search over this cell would need about 13.4 GB"):
        build_graph(crystal, source="huge")


# ---------------------------------------------------------------- 12. messages that point the right way


def test_a_run_folder_or_its_checkpoint_stands_for_its_model(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(["train", data, "--out", run, *TRAIN], capsys)[0] == 0
    outputs = []
    for model in (run / "best.pt", run, run / "checkpoint.pt"):
        out = tmp_path / f"p{len(outputs)}.csv"
        assert run_cli(["predict", "--model", model, "--out", out, data], capsys)[0] == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1] == outputs[2]


def test_prediction_errors_do_not_suggest_training_options_and_stay_on_their_line(tmp_path, capsys):
    from pymatgen.core import Lattice, Structure

    lonely = Structure(Lattice.cubic(30.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lonely.to(filename=str(tmp_path / "lonely.cif"))
    code, out, err = run_cli(["predict", "--model", "formation-energy", "--out", tmp_path / "p.csv",
                              tmp_path / "lonely.cif", "--no-progress"], capsys)
    clear_error(code, err, "has no neighbour within 8.0 Å, the graph radius")
    assert "use a larger --radius" not in err and out == ""


# ---------------------------------------------------------------- round 3: labels, targets, options, recipes


def _labelled(data, column_values):
    """The folder's id_prop.csv with a header and these label columns (name: function of the row number)."""
    path = data / "id_prop.csv"
    ids = [line.split(",")[0] for line in path.read_text().splitlines() if not line.startswith("id,")]
    header = ["id", *column_values]
    rows = [[i, *(f(k) for f in column_values.values())] for k, i in enumerate(ids)]
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    return data


def test_evaluate_refuses_labels_it_cannot_score(data, capsys):
    _labelled(data, {"formation_energy_per_atom": lambda k: "nan"})
    clear_error(*run_cli(["evaluate", "--model", "formation-energy", data], capsys)[::2],
                "holds no value (all empty or NaN)")
    _labelled(data, {"is_metal": lambda k: [0.7, 3][k % 2]})
    clear_error(*run_cli(["evaluate", "--model", "metal-classifier", data], capsys)[::2], "not a class of this classifier")
    _labelled(data, {"band_gap": lambda k: [0.0, 1.25][k % 2]})  # band gaps against the metal classifier
    clear_error(*run_cli(["evaluate", "--model", "metal-classifier", "--targets", "band_gap", data], capsys)[::2],
                "holds 1.25, not a class")


def test_train_honours_targets_on_a_folder_with_two_columns(data, tmp_path, capsys):
    _labelled(data, {"formation_energy": lambda k: -1.0 - 0.1 * k, "band_gap": lambda k: 0.5 * k})
    code, _, err = run_cli(["train", data, "--targets", "band_gap", "--out", tmp_path / "run", *TRAIN], capsys)
    assert code == 0, err
    from cgcnn import load_model

    assert load_model(tmp_path / "run" / "best.pt").target_names == ["band_gap"]
    clear_error(*run_cli(["train", data, "--targets", "gap", "--out", tmp_path / "r2", *TRAIN], capsys)[::2],
                "no target column 'gap'")


def test_an_option_given_twice_and_no_inputs_are_errors(data, tmp_path, capsys):
    clear_error(*run_cli(["predict", "--model", "formation-energy", "--model", "band-gap", "--out",
                          tmp_path / "p.csv", data], capsys)[::2], "--model is given twice")
    clear_error(*run_cli(["predict", "--model", "formation-energy", "--out", tmp_path / "p.csv"], capsys)[::2],
                "no inputs")
    assert not list(tmp_path.glob("p.csv*"))


@pytest.mark.parametrize("recipe,needle", [
    ("epochs: 3\nepochs: 4\n", "'epochs' is given twice"),
    ("epochs: d30\n", "epochs: 'd30' is not a valid value"),
    ("optim: --resume\n", "optim: '--resume' is not a valid value"),
    ("lr: [1, 2]\n", "lr: [1, 2] is not a valid value"),
])
def test_a_recipe_value_is_checked_and_never_read_as_an_option(data, tmp_path, capsys, recipe, needle):
    (tmp_path / "r.yaml").write_text(recipe)
    clear_error(*run_cli(["train", data, "--config", tmp_path / "r.yaml", "--out", tmp_path / "run", *TRAIN],
                         capsys)[::2], str(tmp_path / "r.yaml"), needle)
    assert not (tmp_path / "run").exists()


def test_a_recipe_gives_typed_starting_values_that_the_command_line_overrides(tmp_path):
    from cgcnn.cli import flat_settings, parse

    (tmp_path / "r.yaml").write_text("lr: 0.005\nlr_milestones: [10, 20]\nsplit: [0.5, 0.25, 0.25]\n"
                                     "targets: [band_gap]\nepochs: 7\n")
    values = flat_settings(parse(["train", "DATA", "--config", str(tmp_path / "r.yaml"), "--out", "x", "--epochs",
                                  "9"]).job)
    assert values["data"] == "DATA" and values["epochs"] == 9 and values["lr"] == 0.005
    assert values["lr_milestones"] == [10, 20] and values["split"] == [0.5, 0.25, 0.25]
    assert values["targets"] == ["band_gap"]


def test_screen_names_a_misspelt_element(tmp_path, capsys):
    clear_error(*run_cli(["screen", "--model", "perovskite-heat", "--a", "sr", "--b", "Ti", "--out", tmp_path / "s.csv"],
                         capsys)[::2], "--a: 'sr' is not an element symbol (did you mean 'Sr'?)")
    clear_error(*run_cli(["screen", "--model", "perovskite-heat", "--a", "Sr,Xx", "--b", "Ti", "--out",
                          tmp_path / "s.csv"], capsys)[::2], "--a: 'Xx' is not an element symbol")
    assert not (tmp_path / "s.csv").exists()


def test_output_into_a_closed_pipe_is_quiet(data):
    import subprocess
    import sys

    done = subprocess.run(f"'{sys.executable}' -m cgcnn --no-progress featurize '{data}' --workers 1 | head -c 1",
                          shell=True, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_a_near_miss_model_name_gets_a_suggestion(data, tmp_path, capsys):
    clear_error(*run_cli(["predict", "--model", "formation_energy", "--out", tmp_path / "p.csv", data], capsys)[::2],
                "did you mean formation-energy?")


def test_the_device_is_auto_by_default_and_a_bad_name_is_one_clear_error(data, tmp_path, capsys):
    from cgcnn.config import PredictConfig, TrainConfig

    assert PredictConfig().device == TrainConfig().device == "auto"  # the CPU here: no GPU
    assert run_cli(["--no-progress", "predict", "--model", "formation-energy", "--out", tmp_path / "p.csv", data],
                   capsys)[0] == 0
    clear_error(*run_cli(["predict", "--model", "formation-energy", "--device", "gpu", "--out", tmp_path / "q.csv",
                          data], capsys)[::2], "--device 'gpu' is not a device")
