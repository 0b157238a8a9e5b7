"""Predictions from a trained model, for Python objects or files."""

from __future__ import annotations

import csv
import ctypes
import logging
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_path, write_csv
from .checkpoint import model_from_file
from .data import GraphDataset, check_elements, loader
from .elements import unknown_elements_error
from .featurize import build_graphs, iter_graphs
from .graph import GraphParams
from .structures import collect_structures, to_structure

log = logging.getLogger(__name__)


MAX_BATCH_ATOMS = 8192


class Predictor:
    """A trained CGCNN with what it needs to turn structures into numbers."""

    def __init__(self, model, target_names, metadata=None, device="cpu"):
        self.model = model.to(device).eval()
        self.target_names = list(target_names)
        self.metadata = metadata or {}
        self.device = device
        config = model.config
        self.params = GraphParams(radius=config.radius, max_neighbors=config.max_neighbors)

    @property
    def is_classifier(self) -> bool:
        return self.model.config.task == "classification"

    def predict(self, structures, batch_size=256) -> np.ndarray:
        """pymatgen Structures or ASE Atoms → (n, n_targets) values, or (n, n_classes) probabilities."""
        if not isinstance(structures, (list, tuple)):
            structures = [structures]
        sources = [f"structure {k}" for k in range(len(structures))]
        structures = [to_structure(s, src) for s, src in zip(structures, sources)]
        return self.predict_items(structures, sources, batch_size)

    def predict_items(self, items, sources, batch_size=256, workers=1, progress=False) -> np.ndarray:
        """Predict dataset items (paths, embedded text, Structures), reading them on `workers` processes."""
        graphs = build_graphs(items, sources, self.params, workers, progress)
        check_elements((g.atomic_numbers for g in graphs), sources, self.model.element_features)
        return self.predict_graphs(graphs, batch_size)

    @torch.no_grad()
    def predict_graphs(self, graphs, batch_size=256, max_atoms=MAX_BATCH_ATOMS) -> np.ndarray:
        """Predictions in input order; batches are capped in atoms too, so a run of large cells cannot
        raise the memory peak."""
        n_atoms = [g.n_atoms for g in graphs]
        outputs = [
            self.model.unscale(self.model(batch.to(self.device))).cpu()
            for batch in loader(GraphDataset(graphs), batch_size, n_atoms=n_atoms, max_atoms=max_atoms)
        ]
        return torch.cat(outputs).double().numpy() if outputs else np.zeros((0, self.model.config.n_outputs))


def load_model(path, atom_init=None, device="cpu") -> Predictor:
    """Load a cgcnn model file, or an original CGCNN `.pth.tar` (with its element table `atom_init`)."""
    model, names, metadata = model_from_file(path, atom_init)
    return Predictor(model, names, metadata, device)


def prediction_columns(task: str, target_names, values: np.ndarray) -> dict:
    """CSV columns: `prediction` (+ one per further target); classifiers: P(class 1) and the class."""
    if task == "classification":
        return {"prediction": values[:, 1], "class": values.argmax(axis=1)}
    names = ["prediction"] + [f"prediction_{n}" for n in list(target_names)[1:]]
    return {name: values[:, k] for k, name in enumerate(names)}


SKIPPED_HEADER = ["id", "file", "reason"]


def write_predictions(path, ids, columns: dict, extra: dict | None = None) -> None:
    """CSV with header id, then `extra` columns (e.g. targets), then `columns`, written atomically."""
    table = {"id": list(ids), **(extra or {}), **columns}
    write_csv(path, list(table), ([_format(v) for v in row] for row in zip(*table.values())))


def _format(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.6g}"
    return value


def predict_files(model_path, inputs, out_path, atom_init=None, batch_size=256, device="cpu", workers=1,
                  skip_bad=False, chunk=4096, progress=True) -> dict:
    """Read inputs, predict, write the CSV; the element table defaults to an atom_init.json beside the data.

    Crystals stream through in chunks of `chunk` (graphs built on `workers` processes), so memory stays
    bounded however many there are. With skip_bad, unusable crystals are listed in OUT.skipped.csv."""
    dataset = collect_structures(inputs, skip_bad)
    predictor = load_model(model_path, atom_init or dataset.atom_init, device)
    config = predictor.model.config
    header = ["id", *prediction_columns(config.task, predictor.target_names, np.zeros((1, config.n_outputs)))]
    skipped, written = list(dataset.skipped), 0
    graphs = iter_graphs(dataset.items, dataset.sources, predictor.params, workers, progress, skip_bad)
    with atomic_path(out_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for ids, batch in _usable_chunks(graphs, dataset, predictor, skipped, skip_bad, chunk):
            values = predictor.predict_graphs(batch, batch_size)
            columns = prediction_columns(config.task, predictor.target_names, values)
            writer.writerows([_format(v) for v in row] for row in zip(ids, *columns.values()))
            written += len(ids)
            release_freed_memory()
    if skipped:
        write_csv(skipped_path(out_path), SKIPPED_HEADER, skipped)
    log.info("wrote %d predictions to %s", written, out_path)
    return {"predicted": written, "skipped": len(skipped)}


def release_freed_memory() -> None:
    """Hand memory freed by the last chunk back to the system. glibc keeps freed blocks of varying-size
    tensors in its heap, so without this the resident size creeps up chunk after chunk."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def skipped_path(out_path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".skipped.csv")


def _usable_chunks(graphs, dataset, predictor, skipped, skip_bad, chunk):
    """(ids, graphs) chunks; unusable crystals go to `skipped` (or raise without skip_bad)."""
    ids, batch, atoms = [], [], 0
    for k, graph in graphs:
        if not isinstance(graph, Exception):
            error = unknown_elements_error(graph.atomic_numbers.numpy(), predictor.model.element_features,
                                           dataset.sources[k])
            if error and not skip_bad:
                raise error
            graph = error or graph
        if isinstance(graph, Exception):
            skipped.append((dataset.ids[k], graph.source, graph.reason))
            continue
        ids.append(dataset.ids[k])
        batch.append(graph)
        atoms += graph.n_atoms
        if len(batch) == chunk or atoms >= chunk * 32:  # bounded in crystals and in atoms
            yield ids, batch
            ids, batch, atoms = [], [], 0
    if batch:
        yield ids, batch
