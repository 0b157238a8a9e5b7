"""Fixed split files, learning-rate warm-up and ensembles (real crystals, short real trainings)."""

import csv
import json

import numpy as np
import pytest
from conftest import read_predictions

from cgcnn import load_model
from cgcnn.model import model_from_file
from cgcnn.errors import InputError
from cgcnn.model import ModelConfig
from cgcnn import TrainConfig, train
from cgcnn.training import lr_factor
from test_cli import run_cli, small_dataset

FAST = dict(optimizer="adam", lr=3e-3, scheduler="cosine", batch_size=16)


def write_split(path, ids, n_train, n_val):
    path.write_text(json.dumps({"train": ids[:n_train], "val": ids[n_train:n_train + n_val],
                                "test": ids[n_train + n_val:]}))
    return path


def test_warmup_rises_linearly_then_follows_the_cosine():
    cfg = TrainConfig(epochs=10, scheduler="cosine", warmup_epochs=3)
    factors = [lr_factor(cfg, e) for e in range(10)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4:] == sorted(factors[4:], reverse=True) and factors[-1] > 0
    assert lr_factor(TrainConfig(scheduler="step", lr_milestones=[2]), 2) == pytest.approx(0.1)


def test_split_file_fixes_the_crystals_of_each_part(tiny100, tmp_path):
    data = small_dataset(tiny100, tmp_path / "data", n=30)
    ids = [line.split(",")[0] for line in (data / "id_prop.csv").read_text().splitlines()]
    split = write_split(tmp_path / "split.json", ids[::-1], 18, 6)
    train(data, tmp_path / "run", ModelConfig(n_conv=1), TrainConfig(epochs=1, split_file=str(split), **FAST),
          progress=False)
    written = json.loads((tmp_path / "run" / "split.json").read_text())
    assert written == json.loads(split.read_text())


@pytest.mark.parametrize("content, message", [
    ('{"train": ["0"], "val": ["1"]}', "not a split file"),
    ('{"train": ["0", "nope"], "val": ["1"], "test": []}', "not usable crystals of the data, e.g. 'nope'"),
    ("[1, 2", "not a split file"),
])
def test_a_bad_split_file_is_named_in_one_clear_error(tiny100, tmp_path, content, message):
    data = small_dataset(tiny100, tmp_path / "data", n=12)
    (tmp_path / "split.json").write_text(content)
    cfg = TrainConfig(epochs=1, split_file=str(tmp_path / "split.json"), **FAST)
    with pytest.raises(InputError, match=message) as caught:
        train(data, tmp_path / "run", ModelConfig(n_conv=1), cfg, progress=False)
    assert "split.json" in str(caught.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_ensemble_trains_members_and_reports_mean_and_spread(tiny100, tmp_path, capsys):
    data = small_dataset(tiny100, tmp_path / "data", n=60)
    run = tmp_path / "run"
    code, out, err = run_cli(["--no-progress", "train", data, "--out", run, "--epochs", "6", "--optim", "adam",
                              "--lr", "3e-3", "--batch-size", "16", "--n-conv", "2", "--ensemble", "3"], capsys)
    assert code == 0, err
    result = json.loads((run / "test_metrics.json").read_text())
    assert out.startswith("ensemble of 3 trained on 36 crystals, validated on 12, tested on 12\n")
    assert result["ensemble"] == 3 and len(result["members_test"]) == 3
    assert -1 <= result["spread_vs_error_spearman"][0] <= 1
    splits = [json.loads((run / f"member-{k}" / "split.json").read_text()) for k in range(3)]
    assert splits[0] == splits[1] == splits[2]  # one split, different seeds for the weights
    weights = [model_from_file(run / f"member-{k}" / "best.pt")[0].state_dict()["embedding.weight"] for k in range(3)]
    assert not np.allclose(weights[0], weights[1])

    rows = list(csv.DictReader(open(run / "test_predictions.csv")))
    assert list(rows[0]) == ["id", "target", "prediction", "std"]
    members = [{r["id"]: float(r["prediction"]) for r in csv.DictReader(open(run / f"member-{k}" / "test_predictions.csv"))}
               for k in range(3)]
    for row in rows[:5]:
        values = [m[row["id"]] for m in members]
        assert float(row["prediction"]) == pytest.approx(np.mean(values), abs=1e-4)
        assert float(row["std"]) == pytest.approx(np.std(values), abs=1e-4)
    assert result["test"]["mae"] == pytest.approx(
        np.mean([abs(float(r["prediction"]) - float(r["target"])) for r in rows]), abs=1e-4)

    # the ensemble file predicts the same mean and spread through `cgcnn predict`
    some = [r["id"] for r in rows[:4]]
    assert run_cli(["predict", "--model", run / "ensemble.pt", "--out", tmp_path / "p.csv",
                    *[data / f"{i}.cif" for i in some]], capsys)[0] == 0
    again = {r["id"]: r for r in read_predictions(tmp_path / "p.csv")}
    for row in rows[:4]:
        assert float(again[row["id"]]["prediction"]) == pytest.approx(float(row["prediction"]), abs=1e-4)
        assert float(again[row["id"]]["std"]) == pytest.approx(float(row["std"]), abs=1e-4)
    assert load_model(run / "ensemble.pt").is_ensemble

    # member k alone, e.g. on another machine: --init-seed k gives the same weights as the ensemble's member k
    code, _, err = run_cli(["--no-progress", "train", data, "--out", tmp_path / "solo", "--epochs", "6", "--optim",
                            "adam", "--lr", "3e-3", "--batch-size", "16", "--n-conv", "2", "--init-seed", "1"], capsys)
    assert code == 0, err
    solo = model_from_file(tmp_path / "solo" / "best.pt")[0].state_dict()
    for key, value in model_from_file(run / "member-1" / "best.pt")[0].state_dict().items():
        np.testing.assert_allclose(solo[key], value, atol=1e-6, err_msg=key)

    # a finished ensemble resumes to the same result without training again
    code, out, err = run_cli(["--no-progress", "train", data, "--out", run, "--epochs", "6", "--optim", "adam",
                              "--lr", "3e-3", "--batch-size", "16", "--n-conv", "2", "--ensemble", "3", "--resume"],
                             capsys)
    assert code == 0 and json.loads((run / "test_metrics.json").read_text())["test"] == result["test"]
    code, _, err = run_cli(["train", data, "--out", run, "--ensemble", "3"], capsys)
    assert code == 2 and "already holds an ensemble run" in err


def test_single_model_loader_refuses_an_ensemble_with_a_clear_error(tmp_path, tiny100):
    from cgcnn.model import save_ensemble, save_model
    from cgcnn.graphs.elements import default_table, table_to_tensor
    from cgcnn.model import CrystalGraphConvNet

    model = CrystalGraphConvNet(ModelConfig(n_conv=1), table_to_tensor(default_table()))
    save_model(model, tmp_path / "a.pt", ["y"])
    save_ensemble([tmp_path / "a.pt", tmp_path / "a.pt"], tmp_path / "e.pt")
    with pytest.raises(InputError, match="is an ensemble"):
        model_from_file(tmp_path / "e.pt")
    predictor = load_model(tmp_path / "e.pt")
    mean, spread = predictor.predict_spread(read_structure(tiny100 / "0.cif"))
    assert mean.shape == spread.shape == (1, 1) and spread[0, 0] == 0  # identical members agree


def read_structure(path):
    from pymatgen.core import Structure

    return Structure.from_file(path)


def test_an_ensemble_grows_by_training_only_the_new_members(tiny100, tmp_path):
    """A finished ensemble of 2, its members' checkpoints gone (as when bundled from elsewhere), resumed as
    an ensemble of 3: the two finished members are kept as they are and one member trains."""
    data = small_dataset(tiny100, tmp_path / "data", n=30)
    run = tmp_path / "run"
    cfg = TrainConfig(epochs=2, ensemble=2, **FAST)
    train(data, run, ModelConfig(n_conv=1), cfg, progress=False)
    kept = [(run / f"member-{k}" / "best.pt").read_bytes() for k in range(2)]
    for k in range(2):
        (run / f"member-{k}" / "checkpoint.pt").unlink()
    result = train(data, run, ModelConfig(n_conv=1), TrainConfig(epochs=2, ensemble=3, **FAST), resume=True,
                   progress=False)
    assert [(run / f"member-{k}" / "best.pt").read_bytes() for k in range(2)] == kept
    assert result["ensemble"] == 3 and len(result["members_test"]) == 3
    assert len(load_model(run / "ensemble.pt").models) == 3
