"""Several targets with missing labels: empty cells are masked out of the loss, the scaling and the metrics;
a crystal without any label is skipped with its reason. Real crystals from the embedded data."""

import csv
import json

import numpy as np
import pytest
import torch
from conftest import embedded_rows, write_table

from cgcnn import DataLayout, InputError, ModelConfig, TrainConfig, train
from cgcnn.model import model_from_file
from cgcnn.model.calibration import calibrate, coverage, quantile
from cgcnn.training.loop import loss_function
from cgcnn.training.metrics import regression_metrics

QUICK = dict(epochs=3, optimizer="adam", lr=3e-3, scheduler="none", batch_size=16)


@pytest.mark.parametrize("name", ["mse", "l1", "huber"])
def test_masked_loss_equals_the_loss_on_the_labelled_subset(name):
    generator = torch.Generator().manual_seed(0)
    outputs = torch.randn(32, 2, generator=generator, requires_grad=True)
    targets = torch.randn(32, 2, generator=generator)
    targets[::3, 0] = float("nan")
    targets[1::4, 1] = float("nan")
    plain = {"mse": torch.nn.functional.mse_loss, "l1": torch.nn.functional.l1_loss,
             "huber": torch.nn.functional.smooth_l1_loss}[name]
    expected = [plain(outputs[~targets[:, k].isnan(), k], targets[~targets[:, k].isnan(), k]) for k in range(2)]
    loss = loss_function("regression", name)(outputs, targets)
    torch.testing.assert_close(loss, (expected[0] + expected[1]) / 2)
    weighted = loss_function("regression", name, [3.0, 1.0])(outputs, targets)
    torch.testing.assert_close(weighted, (3 * expected[0] + expected[1]) / 4)
    loss.backward()
    assert torch.isfinite(outputs.grad).all()
    assert (outputs.grad[::3, 0] == 0).all()  # a missing label contributes no gradient
    # one target, every label present: exactly the usual mean loss
    full = torch.randn(32, 1, generator=generator)
    torch.testing.assert_close(loss_function("regression", name)(outputs[:, :1], full), plain(outputs[:, :1], full))


def test_metrics_count_only_labelled_crystals():
    targets = np.array([[1.0, np.nan], [2.0, 5.0], [np.nan, 7.0]])
    predictions = np.array([[1.5, 0.0], [2.5, 4.0], [9.0, 8.0]])
    result = regression_metrics(targets, predictions, ["a", "b"])
    assert result["targets"]["a"] == {"n": 2, "mae": 0.5, "rmse": 0.5, "r2": pytest.approx(0.0)}
    assert result["targets"]["b"]["n"] == 2 and result["targets"]["b"]["mae"] == 1.0


def test_calibration_per_target_with_missing_labels():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(400, 2))
    predictions = truth + rng.normal(scale=[0.1, 1.0], size=(400, 2))
    truth[::2, 1] = np.nan  # half the second target unlabelled
    record = calibrate(truth, predictions, None)
    assert [sum(len(group) for group in s) for s in record["scores"]] == [400, 200]  # per group of prediction
    assert quantile(record, 0.9)[1] > 5 * quantile(record, 0.9)[0]
    fresh = rng.normal(size=(2000, 2))
    result = coverage(record, fresh, fresh + rng.normal(scale=[0.1, 1.0], size=(2000, 2)), None, (0.9,))
    assert result["0.9"]["coverage"] == pytest.approx([0.9, 0.9], abs=0.03)


def sparse_table(path, rows):
    """Formation energy for every crystal; a second target (a scaled copy) for one in three; one crystal
    with no label at all."""
    table = []
    for k, row in enumerate(rows):
        energy = float(row["formation_energy_per_atom"])
        entry = {"id": row["id"], "cif": row["cif"], "energy": energy}
        if k % 3 == 0:
            entry["scaled"] = 10 * energy + 1
        table.append(entry)
    table[5] = {"id": table[5]["id"], "cif": table[5]["cif"], "energy": "", "scaled": "nan"}
    return write_table(path, table, ["id", "cif", "energy", "scaled"])


def test_training_with_sparse_labels(tmp_path):
    rows = embedded_rows(90)
    table = sparse_table(tmp_path / "data.csv", rows)
    result = train(table, tmp_path / "run", ModelConfig(n_conv=2), TrainConfig(**QUICK, target_weights=[1, 0.5]),
                   progress=False)
    skipped = list(csv.reader(open(tmp_path / "run" / "skipped.csv")))
    assert skipped[1][0] == rows[5]["id"] and "no label" in skipped[1][2]
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    labelled_b = {r["id"] for k, r in enumerate(rows) if k % 3 == 0 and k != 5}
    assert result["test"]["targets"]["energy"]["n"] == len(split["test"])
    assert result["test"]["targets"]["scaled"]["n"] == len(labelled_b & set(split["test"]))
    assert np.isfinite(result["test"]["targets"]["scaled"]["mae"])
    # each target scaled by its own labelled training values
    model = model_from_file(tmp_path / "run" / "best.pt")[0]
    energies = {r["id"]: float(r["formation_energy_per_atom"]) for r in rows}
    scaled = [10 * energies[i] + 1 for i in split["train"] if i in labelled_b]
    assert model.target_mean[1].item() == pytest.approx(np.mean(scaled), rel=1e-5)
    predictions = list(csv.DictReader(open(tmp_path / "run" / "test_predictions.csv")))
    empty = [r for r in predictions if r["target_scaled"] == ""]
    assert empty and all(r["prediction_scaled"] for r in empty)  # predicted, though unlabelled


def test_wrong_number_of_target_weights_is_refused(tmp_path):
    table = sparse_table(tmp_path / "data.csv", embedded_rows(30))
    with pytest.raises(InputError, match="3 weights for 2 targets"):
        train(table, tmp_path / "run", cfg=TrainConfig(**QUICK, target_weights=[1, 1, 1]), progress=False)


def test_one_split_file_serves_a_sparse_target(tmp_path):
    """A split file listing every crystal trains a target that only some of them have: the unlabelled ones
    are left out (and listed), not an error."""
    rows = embedded_rows(60)
    table = sparse_table(tmp_path / "data.csv", rows)
    ids = [r["id"] for r in rows]
    (tmp_path / "split.json").write_text(json.dumps({"train": ids[:36], "val": ids[36:48], "test": ids[48:]}))
    result = train(table, tmp_path / "run", ModelConfig(n_conv=1), TrainConfig(**QUICK, split_file=str(tmp_path / "split.json")),
                   DataLayout(targets=["scaled"]), progress=False)
    labelled = [i for k, i in enumerate(ids) if k % 3 == 0 and k != 5]
    assert result["n_train"] + result["n_val"] + result["n_test"] == len(labelled)
    skipped = list(csv.reader(open(tmp_path / "run" / "skipped.csv")))[1:]
    assert len(skipped) == len(ids) - len(labelled) and all("no label" in r[2] for r in skipped)
