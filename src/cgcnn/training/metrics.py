"""Test metrics: MAE, RMSE, R² for regression; accuracy and ROC-AUC (scikit-learn) for classification."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def regression_metrics(targets: np.ndarray, predictions: np.ndarray, names: Sequence[str]) -> dict:
    """Per-target metrics over the crystals labelled for that target (`n`; a missing label is NaN); with
    one target they are also given at the top level."""
    per_target = {}
    for k, name in enumerate(names):
        labelled = ~np.isnan(targets[:, k])
        y, p = targets[labelled, k], predictions[labelled, k]
        error = p - y
        variance = float(np.sum((y - y.mean()) ** 2)) if len(y) else 0.0
        per_target[name] = {
            "n": int(labelled.sum()),
            "mae": float(np.mean(np.abs(error))) if len(y) else float("nan"),
            "rmse": float(np.sqrt(np.mean(error**2))) if len(y) else float("nan"),
            "r2": float(1 - np.sum(error**2) / variance) if variance > 0 else float("nan"),
        }
    result = {"n": int(len(targets)), "targets": per_target}
    if len(names) == 1:
        result.update({k: v for k, v in per_target[names[0]].items() if k != "n"})
    return result


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    labels = labels.astype(int).ravel()
    result = {
        "n": int(len(labels)),
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels)),
        "roc_auc": None,  # undefined unless every class occurs
    }
    if len(np.unique(labels)) == probabilities.shape[1]:
        scores = probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities
        result["roc_auc"] = float(roc_auc_score(labels, scores, multi_class="ovr"))
    return result


def spread_ranking(task: str, targets: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> list[float]:
    """Spearman correlation of an ensemble's |error| with its members' σ, per target (for classes: of
    P(class 1)); how well the spread ranks the errors."""
    from scipy.stats import spearmanr

    if task == "classification":
        errors = np.abs((targets.astype(int) == 1).astype(float) - mean[:, 1])
        return [float(spearmanr(errors, spread[:, 1]).statistic)]
    labelled = ~np.isnan(targets)
    return [float(spearmanr(np.abs(mean[labelled[:, k], k] - targets[labelled[:, k], k]),
                            spread[labelled[:, k], k]).statistic) for k in range(targets.shape[1])]


def metrics_for(task: str, targets: np.ndarray, outputs: np.ndarray, names: Sequence[str]) -> dict:
    if task == "classification":
        return classification_metrics(targets, outputs)
    return regression_metrics(targets, outputs, names)
