"""Prediction intervals by split-conformal calibration on the validation split.

Each validation crystal gives a score |y − ŷ| / s. The scale s grows where a model is less sure:
- the members' spread: s = σ + β for an ensemble (σ the members' standard deviation, β its median over the
  validation split, so that a crystal on which the members happen to agree still gets a sensible width),
  s = 1 for a single model;
- the distance from the training crystals: s is multiplied by (d / d_med)^p, d the crystal vector's
  Mahalanobis distance from the training crystals' (model.domain), d_med its validation median. p is
  chosen on the validation split, among POWERS, as the one whose 90 % intervals cover the nearest, middle
  and farthest third of the validation crystals most evenly (so that crystals unlike the training ones,
  which screening meets, are not the ones left uncovered).
Scores are kept per group of predicted value (Mondrian conformal: the quintiles of the validation
predictions, where each holds MIN_GROUP crystals), so that, e.g., predicted metals and wide-gap crystals each
get intervals that cover them, not only on average. For a level 1 − α the interval is ŷ ± q·s, with q the
⌈(n + 1)(1 − α)⌉-th smallest of the n scores of the crystal's group: if new crystals are exchangeable with the
validation ones, at least 1 − α of them fall inside (Vovk et al.; Lei et al., 2018). Crystals unlike the
validation ones carry no such guarantee: benchmarks/shift.py measures it. The sorted scores are stored in
the model file, so any level can be asked for at prediction time.
"""

from __future__ import annotations

import math

import numpy as np

METHOD = "split-conformal on the validation split"
POWERS = (0.0, 0.5, 1.0, 1.5, 2.0)  # exponents of the distance factor tried on the validation split
N_GROUPS = 5  # Mondrian groups of predicted value (quintiles)
MIN_GROUP = 100  # validation crystals each group needs (else fewer groups, down to one)
CHOICE_LEVEL = 0.9


def calibrate(targets: np.ndarray, predictions: np.ndarray, spread: np.ndarray | None,
              distance: np.ndarray | None = None) -> dict:
    """The calibration record of a regression model (per target) from its validation predictions, the
    members' spread (None for a single model) and the crystals' distances from training (None: not used)."""
    targets, predictions = np.atleast_2d(targets.T).T, np.atleast_2d(predictions.T).T
    if spread is None:
        beta, base = np.zeros(targets.shape[1]), np.ones_like(predictions)
    else:
        beta = np.median(spread, axis=0)
        base = spread + beta
    record: dict = {"method": METHOD, "normalised_by": "none" if spread is None else "ensemble std + beta",
                    "beta": beta.tolist(), "n": int(len(targets))}
    if distance is not None and len(distance):
        median = float(np.median(distance))
        power = _even_power(targets, predictions, base, distance / median)
        record["distance"] = {"median": median, "power": power, "powers_tried": list(POWERS)}
        base = base * (distance / median)[:, None] ** power
    errors = np.abs(targets - predictions) / base  # NaN where a label is missing: left out
    edges: list[list[float]] = []
    scores: list[list[list[float]]] = []
    for k in range(targets.shape[1]):
        labelled = ~np.isnan(errors[:, k])
        cut = _group_edges(predictions[labelled, k])
        group = np.searchsorted(cut, predictions[labelled, k], side="right")
        edges.append(cut.tolist())
        scores.append([np.sort(errors[labelled, k][group == g]).tolist() for g in range(len(cut) + 1)])
    record.update(groups={"by": "predicted value", "edges": edges}, scores=scores)
    return record


def _group_edges(predicted: np.ndarray) -> np.ndarray:
    """Edges between Mondrian groups: quantiles of the predictions, as many groups as MIN_GROUP allows."""
    n_groups = max(1, min(N_GROUPS, len(predicted) // MIN_GROUP))
    if n_groups == 1:
        return np.zeros(0)
    return np.unique(np.quantile(predicted, np.arange(1, n_groups) / n_groups)).astype(np.float64)


def _even_power(targets: np.ndarray, predictions: np.ndarray, base: np.ndarray, ratio: np.ndarray) -> float:
    """The exponent whose intervals cover the distance terciles of the validation split most evenly."""
    thirds = np.searchsorted(np.quantile(ratio, [1 / 3, 2 / 3]), ratio, side="right")
    best, best_gap = 0.0, math.inf
    for power in POWERS:
        errors = np.abs(targets - predictions) / (base * ratio[:, None] ** power)
        gap = 0.0
        for column in errors.T:
            labelled = ~np.isnan(column)
            q = _rank_quantile(np.sort(column[labelled]), CHOICE_LEVEL)
            inside = column <= q
            gap = max(gap, *(abs(inside[labelled & (thirds == t)].mean() - CHOICE_LEVEL) for t in range(3)
                             if (labelled & (thirds == t)).any()))
        if gap < best_gap - 1e-9:  # ties go to the smaller power: the plainer intervals
            best, best_gap = power, gap
    return float(best)


def _rank_quantile(scores, level: float) -> float:
    rank = math.ceil((len(scores) + 1) * level)
    # too few validation crystals for this level: the interval is unbounded
    return float(scores[rank - 1]) if rank <= len(scores) else math.inf


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"an interval level is between 0 and 1, not {level}")


def quantile(calibration: dict, level: float, predictions: np.ndarray | None = None) -> np.ndarray:
    """The score q below which a fraction `level` of new crystals is expected to fall: per target, or
    with predictions (n, targets) and Mondrian groups, per crystal and target."""
    _check_level(level)
    if "groups" not in calibration:  # a record written before groups: one list of scores per target
        return np.asarray([_rank_quantile(s, level) for s in calibration["scores"]], dtype=np.float64)
    per_group = [np.asarray([_rank_quantile(s, level) for s in groups]) for groups in calibration["scores"]]
    if predictions is None:
        return np.asarray([q.max() for q in per_group])  # the widest group's, where no value is given
    predictions = np.atleast_2d(predictions.T).T
    found = np.empty(predictions.shape)
    for k, (q, edges) in enumerate(zip(per_group, calibration["groups"]["edges"])):
        found[:, k] = q[np.searchsorted(np.asarray(edges), predictions[:, k], side="right")]
    return found


def uses_distance(calibration: dict) -> bool:
    return "distance" in calibration


def interval(calibration: dict, predictions: np.ndarray, spread: np.ndarray | None, level: float,
             distance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) bounds at `level` for predictions (n, targets); `distance`: the crystals' distances
    from training (model.domain.mahalanobis), needed where the calibration uses them."""
    half = quantile(calibration, level, predictions) * _scales(calibration, predictions, spread, distance)
    return predictions - half, predictions + half


def _scales(calibration: dict, predictions: np.ndarray, spread: np.ndarray | None,
            distance: np.ndarray | None) -> np.ndarray:
    scale = np.ones_like(predictions)
    if calibration["normalised_by"] != "none" and spread is not None:
        scale = spread + np.asarray(calibration["beta"])
    if uses_distance(calibration):
        if distance is None:
            raise ValueError("this calibration scales intervals by the distance from training: give distance")
        record = calibration["distance"]
        scale = scale * (np.asarray(distance) / record["median"])[:, None] ** record["power"]
    return scale


def coverage(calibration: dict, targets: np.ndarray, predictions: np.ndarray, spread: np.ndarray | None,
             levels: tuple = (0.68, 0.9, 0.95), distance: np.ndarray | None = None) -> dict:
    """{level: (fraction of crystals inside, mean width)} per target, for a report."""
    result = {}
    for level in levels:
        lower, upper = interval(calibration, predictions, spread, level, distance)
        labelled = ~np.isnan(targets)
        inside = ((targets >= lower) & (targets <= upper)).sum(axis=0) / np.maximum(labelled.sum(axis=0), 1)
        result[str(level)] = {"coverage": inside.tolist(), "mean_width": (upper - lower).mean(axis=0).tolist()}
    return result
