"""Predictions from a trained model, for Python objects or files."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import PathLike, PredictConfig
from ..errors import CgcnnError, InputError
from ..graphs.batching import GraphDataset, check_elements, loader
from ..graphs.featurize import build_graphs
from ..graphs.graph import CrystalGraph
from ..io.structures import to_structure
from ..model import models_from_file
from ..model.calibration import interval as calibrated_interval
from ..model.record import TrainingRecord
from ..training.loop import resolve_device
from ..model.columns import prediction_columns, value_columns
from ..model.files import METRICS
from ..model.catalogue import resolve_model, shipped_models, target_units

log = logging.getLogger(__name__)


MAX_BATCH_ATOMS = 8192
BAND_GAP = re.compile(r"(^|_)(band_?)?gap($|_)", re.IGNORECASE)
LOG_GPA = "log10(GPa)"
SETTINGS = PredictConfig()  # the defaults of `cgcnn predict`, also those of the Python calls below
BATCH = SETTINGS.batch_size


class Predictor:
    """A trained CGCNN (or an ensemble of them) with what it needs to turn structures into numbers.

    An ensemble predicts the mean of its members; `predict_spread` also gives their standard deviation."""

    def __init__(self, model: Any, target_names: Sequence[str], metadata: dict | None = None,
                 device: str = SETTINGS.device, units: Sequence[str | None] | None = None) -> None:
        device = str(resolve_device(device))  # "auto": a GPU when there is one
        self.models = [m.to(device).eval() for m in (model if isinstance(model, (list, tuple)) else [model])]
        self.model = self.models[0]  # settings, element table and graph parameters are shared by all members
        self.target_names = list(target_names)
        self.units = list(units) if units else [None] * len(self.target_names)
        self.metadata = metadata or {}
        self.record = TrainingRecord(self.metadata)  # domain, calibration, training crystals
        self.device = device
        self.params = self.model.config.graph
        # members with the same settings expand a batch's distances alike: once for all of them
        self._shared_expansion = all(torch.equal(m.expansion.centers, self.model.expansion.centers)
                                     and m.expansion.width == self.model.expansion.width for m in self.models)
        # a band gap cannot be negative: the regression's small negative values are clipped at 0
        self.non_negative = [not self.is_classifier and bool(BAND_GAP.search(name)) for name in self.target_names]

    @property
    def is_classifier(self) -> bool:
        return self.model.config.task == "classification"

    @property
    def is_ensemble(self) -> bool:
        return len(self.models) > 1

    def predict(self, structures: Any, batch_size: int = BATCH, as_frame: bool = False) -> Any:
        """pymatgen Structures or ASE Atoms → (n, n_targets) values, or (n, n_classes) probabilities; with
        as_frame, a pandas DataFrame with the columns of `cgcnn predict` (std for an ensemble, GPa beside
        log10 moduli), one row per structure."""
        values, spread = self.predict_spread(structures, batch_size)
        if not as_frame:
            return values
        import pandas as pd

        return pd.DataFrame(self.columns(values, spread))

    def __repr__(self) -> str:
        config, meta = self.model.config, self.metadata
        units = [f"{name} [{unit}]" if unit else name for name, unit in zip(self.target_names, self.units)]
        parts = [f"{config.task} of {', '.join(units)}",
                 f"ensemble of {len(self.models)}" if self.is_ensemble else "single model",
                 f"{config.conv} convolutions ×{config.n_conv}, {config.pooling} pooling, radius {config.radius} Å"]
        if meta.get("n_train"):
            parts.append(f"trained on {meta['n_train']:,} crystals")
        if meta.get("fine_tuned_from"):
            parts.append(f"fine-tuned from {meta['fine_tuned_from']['model']}")
        if meta.get("test"):
            parts.append("test " + ", ".join(f"{k} {v:.4g}" for k, v in meta["test"].items()))
        return f"<cgcnn model: {'; '.join(parts)}>"

    def predict_spread(self, structures: Any, batch_size: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard deviation over the ensemble's members; zeros for a single model)."""
        graphs, sources = self.structure_graphs(structures)
        values, spread = self.predict_graphs_spread(graphs, batch_size)
        bad = np.flatnonzero(~finite_rows(values, spread))
        if len(bad):
            raise non_finite_error(sources[bad[0]])
        return values, spread

    def predict_items(self, items: Sequence, sources: Sequence[str], batch_size: int = BATCH, workers: int = 1,
                      progress: bool = False) -> np.ndarray:
        """Predict dataset items (paths, embedded text, Structures), reading them on `workers` processes."""
        return self.predict_graphs(self.graphs_for(items, sources, workers, progress), batch_size)

    def structure_graphs(self, structures: Any) -> tuple[list[CrystalGraph], list[str]]:
        """(graphs, names) of pymatgen Structures or ASE Atoms (one or a list), named "structure k" in errors."""
        if not isinstance(structures, (list, tuple)):
            structures = [structures]
        sources = [f"structure {k}" for k in range(len(structures))]
        return self.graphs_for([to_structure(s, src) for s, src in zip(structures, sources)], sources), sources

    def graphs_for(self, items: Sequence, sources: Sequence[str], workers: int = 1,
                   progress: bool = False) -> list[CrystalGraph]:
        graphs = build_graphs(items, sources, self.params, workers, progress)
        check_elements((g.atomic_numbers for g in graphs), sources, self.model.element_features)
        return graphs

    def predict_graphs(self, graphs: Sequence[CrystalGraph], batch_size: int = BATCH,
                       max_atoms: int = MAX_BATCH_ATOMS) -> np.ndarray:
        return self.predict_graphs_spread(graphs, batch_size, max_atoms)[0]

    def predict_graphs_spread(self, graphs: Sequence[CrystalGraph], batch_size: int = BATCH,
                              max_atoms: int = MAX_BATCH_ATOMS) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) over members in input order; batches are capped in atoms too, so a run of large
        cells cannot raise the memory peak."""
        mean, spread, _ = self.predict_graphs_full(graphs, batch_size, max_atoms)
        return mean, spread

    @torch.no_grad()
    def predict_graphs_full(self, graphs: Sequence[CrystalGraph], batch_size: int = BATCH,
                            max_atoms: int = MAX_BATCH_ATOMS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, std, crystal vectors of the first member) in input order, in one pass."""
        n_atoms = [g.n_atoms for g in graphs]
        per_member: list[list[torch.Tensor]] = [[] for _ in self.models]
        vectors = []
        for batch in loader(GraphDataset(graphs), batch_size, n_atoms=n_atoms, max_atoms=max_atoms):
            batch = batch.to(self.device)
            edges = self.model.expansion(batch.distances) if self._shared_expansion else None
            for k, (outputs, model) in enumerate(zip(per_member, self.models)):
                raw, crystals = model.forward_with_vectors(batch, edges)
                outputs.append(model.unscale(raw).cpu())
                if k == 0:
                    vectors.append(crystals.cpu())
        if not graphs:
            empty = np.zeros((0, self.model.config.n_outputs))
            return empty, empty, np.zeros((0, self.model.config.atom_fea_len))
        values = torch.stack([torch.cat(outputs) for outputs in per_member]).double()
        spread = values.std(0, correction=0) if self.is_ensemble else torch.zeros_like(values[0])
        mean = values.mean(0).numpy()
        for k, clip in enumerate(self.non_negative):
            if clip:
                mean[:, k] = np.maximum(mean[:, k], 0.0)
        return mean, spread.numpy(), torch.cat(vectors).double().numpy()

    def embed(self, structures: Any, sites: bool = False, member: int = 0,
              batch_size: int = BATCH) -> np.ndarray:
        """pymatgen Structures or ASE Atoms → (n, atom_fea_len) crystal vectors: the mean of each crystal's
        atom vectors after the last convolution, which feeds the layers after pooling (apps.embed). With
        sites, one row per site of all the crystals in turn. An ensemble embeds with member `member`."""
        self.check_member(member)
        return self.embed_graphs(self.structure_graphs(structures)[0], sites, member, batch_size)

    @torch.no_grad()
    def embed_graphs(self, graphs: Sequence[CrystalGraph], sites: bool = False, member: int = 0,
                     batch_size: int = BATCH) -> np.ndarray:
        """(crystals, atom_fea_len) crystal vectors, or (sites, atom_fea_len) site vectors, in input order."""
        model = self.models[member]
        vectors = []
        n_atoms = [g.n_atoms for g in graphs]
        for batch in loader(GraphDataset(graphs), batch_size, n_atoms=n_atoms, max_atoms=MAX_BATCH_ATOMS):
            batch = batch.to(self.device)
            vectors.append((model.atom_features(batch) if sites else model.forward_with_vectors(batch)[1]).cpu())
        if not vectors:
            return np.zeros((0, model.config.atom_fea_len), dtype=np.float32)
        return torch.cat(vectors).numpy()

    def check_member(self, member: int) -> None:
        if not 0 <= member < len(self.models):
            raise CgcnnError(f"--member {member}: the model has {len(self.models)} member(s), numbered from 0")

    def columns(self, values: np.ndarray, spread: np.ndarray, interval: float | None = None,
                distance: np.ndarray | None = None) -> dict:
        """The prediction table's columns: prediction (and std for an ensemble), the interval bounds at
        `interval` (scaled by `distance` where the calibration uses it), and GPa beside log10 moduli."""
        columns = prediction_columns(self.model.config.task, self.target_names, values,
                                     spread if self.is_ensemble else None)
        if interval is not None:
            lower, upper = calibrated_interval(self.record.calibration, values, spread, interval, distance)
            lower = np.where(self.non_negative, np.maximum(lower, 0.0), lower)  # a band gap is never below 0
            for k, name in enumerate(value_columns(self.target_names)):
                suffix = name[len("prediction"):]
                columns[f"lower{suffix}"], columns[f"upper{suffix}"] = lower[:, k], upper[:, k]
        return with_gpa(columns, self.gpa_columns())

    def predict_interval(self, structures: Any, level: float = 0.9,
                         batch_size: int = BATCH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prediction, lower, upper): the split-conformal interval at `level` (see model.calibration)."""
        self.record.require_calibration("model", self.is_classifier)
        values, spread, vectors = self.predict_graphs_full(self.structure_graphs(structures)[0], batch_size)
        return (values, *calibrated_interval(self.record.calibration, values, spread, level,
                                             self.record.distance(vectors)))

    def describe(self, interval: float | None = None) -> str:
        """What a prediction table holds: each column's target and unit, and how values were treated."""
        parts = [f"{column} = {name}" + (f" [{unit}]" if unit else "")
                 for column, name, unit in zip(value_columns(self.target_names), self.target_names, self.units)]
        parts += [f"{name} clipped at 0" for name, clip in zip(self.target_names, self.non_negative) if clip]
        parts += [f"{column}_GPa = 10^{column}" for column in self.gpa_columns()]
        if self.record.domain:
            parts.append("ood = 1: unlike the training crystals (a rare element, or a crystal vector far from "
                         "theirs; see cgcnn.model.domain)")
        if self.record.domain.get("validation_distances"):
            parts.append("ood_score: the share of the validation crystals closer to the training crystals (0 to 1)")
        if interval is not None:
            parts.append(f"lower/upper: {interval:g} split-conformal interval (calibrated on the validation split; "
                         "guaranteed for crystals like those, measured on others in docs/RESULTS.md)")
        return "; ".join(parts)

    def gpa_columns(self) -> list[str]:
        """The prediction columns of log10(GPa) targets (moduli), which get their value in GPa beside them."""
        return [column for column, unit in zip(value_columns(self.target_names), self.units) if unit == LOG_GPA]


def load_model(path: PathLike, atom_init: PathLike | None = None, device: str = SETTINGS.device) -> Predictor:
    """Load a shipped model by name (see `cgcnn models`, or `cgcnn.shipped_models()`), a cgcnn model or
    ensemble file, or an original CGCNN `.pth.tar` (with its element table `atom_init`)."""
    resolved = resolve_model(path)
    models, names, metadata = models_from_file(resolved, atom_init)
    return Predictor(models, names, {**metadata, **_test_summary(path, resolved)}, device, target_units(path, names))


def _test_summary(path: PathLike, resolved: Path) -> dict:
    """Training size and test metrics, where known: a shipped model's catalogue entry, or the test report of
    the run folder the file is in (shown by the Predictor's repr)."""
    entry = shipped_models().get(str(path)) if not Path(path).exists() else None
    if entry:
        return {"n_train": entry["n_train"], "test": entry["test"]}
    report = resolved.parent / METRICS
    if not report.is_file():
        return {}
    try:
        result = json.loads(report.read_text())
        keys = ("accuracy", "roc_auc") if "accuracy" in result["test"] else ("mae", "rmse", "r2")
        return {"n_train": result["n_train"], "test": {k: result["test"][k] for k in keys if k in result["test"]}}
    except (ValueError, KeyError, TypeError):  # an unreadable report only costs the summary
        return {}


def with_gpa(columns: dict, gpa_columns: list[str]) -> dict:
    """Each log10(GPa) prediction column followed (after its std column, if any) by its value in GPa."""
    out = {}
    for name, values in columns.items():
        out[name] = values
        base = "prediction" + name[len("std"):] if name.startswith("std") else name
        last = name.startswith("std") or base.replace("prediction", "std", 1) not in columns
        if base in gpa_columns and last:
            out[f"{base}_GPa"] = np.power(10.0, columns[base])
    return out


def finite_rows(values: np.ndarray, spread: np.ndarray) -> np.ndarray:
    return np.isfinite(values).all(axis=1) & np.isfinite(spread).all(axis=1)


def non_finite_error(source: PathLike) -> InputError:
    return InputError(source, "the model's prediction is not a finite number (NaN or infinity): the model "
                      "cannot be used for this crystal")
