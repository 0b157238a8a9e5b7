"""Site contributions add up to the prediction: exactly by construction with linear pooling, and by
construction (with an approximate split) for the gradient attribution of full pooling."""

import csv

import numpy as np
import pytest
from conftest import read_predictions
import torch

from cgcnn.model import save_model
from cgcnn import load_model
from cgcnn.cli import main
from cgcnn.graphs.elements import default_table, table_to_tensor
from cgcnn.model import CrystalGraphConvNet, ModelConfig
from test_cli import small_dataset


def model_file(tmp_path, seed=1, **config):
    torch.manual_seed(seed)
    model = CrystalGraphConvNet(ModelConfig(n_conv=2, **config), table_to_tensor(default_table())).eval()
    model.target_mean.fill_(-1.5)
    model.target_std.fill_(0.7)
    path = tmp_path / f"model-{seed}.pt"
    save_model(model, path, ["energy"])
    return path


def ensemble_file(tmp_path, **config):
    from cgcnn.model import save_ensemble

    save_ensemble([model_file(tmp_path, seed, **config) for seed in (1, 2, 3)], tmp_path / "ensemble.pt")
    return tmp_path / "ensemble.pt"


@pytest.mark.parametrize("config, method, make", [
    (dict(pooling="linear", site_reduction="mean"), "exact", model_file),
    (dict(pooling="linear", site_reduction="sum"), "exact", model_file),
    (dict(pooling="full", conv="shared"), "approximate", model_file),
    (dict(pooling="linear", site_reduction="sum"), "exact", ensemble_file),  # members' mean sums to the mean
])
def test_contributions_add_up_to_the_prediction(tiny100, tmp_path, capsys, config, method, make):
    data = small_dataset(tiny100, tmp_path / "data", n=6)
    model = make(tmp_path, **config)
    assert main(["predict", "--model", str(model), "--out", str(tmp_path / "p.csv"), str(data)]) == 0
    assert main(["explain", "--model", str(model), "--out", str(tmp_path / "s.csv"), str(data)]) == 0
    predictions = {r["id"]: float(r["prediction"]) for r in read_predictions(tmp_path / "p.csv")}
    sites = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert list(sites[0]) == ["id", "site", "element", "frac_x", "frac_y", "frac_z", "contribution", "method"]
    assert all(method in r["method"] for r in sites)
    for crystal_id, value in predictions.items():
        shares = [float(r["contribution"]) for r in sites if r["id"] == crystal_id]
        assert sum(shares) == pytest.approx(value, abs=1e-4)
    counts = {i: sum(r["id"] == i for r in sites) for i in predictions}
    assert counts == {i: len(open(data / f"{i}.cif").read().split("_atom_site_occupancy")[1].strip().splitlines())
                      for i in predictions}


def test_linear_pooling_trains(tiny100, tmp_path, capsys):
    data = small_dataset(tiny100, tmp_path / "data", n=40)
    code = main(["--no-progress", "train", str(data), "--out", str(tmp_path / "run"), "--pooling", "linear",
                 "--conv", "shared", "--epochs", "3", "--optim", "adam", "--lr", "3e-3", "--batch-size", "8"])
    assert code == 0
    assert np.isfinite(float(next(csv.DictReader(open(tmp_path / "run" / "test_predictions.csv")))["prediction"]))
    assert load_model(tmp_path / "run").models[0].config.pooling == "linear"
    losses = [float(row["train_loss"]) for row in csv.DictReader(open(tmp_path / "run" / "log.csv"))]
    assert losses[-1] < losses[0], losses


def test_element_missing_from_the_table_is_a_clear_error(tiny100, tmp_path, capsys):
    import json

    data = small_dataset(tiny100, tmp_path / "data", n=12)
    table = {str(z): row for z, row in default_table().items() if z != 8}  # no oxygen
    (tmp_path / "table.json").write_text(json.dumps(table))
    torch.manual_seed(1)
    model = CrystalGraphConvNet(ModelConfig(n_conv=1, pooling="linear"),
                                table_to_tensor({int(k): v for k, v in table.items()})).eval()
    save_model(model, tmp_path / "m.pt", ["energy"])
    oxide = next(p for p in sorted(data.glob("*.cif")) if "\n  O  O" in p.read_text())
    code = main(["explain", "--model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "s.csv"), str(oxide)])
    err = capsys.readouterr().err
    assert code == 2 and "Z=[8]" in err and oxide.name in err
    assert not (tmp_path / "s.csv").exists()
