"""Predictions from a trained model, for Python objects or files."""

from __future__ import annotations

import csv
import io
import logging

import numpy as np
import torch

from .atomic import write_text
from .checkpoint import model_from_file
from .data import GraphDataset, check_elements, loader
from .featurize import build_graphs
from .graph import GraphParams
from .structures import CrystalDataset, collect_structures, to_structure

log = logging.getLogger(__name__)


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
    def predict_graphs(self, graphs, batch_size=256) -> np.ndarray:
        outputs = [
            self.model.unscale(self.model(batch.to(self.device))).cpu()
            for batch in loader(GraphDataset(graphs), batch_size)
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


def write_predictions(path, ids, columns: dict, extra: dict | None = None) -> None:
    """CSV with header id, then `extra` columns (e.g. targets), then `columns`, written atomically."""
    table = {"id": list(ids), **(extra or {}), **columns}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table)
    for row in zip(*table.values()):
        writer.writerow([_format(v) for v in row])
    write_text(path, buffer.getvalue())


def _format(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.6g}"
    return value


def predict_files(model_path, inputs, out_path, atom_init=None, batch_size=256, device="cpu",
                  workers=1) -> CrystalDataset:
    """Read inputs, predict, write the CSV; the element table defaults to an atom_init.json beside the data."""
    dataset = collect_structures(inputs)
    atom_init = atom_init or dataset.atom_init
    predictor = load_model(model_path, atom_init, device)
    values = predictor.predict_items(dataset.items, dataset.sources, batch_size, workers, progress=True)
    write_predictions(
        out_path, dataset.ids, prediction_columns(predictor.model.config.task, predictor.target_names, values)
    )
    log.info("wrote %d predictions to %s", len(dataset.ids), out_path)
    return dataset
