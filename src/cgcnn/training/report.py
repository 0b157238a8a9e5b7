"""The test report (the metrics of the best model, or an ensemble's mean, on the test split beside a
mean/majority predictor) and what a finished run stores in its model: calibration, domain, training set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..config import PathLike
from ..graphs.graph import fingerprint
from ..io.write import write_text
from ..model import CrystalGraphConvNet
from ..model.catalogue import TARGET_UNITS
from ..model.columns import prediction_columns, write_predictions
from ..model.calibration import calibrate, coverage
from ..model.domain import crystal_vectors, fit_domain, mahalanobis
from .loop import LossFunction, evaluate
from .metrics import metrics_for, spread_ranking
from .prepare import Run, batches
from .run_folder import METRICS, TEST_PREDICTIONS

def validation_calibration(run: Run, models: list[CrystalGraphConvNet], device: torch.device,
                           loss_fn: LossFunction, domain: dict) -> dict | None:
    """A regression model's (or ensemble's) split-conformal calibration on the validation split, its
    intervals scaled by the members' spread and the crystals' distance from training (`domain`)."""
    if models[0].config.task != "regression" or not len(run.datasets["val"]):
        return None
    outputs, targets = [], np.empty(0)
    for model in models:
        _, values, targets, _ = evaluate(model.to(device), batches(run, "val"), loss_fn, device)
        outputs.append(values)
    spread = np.std(outputs, axis=0) if len(models) > 1 else None
    return calibrate(targets, np.mean(outputs, axis=0), spread, split_distance(run, "val", models[0], domain, device))


def split_distance(run: Run, split: str, model: CrystalGraphConvNet, domain: dict, device: torch.device) -> np.ndarray:
    """The Mahalanobis distance from training of a split's crystals, in the order `evaluate` gives them."""
    return mahalanobis(domain, crystal_vectors(model.to(device), batches(run, split), device))


def training_set(run: Run) -> dict:
    """Which crystals the model learned from: their ids and structure fingerprints (graphs.graph.fingerprint),
    so that evaluate and predict can say which inputs were seen in training, ids or not."""
    train = run.datasets["train"]
    return {"ids": [str(run.ids[i]) for i in train.indices],
            "fingerprints": sorted({fingerprint(train.graphs[i]) for i in train.indices})}


def run_domain(run: Run, model: CrystalGraphConvNet, device: torch.device) -> dict:
    """The out-of-domain record of a run (model.domain), from the model's crystal vectors."""
    model = model.to(device)
    train = run.datasets["train"]
    elements = (train.graphs[i].atomic_numbers.numpy() for i in train.indices)
    return fit_domain(crystal_vectors(model, batches(run, "train"), device),
                      crystal_vectors(model, batches(run, "val"), device), elements)


def write_test_report(run: Run, models: list[CrystalGraphConvNet], device: torch.device, loss_fn: LossFunction,
                      result: dict, calibration: dict | None = None, domain: dict | None = None) -> dict:
    """Evaluate the models on the test split, add the metrics to `result` and write it (metrics JSON) with
    the test predictions CSV. Several models are an ensemble: their mean is scored, each member too, and
    how well their spread ranks the errors. With a calibration, the coverage of its intervals too."""
    task, names = models[0].config.task, run.target_names
    train, test = run.datasets["train"], run.datasets["test"]
    result.update(n_train=len(train), n_val=len(run.datasets["val"]), n_test=len(test))
    if len(run.datasets["val"]):  # what model choices (ensemble size, fine-tuned or not) are decided on
        result["val"] = _split_metrics(run, models, device, loss_fn, "val")
    if len(test):
        outputs = []
        for model in models:
            _, values, targets, order = evaluate(model.to(device), batches(run, "test"), loss_fn, device)
            outputs.append(values)
        mean = np.mean(outputs, axis=0)
        spread = np.std(outputs, axis=0) if len(models) > 1 else None
        result["test"] = metrics_for(task, targets, mean, names)
        if spread is not None:
            result["members_test"] = [metrics_for(task, targets, o, names) for o in outputs]
            result["spread_vs_error_spearman"] = spread_ranking(task, targets, mean, spread)
        if calibration is not None:
            distance = split_distance(run, "test", models[0], domain, device) if domain else None
            result["test_interval_coverage"] = coverage(calibration, targets, mean, spread, distance=distance)
        result["test_mean_baseline"] = _baseline(task, train.targets[train.indices].numpy(), targets, names)
        ids = [run.ids[test.indices[k]] for k in order]
        write_predictions(run.run_dir / TEST_PREDICTIONS, ids, *_test_columns(task, names, targets, mean, spread))
    write_text(run.run_dir / METRICS, json.dumps(result, indent=2) + "\n")
    return result


def _split_metrics(run: Run, models: list[CrystalGraphConvNet], device: torch.device, loss_fn: LossFunction,
                   split: str) -> dict:
    """The metrics of the models' mean on one split."""
    found = [evaluate(model.to(device), batches(run, split), loss_fn, device) for model in models]
    outputs, targets = [f[1] for f in found], found[0][2]  # batches come in the same order for every model
    return metrics_for(models[0].config.task, targets, np.mean(outputs, axis=0), run.target_names)


def _baseline(task: str, train_targets: np.ndarray, targets: np.ndarray, names) -> dict:
    """The same metrics for a model that always predicts the training mean (or the majority class)."""
    if task == "classification":
        counts = np.bincount(train_targets.astype(int), minlength=2)
        probs = np.tile(counts / counts.sum(), (len(targets), 1))
        return metrics_for(task, targets, probs, names)
    return metrics_for(task, targets, np.tile(np.nanmean(train_targets, 0), (len(targets), 1)), names)


def _test_columns(task: str, names, targets: np.ndarray, outputs: np.ndarray,
                  spread: np.ndarray | None = None) -> tuple[dict, dict]:
    """(prediction columns, target columns): `target`/`prediction`, or `target_<name>`/`prediction_<name>`;
    an ensemble's `spread` adds `std` (or `std_<name>`) columns."""
    if task == "classification" or len(names) == 1:
        truth = targets if targets.ndim == 1 else targets[:, 0]
        return prediction_columns(task, names, outputs, spread), {"target": truth}
    columns = {f"prediction_{n}": outputs[:, k] for k, n in enumerate(names)}
    if spread is not None:
        columns.update({f"std_{n}": spread[:, k] for k, n in enumerate(names)})
    return columns, {f"target_{n}": targets[:, k] for k, n in enumerate(names)}


def summary(result: dict, run_dir: PathLike) -> str:
    """A few lines on a finished run for people (the whole report is in test_metrics.json)."""
    sizes = f"{result.get('n_train', 0):,} crystals"
    trained = f"trained on {sizes}" + (f" (best epoch {result['best_epoch']})" if "best_epoch" in result else "")
    if result.get("ensemble"):
        trained = f"ensemble of {result['ensemble']} trained on {sizes}"
    lines = [f"{trained}, validated on {result.get('n_val', 0):,}, tested on {result.get('n_test', 0):,}"]
    test, base = result.get("test"), result.get("test_mean_baseline", {})
    if test and "accuracy" in test:
        auc = f", ROC-AUC {test['roc_auc']:.3f}" if test.get("roc_auc") is not None else ""
        lines.append(f"test accuracy {test['accuracy']:.3f}{auc} (majority class {base.get('accuracy', 0):.3f})")
    elif test:
        for name, metrics in test["targets"].items():
            baseline = base.get("targets", {}).get(name, {}).get("mae", float("nan"))
            unit = f" {TARGET_UNITS[name]}" if name in TARGET_UNITS else " in label units"
            lines.append(f"{name}: test MAE {metrics['mae']:.4g}{unit} (mean predictor {baseline:.4g}), RMSE "
                         f"{metrics['rmse']:.4g}, R² {metrics['r2']:.3f}, {metrics['n']:,} crystals")
    origin = result.get("fine_tuned_from")
    if origin:
        member = f"member {origin['member']}, " if "member" in origin else ""
        lines.append(f"fine-tuned from {origin['model']} ({member}output layer {origin['output_layer']}, "
                     f"frozen: {origin['freeze']})")
    lines.append(f"report in {Path(run_dir) / METRICS}, predictions in {Path(run_dir) / TEST_PREDICTIONS}")
    return "\n".join(lines)
