"""`cgcnn evaluate`: a model scored on labelled data, with the metrics the training report uses."""

import numpy as np
import pytest
from conftest import embedded_rows, read_predictions, write_table
from test_cli import run_cli

from cgcnn import load_model
from cgcnn.apps.evaluate import evaluate_files


def test_evaluate_scores_the_predictions_against_the_labels(tmp_path, capsys):
    rows = embedded_rows(30)
    table = write_table(tmp_path / "labelled.csv", rows, ["id", "cif", "formation_energy_per_atom"])
    result = evaluate_files("formation-energy", table, tmp_path / "scored.csv", progress=False)
    values = load_model("formation-energy").predict_items([r["cif"] for r in rows], [r["id"] for r in rows])[:, 0]
    labels = np.array([float(r["formation_energy_per_atom"]) for r in rows])
    assert result["n"] == 30 and result["mae"] == pytest.approx(np.abs(values - labels).mean(), rel=1e-5)
    written = list(read_predictions(tmp_path / "scored.csv"))
    assert [r["id"] for r in written] == [r["id"] for r in rows] and list(written[0]) == ["id", "target", "prediction"]

    # a column under another name is chosen with --targets; the wrong count is one clear error
    renamed = write_table(tmp_path / "renamed.csv", [{**r, "dft": r["formation_energy_per_atom"], "other": 1}
                                                     for r in rows], ["id", "cif", "dft", "other"])
    code, out, err = run_cli(["--no-progress", "evaluate", "--model", "formation-energy", renamed], capsys)
    assert code == 2 and "2 label columns (dft, other) for a model of 1 target(s)" in err
    code, out, err = run_cli(["--no-progress", "evaluate", "--model", "formation-energy", renamed, "--targets", "dft"],
                             capsys)
    assert code == 0, err
    assert f"MAE {result['mae']:.4g}" in out and "30 labelled crystals" in out


def test_evaluate_and_predict_say_which_inputs_the_model_was_trained_on(tiny100, tmp_path, capsys):
    """A model records its training crystals (ids and structure fingerprints); an input seen in training is
    found by its id, or by its structure under another name, and evaluate scores the unseen ones alone too."""
    import json
    import shutil

    from test_cli import small_dataset

    data = small_dataset(tiny100, tmp_path / "data", n=20)
    run = tmp_path / "run"
    assert run_cli(["--no-progress", "train", data, "--out", run, "--epochs", "1", "--n-conv", "1", "--batch-size",
                    "8", "--workers", "1"], capsys)[0] == 0
    trained = load_model(run / "best.pt").metadata["training_set"]
    train_ids = json.loads((run / "split.json").read_text())["train"]
    assert sorted(trained["ids"]) == sorted(map(str, train_ids)) and len(trained["fingerprints"]) >= 1
    result = evaluate_files(run / "best.pt", data, progress=False)
    assert result["seen_in_training"] == len(train_ids) and result["unseen"]["n"] == 20 - len(train_ids)
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy(data / f"{train_ids[0]}.cif", renamed / "not-an-id-it-knows.cif")
    code, _, err = run_cli(["--no-progress", "predict", "--model", run, "--out", tmp_path / "p.csv", renamed], capsys)
    assert code == 0 and "1 of the crystals predicted in this run were among the model's training crystals" in err
