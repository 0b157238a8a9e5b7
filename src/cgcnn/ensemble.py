"""Ensembles: K models of one recipe trained from different seeds on the same split.

Their mean is the prediction and their standard deviation a cheap uncertainty; the test report says how
well that spread ranks the actual errors (Spearman rank correlation of |error| with σ)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from .atomic import write_text
from .checkpoint import model_from_file, save_ensemble
from .errors import InputError
from .metrics import metrics_for

log = logging.getLogger(__name__)
ENSEMBLE = "ensemble.pt"


def member_dir(run_dir, k: int) -> Path:
    return Path(run_dir) / f"member-{k}"


def fit_ensemble(dataset, model_config, cfg, element_features, run_dir, *, source="dataset", resume=False,
                 progress=True) -> dict:
    """Train cfg.ensemble members (weights and shuffling seeded seed+k, one split), then evaluate their mean.

    With resume, finished members are kept, an interrupted one continues and the rest start."""
    from .train import CHECKPOINT, METRICS, fit, init_seed

    run_dir = Path(run_dir)
    if not resume and (member_dir(run_dir, 0) / CHECKPOINT).exists():
        raise InputError(run_dir, "the folder already holds an ensemble run; pass --resume or choose another --out")
    if resume and not (member_dir(run_dir, 0) / CHECKPOINT).exists():
        raise InputError(run_dir, f"nothing to resume: no member-0/{CHECKPOINT} in this folder")
    for k in range(cfg.ensemble):
        folder = member_dir(run_dir, k)
        if (folder / METRICS).is_file():
            continue
        log.info("ensemble member %d of %d", k + 1, cfg.ensemble)
        member_cfg = replace(cfg, ensemble=1, init_seed=init_seed(cfg) + k)
        fit(dataset, replace(model_config), member_cfg, element_features, folder, source=source,
            resume=(folder / CHECKPOINT).exists(), progress=progress)
    if os.environ.get("RANK", "0") != "0":  # under torchrun the first process alone writes the ensemble
        return {}
    return evaluate_ensemble(dataset, model_config, cfg, element_features, run_dir, source, progress)


def evaluate_ensemble(dataset, model_config, cfg, element_features, run_dir, source, progress) -> dict:
    """Bundle the members' best models into ensemble.pt; test metrics and predictions of their mean."""
    from .train import BEST, METRICS, SPLIT, TEST_PREDICTIONS, batches, evaluate, loss_function, prepare
    from .train import _baseline, _test_columns, resolve_device, write_predictions

    paths = [member_dir(run_dir, k) / BEST for k in range(cfg.ensemble)]
    save_ensemble(paths, run_dir / ENSEMBLE, {"members": cfg.ensemble, "seed": cfg.seed})
    run = prepare(dataset, replace(model_config), replace(cfg, ensemble=1), element_features, run_dir, source,
                  progress)
    write_text(run_dir / SPLIT, (member_dir(run_dir, 0) / SPLIT).read_text())
    task, device = model_config.task, resolve_device(cfg.device)
    loss_fn = loss_function(task, cfg.loss)
    test = run.datasets["test"]
    result = {"task": task, "ensemble": cfg.ensemble, "n_train": len(run.datasets["train"]),
              "n_val": len(run.datasets["val"]), "n_test": len(test)}
    if len(test):
        outputs = []
        for path in paths:
            model = model_from_file(path)[0].to(device)
            _, values, targets, order = evaluate(model, batches(run, "test"), loss_fn, device)
            outputs.append(values)
        mean, spread = np.mean(outputs, axis=0), np.std(outputs, axis=0)
        result["test"] = metrics_for(task, targets, mean, run.target_names)
        result["members_test"] = [metrics_for(task, targets, o, run.target_names) for o in outputs]
        result["spread_vs_error_spearman"] = spread_ranking(task, targets, mean, spread)
        train = run.datasets["train"]
        result["test_mean_baseline"] = _baseline(task, train.targets[train.indices].numpy(), targets,
                                                 run.target_names)
        ids = [run.ids[test.indices[k]] for k in order]
        predictions, truth = _test_columns(task, run.target_names, targets, mean)
        spread_columns = {"std": spread[:, 1] if task == "classification" else spread[:, 0]}
        if task == "regression" and len(run.target_names) > 1:
            spread_columns = {f"std_{n}": spread[:, k] for k, n in enumerate(run.target_names)}
        write_predictions(run_dir / TEST_PREDICTIONS, ids, {**predictions, **spread_columns}, truth)
    write_text(run_dir / METRICS, json.dumps(result, indent=2) + "\n")
    return result


def spread_ranking(task: str, targets, mean, spread) -> list:
    """Spearman correlation of |error| with the members' σ, per target (for classes: of P(class 1))."""
    if task == "classification":
        errors = np.abs((targets.astype(int) == 1).astype(float) - mean[:, 1])
        return [float(spearmanr(errors, spread[:, 1]).statistic)]
    return [float(spearmanr(np.abs(mean[:, k] - targets[:, k]), spread[:, k]).statistic)
            for k in range(targets.shape[1])]
