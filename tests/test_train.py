"""Real training runs on real Materials Project crystals (a few seconds each on 2 CPU cores)."""

import csv
import json
import shutil

import numpy as np
import pytest
from conftest import read_predictions
import torch

from cgcnn.model import safe_load
from cgcnn.model import ModelConfig
from cgcnn import TrainConfig, train
from test_cli import run_cli, small_dataset

pytestmark = pytest.mark.slow
FAST = dict(optimizer="adam", lr=3e-3, scheduler="cosine", batch_size=16)


def test_training_beats_the_mean_predictor(tiny100, tmp_path, capsys):
    data = small_dataset(tiny100, tmp_path / "data", n=100)
    run = tmp_path / "run"
    code, out, err = run_cli(["--no-progress", "train", data, "--out", run, "--epochs", "40", "--optim", "adam",
                              "--lr", "3e-3", "--scheduler", "cosine", "--batch-size", "16"], capsys)
    assert code == 0, err
    result = json.loads((run / "test_metrics.json").read_text())
    assert result["val"]["n"] == 20 and result["val"]["mae"] > 0  # what choices between runs are made on
    # people get a few lines; the whole report is in the file
    lines = out.splitlines()
    assert lines[0] == f"trained on 60 crystals (best epoch {result['best_epoch']}), validated on 20, tested on 20"
    assert lines[1].startswith(f"target: test MAE {result['test']['mae']:.4g} in label units (mean predictor ")
    assert lines[-1] == f"report in {run / 'test_metrics.json'}, predictions in {run / 'test_predictions.csv'}"
    assert result["n_train"] == 60 and result["n_val"] == 20 and result["n_test"] == 20
    assert result["test"]["mae"] < 0.6 * result["test_mean_baseline"]["mae"]
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "checkpoint.pt", "log.csv", "split.json",
                                                     "test_metrics.json", "test_predictions.csv"]
    assert len(list(csv.DictReader(open(run / "log.csv")))) == 40
    split = json.loads((run / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])

    # the saved model predicts the same numbers through `cgcnn predict`
    tested = {r["id"]: float(r["prediction"]) for r in csv.DictReader(open(run / "test_predictions.csv"))}
    some = sorted(tested)[:5]
    assert run_cli(["predict", "--model", run / "best.pt", "--out", tmp_path / "p.csv",
                    *[data / f"{i}.cif" for i in some]], capsys)[0] == 0
    again = {r["id"]: float(r["prediction"]) for r in read_predictions(tmp_path / "p.csv")}
    assert again == pytest.approx({i: tested[i] for i in some}, abs=1e-4)


def test_resume_continues_to_the_same_weights(tiny100, tmp_path):
    data = small_dataset(tiny100, tmp_path / "data", n=40)
    # a schedule that does not depend on the total number of epochs, so 2 + 2 equals 4
    cfg = dict(FAST, scheduler="step", lr_milestones=[3])
    train(data, tmp_path / "straight", ModelConfig(n_conv=2), TrainConfig(epochs=4, **cfg), progress=False)
    train(data, tmp_path / "halves", ModelConfig(n_conv=2), TrainConfig(epochs=2, **cfg), progress=False)
    # a checkpoint from before the closed-form schedule held a MultiStepLR state: it resumes the same
    old = safe_load(tmp_path / "halves" / "checkpoint.pt")
    old["scheduler"] = {"milestones": {3: 1}, "gamma": 0.1, "base_lrs": [3e-3], "last_epoch": 2}
    torch.save(old, tmp_path / "halves" / "checkpoint.pt")
    with pytest.raises(Exception, match="already holds a training run"):
        train(data, tmp_path / "halves", ModelConfig(n_conv=2), TrainConfig(epochs=4, **cfg), progress=False)
    train(data, tmp_path / "halves", ModelConfig(n_conv=2), TrainConfig(epochs=4, **cfg), resume=True,
          progress=False)
    a = safe_load(tmp_path / "straight" / "checkpoint.pt")
    b = safe_load(tmp_path / "halves" / "checkpoint.pt")
    assert a["state"]["epoch"] == b["state"]["epoch"] == 4
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=0, atol=1e-6, equal_nan=True, msg=key)
    assert [r["epoch"] for r in csv.DictReader(open(tmp_path / "halves" / "log.csv"))] == ["1", "2", "3", "4"]

    # killed after the last checkpoint but before its log line: resuming the finished run restores the log
    log = tmp_path / "halves" / "log.csv"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:-1]))
    train(data, tmp_path / "halves", ModelConfig(n_conv=2), TrainConfig(epochs=4, **cfg), resume=True,
          progress=False)
    assert [r["epoch"] for r in csv.DictReader(open(log))] == ["1", "2", "3", "4"]


def test_metal_classification_with_eq4_from_a_table(tiny100, tmp_path, capsys):
    rows = list(csv.reader(open(tiny100 / "id_prop.csv")))
    with open(tmp_path / "metals.csv", "w") as handle:
        handle.write("id,structure,metal\n")
        handle.writelines(f"{r[0]},{tiny100 / (r[0] + '.cif')},{int(float(r[2]) == 0)}\n" for r in rows)
    run = tmp_path / "run"
    code, out, err = run_cli(["--no-progress", "train", tmp_path / "metals.csv", "--out", run, "--task",
                              "classification", "--conv", "shared", "--epochs", "15", "--optim", "adam", "--lr",
                              "3e-3", "--batch-size", "16"], capsys)
    assert code == 0, err
    test = json.loads((run / "test_metrics.json").read_text())["test"]
    assert "test accuracy" in out and "ROC-AUC" in out
    assert 0 <= test["accuracy"] <= 1 and test["roc_auc"] is not None
    header = open(run / "test_predictions.csv").readline().strip()
    assert header == "id,target,prediction,class"


def test_two_targets_and_early_stopping(tiny100, tmp_path):
    data = tmp_path / "data"
    small_dataset(tiny100, data, n=30)
    shutil.copy(tiny100 / "id_prop.csv", data / "id_prop.csv")
    (data / "id_prop.csv").write_text("\n".join((tiny100 / "id_prop.csv").read_text().splitlines()[:30]) + "\n")
    cfg = TrainConfig(epochs=20, patience=2, optimizer="adam", lr=0.05, scheduler="none", batch_size=8)
    result = train(data, tmp_path / "run", ModelConfig(n_conv=1), cfg, progress=False)
    assert set(result["test"]["targets"]) == {"1", "2"}
    log = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert len(log) < 20 and len(log) == result["best_epoch"] + 2
    header = open(tmp_path / "run" / "test_predictions.csv").readline().strip()
    assert header == "id,target_1,target_2,prediction_1,prediction_2"


def test_demo_runs_on_the_embedded_data(tmp_path, capsys):
    code, out, err = run_cli(["--no-progress", "demo", "--out", tmp_path / "demo", "--epochs", "2"], capsys)
    assert code == 0, err
    assert "test MAE" in out and "mean predictor" in out
    assert _shape(out.replace(str(tmp_path / "demo"), "runs/demo")) == _shape(_readme_demo_sample()[:-2])
    assert (tmp_path / "demo" / "parity.png").stat().st_size > 10_000
    metrics = json.loads((tmp_path / "demo" / "test_metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 1500
    assert np.isfinite(metrics["test"]["mae"])


def _readme_demo_sample() -> list[str]:
    """The lines the README shows `make demo` printing (the block after "on that host it prints")."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    return readme.split("it prints", 1)[1].split("```", 2)[1].strip("\n").splitlines()


def _shape(lines) -> list[str]:
    """Lines with their numbers and ids blanked: what stays the same from one CPU (or epoch count) to another."""
    import re

    lines = lines.splitlines() if isinstance(lines, str) else lines
    return [re.sub(r"mp-\d+|[-+]?\d[\d,.]*", "#", line).strip() for line in lines]


def test_the_readme_shows_what_make_demo_prints_after_it():
    """The Makefile's demo target ends with two echoed lines; the README's sample ends with the same two."""
    import re
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    target = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    echoed = [m.replace("$(VENV)", ".venv") for m in re.findall(r'@echo "(.*)"', target)]
    assert echoed and _readme_demo_sample()[-len(echoed):] == echoed


def test_compiled_training_matches_eager(tiny100, tmp_path):
    data = small_dataset(tiny100, tmp_path / "data", n=40)
    from torch._dynamo.utils import counters

    cfg = dict(FAST, scheduler="none")
    counters.clear()
    eager = train(data, tmp_path / "eager", ModelConfig(n_conv=1), TrainConfig(epochs=2, **cfg), progress=False)
    assert not counters["stats"]["unique_graphs"]  # eager: nothing went through torch.compile
    compiled = train(data, tmp_path / "compiled", ModelConfig(n_conv=1), TrainConfig(epochs=2, compile=True, **cfg),
                     progress=False)
    assert counters["stats"]["unique_graphs"] >= 1  # the compiled path really ran
    # fused kernels sum in another order: the same training up to float rounding over a few steps
    assert compiled["test"]["mae"] == pytest.approx(eager["test"]["mae"], rel=1e-2)


def test_bf16_forward_matches_fp32_to_a_stated_tolerance(tiny100):
    """bf16 keeps 8 bits of mantissa. On real crystals the shipped formation-energy model's bf16 predictions
    agree with fp32 to 0.02 eV/atom at most and 0.005 on average (measured: 0.010 and 0.003)."""
    from cgcnn import load_model
    from cgcnn.config import GraphConfig
    from cgcnn.graphs.batching import GraphDataset, loader
    from cgcnn.graphs.featurize import build_graphs

    paths = sorted(tiny100.glob("*.cif"))[:40]
    graphs = build_graphs(paths, [str(p) for p in paths], GraphConfig(), workers=1, progress=False)
    model = load_model("formation-energy").models[0]
    (batch,) = list(loader(GraphDataset(graphs), 64))
    with torch.no_grad():
        full = model.unscale(model(batch))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model.unscale(model(batch).float())
    difference = (half - full).abs()
    assert float(difference.max()) < 0.02 and float(difference.mean()) < 0.005


def test_training_in_bf16_runs_and_is_recorded(tiny100, tmp_path, capsys):
    data = small_dataset(tiny100, tmp_path / "data", n=40)
    run = tmp_path / "run"
    code, out, err = run_cli(["--no-progress", "train", data, "--out", run, "--epochs", "2", "--n-conv", "1",
                              "--batch-size", "8", "--workers", "1", "--precision", "bf16"], capsys)
    assert code == 0, err
    from cgcnn.model import model_from_file

    assert model_from_file(run / "best.pt")[2]["train_config"]["precision"] == "bf16"
    code, _, err = run_cli(["train", data, "--out", run, "--resume", "--epochs", "3", "--n-conv", "1",
                            "--batch-size", "8", "--workers", "1", "--no-progress", "--precision", "fp32"], capsys)
    assert code == 2 and "precision: 'bf16' in the saved run, 'fp32' now" in err
    # auto resumes in the saved run's precision on any machine
    code, _, err = run_cli(["train", data, "--out", run, "--resume", "--epochs", "3", "--n-conv", "1",
                            "--batch-size", "8", "--workers", "1", "--no-progress", "--precision", "auto"], capsys)
    assert code == 0, err
    assert model_from_file(run / "best.pt")[2]["train_config"]["precision"] == "bf16"


def test_auto_precision_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch):
    from cgcnn.training.loop import resolve_precision

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    for flags, expected in (({"avx512_bf16": True}, "bf16"), ({"amx_bf16": True}, "bf16"),
                            ({"avx512_bf16": False, "avx2": True}, "fp32")):
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda flags=flags: flags)
        assert resolve_precision("auto", cpu) == expected
        assert resolve_precision("auto", gpu) == "fp32"  # not validated on GPUs
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", gpu) == "bf16"


@pytest.mark.parametrize("optim", ["sgd", "adam", "adamw"])
def test_the_learning_rate_given_reaches_the_optimiser(tiny100, tmp_path, optim):
    """log.csv records the optimiser's own rate each epoch: with no schedule it is exactly --lr."""
    data = small_dataset(tiny100, tmp_path / "data", n=30)
    cfg = TrainConfig(epochs=2, optimizer=optim, lr=0.0123, scheduler="none", warmup_epochs=0, batch_size=8)
    train(data, tmp_path / "run", ModelConfig(n_conv=1), cfg, progress=False)
    log = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [float(row["lr"]) for row in log] == [0.0123, 0.0123]
