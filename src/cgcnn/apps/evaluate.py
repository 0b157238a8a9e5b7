"""Scoring a trained model on a labelled dataset: its predictions beside the labels, and the same metrics
the training report gives its test split (MAE, RMSE, R² per target; accuracy and ROC-AUC for classes)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ..config import PathLike
from ..errors import InputError, NothingUsable
from ..io.datasets import CrystalDataset, load_dataset
from ..io.write import table_metadata, write_table_metadata
from ..training.metrics import metrics_for
from ..model.columns import column_units, prediction_columns, value_columns, write_predictions
from .pipeline import GraphStream, files_read_by, protect_outputs
from .predict import SETTINGS, Predictor, load_model

log = logging.getLogger(__name__)


def labelled_dataset(data: PathLike, predictor: Predictor, targets: Sequence[str] | None, id_column: str,
                     structure_column: str | None, skip_bad: bool) -> CrystalDataset:
    """The dataset with one label column per model output: the columns named (by header, or 1, 2, … in an
    id_prop.csv without one), else those named as the model's targets, else every numeric column; their
    number must match the model's."""
    dataset = load_dataset(data, None, id_column, structure_column, skip_bad)
    assert dataset.targets is not None
    names = list(targets or []) or [n for n in predictor.target_names if n in dataset.target_names]
    if names:
        unknown = [n for n in names if n not in dataset.target_names]
        if unknown:
            raise InputError(data, f"no label column {unknown[0]!r}; the columns are {', '.join(dataset.target_names)}")
        at = [dataset.target_names.index(n) for n in names]
        dataset.targets, dataset.target_names = dataset.targets[:, at], names
    wanted = 1 if predictor.is_classifier else len(predictor.target_names)
    if dataset.targets.shape[1] != wanted:
        raise InputError(data, f"{dataset.targets.shape[1]} label columns ({', '.join(dataset.target_names)}) for a "
                         f"model of {wanted} target(s) ({', '.join(predictor.target_names)}); name them with --targets")
    check_labels(data, dataset, predictor)
    return dataset


def check_labels(data: PathLike, dataset: CrystalDataset, predictor: Predictor) -> None:
    """Labels a score can be computed from: some present in each column, and for a classifier class
    indices the model has (a band gap is not a metal label)."""
    assert dataset.targets is not None
    for name, column in zip(dataset.target_names, dataset.targets.T):
        if np.isnan(column).all():
            raise InputError(data, f"the label column {name!r} holds no value (all empty or NaN): nothing to score")
    if predictor.is_classifier:
        column = dataset.targets[:, 0]
        column = column[~np.isnan(column)]
        n_classes = predictor.model.config.n_outputs
        bad = column[(column != np.round(column)) | (column < 0) | (column >= n_classes)]
        if len(bad):
            raise InputError(data, f"the label column {dataset.target_names[0]!r} holds {bad[0]:g}, not a class of "
                             f"this classifier (0 to {n_classes - 1}): is it the right column?")


def evaluate_files(model_path: PathLike, data: PathLike, out_path: PathLike | None = None, *,
                   targets: Sequence[str] | None = None, id_column: str = "id", structure_column: str | None = None,
                   atom_init: PathLike | None = None, batch_size: int = SETTINGS.batch_size,
                   device: str = SETTINGS.device, workers: int = SETTINGS.workers, skip_bad: bool = SETTINGS.skip_bad,
                   progress: bool = True) -> dict:
    """Predict every labelled crystal of `data` and score the predictions against the labels; with
    `out_path`, write id, target(s) and prediction(s) as the training run's test_predictions.csv does."""
    predictor = load_model(model_path, atom_init, device)
    dataset = labelled_dataset(data, predictor, targets, id_column, structure_column, skip_bad)
    if out_path is not None:
        out_path = protect_outputs(out_path, files_read_by([data], dataset, model_path, atom_init))
    stream = GraphStream(predictor, dataset, workers, skip_bad, progress=progress)
    skipped = stream.skipped
    where = {crystal: k for k, crystal in enumerate(dataset.ids)}
    ids, values, seen = [], [], []
    for chunk_ids, _, chunk in stream.chunks():
        ids += chunk_ids
        values.append(predictor.predict_graphs(chunk, batch_size))
        seen.append(predictor.record.seen_in_training(chunk_ids, chunk))
    if not ids:
        raise NothingUsable(data, skipped)
    assert dataset.targets is not None
    labels = dataset.targets[[where[i] for i in ids]]
    outputs = np.concatenate(values)
    task, names = predictor.model.config.task, predictor.target_names
    truth = labels[:, 0] if task == "classification" else labels
    result = {"model": str(model_path), "data": str(data), "label_columns": dataset.target_names,
              "n": len(ids), "skipped": len(skipped), **metrics_for(task, truth, outputs, names)}
    found = [s for s in seen if s is not None]
    if found and len(found) == len(seen):  # the model records its training crystals: score the others alone too
        in_training = np.concatenate(found)
        result["seen_in_training"] = int(in_training.sum())
        if 0 < in_training.sum() < len(ids):
            unseen = ~in_training
            result["unseen"] = {"n": int(unseen.sum()), **metrics_for(task, truth[unseen], outputs[unseen], names)}
    if out_path is not None:
        label_columns = {f"target_{n}" if len(dataset.target_names) > 1 else "target": labels[:, k]
                         for k, n in enumerate(dataset.target_names)}
        columns = prediction_columns(task, names, outputs)
        write_predictions(out_path, ids, columns, label_columns)
        header = ["id", *label_columns, *columns]
        units = {**dict(zip(label_columns, predictor.units)),
                 **column_units(names, predictor.units, predictor.is_classifier, header)}
        described = [f"{c} = {n}" for c, n in zip(value_columns(names), names)] + [f"{c}: its label in {data}"
                                                                                   for c in label_columns]
        write_table_metadata(out_path, table_metadata(header, "; ".join(described), units, {"class": "integer"},
                                                      model=str(model_path), data=str(data), targets=names,
                                                      units=predictor.units))
        stream.write_skipped(out_path)
    return result
