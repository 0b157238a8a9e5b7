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
