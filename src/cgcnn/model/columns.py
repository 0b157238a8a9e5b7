"""The columns of a prediction table, shared by `cgcnn predict`, `evaluate` and a training run's test
predictions: `prediction` (one per target), `std` for an ensemble, P(class 1) and the class for classifiers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..config import PathLike
from ..io.write import write_csv


def value_columns(target_names: Sequence[str]) -> list[str]:
    """The prediction column of each target: `prediction`, then `prediction_<name>` for further targets."""
    return ["prediction"] + [f"prediction_{name}" for name in list(target_names)[1:]]


def prediction_columns(task: str, target_names: Sequence[str], values: np.ndarray,
                       spread: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """CSV columns: `prediction` (+ one per further target); classifiers: P(class 1) and the class.
    With an ensemble's `spread`, a `std` column follows each prediction column."""
    if task == "classification":
        columns = {"prediction": values[:, 1]}
        if spread is not None:
            columns["std"] = spread[:, 1]
        return {**columns, "class": values.argmax(axis=1)}
    columns = {}
    for k, name in enumerate(value_columns(target_names)):
        columns[name] = values[:, k]
        if spread is not None:
            columns[name.replace("prediction", "std")] = spread[:, k]
    return columns


def write_predictions(path: PathLike, ids: Iterable, columns: dict, extra: dict | None = None) -> None:
    """CSV with header id, then `extra` columns (e.g. targets), then `columns`, written atomically."""
    table = {"id": list(ids), **(extra or {}), **columns}
    write_csv(path, list(table), ([format_value(v) for v in row] for row in zip(*table.values())))


def format_value(value: object) -> object:
    """Six significant digits for floats, an empty cell for NaN (a missing label); anything else as it is."""
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{value:.6g}"
    return value


def column_units(target_names: Sequence[str], units: Sequence[str | None], classifier: bool,
                 header: Sequence[str]) -> dict[str, str]:
    """The unit of each column of `header` that holds a target's value: prediction, std, lower, upper."""
    if classifier:
        return {"prediction": units[0]} if units[0] and "prediction" in header else {}
    found = {}
    for value, unit in zip(value_columns(target_names), units):
        suffix = value[len("prediction"):]
        found.update({f"{kind}{suffix}": unit for kind in ("prediction", "std", "lower", "upper")})
    return {name: unit for name, unit in found.items() if name in header and unit}
