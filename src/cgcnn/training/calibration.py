"""Prediction intervals by split-conformal calibration on the validation split.

Each validation crystal gives a score |y − ŷ| / s, where s = σ + β for an ensemble (σ the members' standard
deviation, β the median σ over the validation split, so that a crystal on which the members happen to agree
still gets a sensible width) and s = 1 for a single model (intervals of one width). For a level 1 − α the
interval is ŷ ± q·s, with q the ⌈(n + 1)(1 − α)⌉-th smallest of the n scores: if test crystals are
exchangeable with the validation ones, at least 1 − α of them fall inside (Vovk et al.; Lei et al., 2018).
The sorted scores are stored in the model file, so any level can be asked for at prediction time.
"""

from __future__ import annotations

import math

import numpy as np

METHOD = "split-conformal on the validation split"


def calibrate(targets: np.ndarray, predictions: np.ndarray, spread: np.ndarray | None) -> dict:
    """The calibration record of a regression model (per target) from its validation predictions."""
    targets, predictions = np.atleast_2d(targets.T).T, np.atleast_2d(predictions.T).T
    if spread is None:
        beta = np.zeros(targets.shape[1])
        scales = np.ones_like(predictions)
    else:
        beta = np.median(spread, axis=0)
        scales = spread + beta
    scores = np.abs(targets - predictions) / scales  # NaN where a label is missing: left out
    per_target = [np.sort(column[~np.isnan(column)]).tolist() for column in scores.T]
    return {"method": METHOD, "normalised_by": "none" if spread is None else "ensemble std + beta",
            "beta": beta.tolist(), "scores": per_target, "n": int(len(targets))}


def quantile(calibration: dict, level: float) -> np.ndarray:
    """The score q of each target below which a fraction `level` of new crystals is expected to fall."""
    if not 0 < level < 1:
        raise ValueError(f"an interval level is between 0 and 1, not {level}")
    found = []
    for scores in calibration["scores"]:  # per target, sorted (targets may have different counts)
        rank = math.ceil((len(scores) + 1) * level)
        # too few validation crystals for this level: the interval is unbounded
        found.append(scores[rank - 1] if rank <= len(scores) else np.inf)
    return np.asarray(found, dtype=np.float64)


def interval(calibration: dict, predictions: np.ndarray, spread: np.ndarray | None,
             level: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) bounds at `level` for predictions (n, targets)."""
    half = quantile(calibration, level) * _scales(calibration, predictions, spread)
    return predictions - half, predictions + half


def _scales(calibration: dict, predictions: np.ndarray, spread: np.ndarray | None) -> np.ndarray:
    if calibration["normalised_by"] == "none" or spread is None:
        return np.ones_like(predictions)
    return spread + np.asarray(calibration["beta"])


def coverage(calibration: dict, targets: np.ndarray, predictions: np.ndarray, spread: np.ndarray | None,
             levels: tuple = (0.68, 0.9, 0.95)) -> dict:
    """{level: (fraction of crystals inside, mean width)} per target, for a report."""
    result = {}
    for level in levels:
        lower, upper = interval(calibration, predictions, spread, level)
        labelled = ~np.isnan(targets)
        inside = ((targets >= lower) & (targets <= upper)).sum(axis=0) / np.maximum(labelled.sum(axis=0), 1)
        result[str(level)] = {"coverage": inside.tolist(), "mean_width": (upper - lower).mean(axis=0).tolist()}
    return result
