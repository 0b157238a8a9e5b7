"""Everything a training run needs before its first epoch: the graph store, the usable crystals, the split,
the targets and a freshly initialised model with its target scaling fitted on the training split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from torch.utils.data import DataLoader

from ..config import ModelConfig, PathLike, TrainConfig
from ..errors import InputError, NothingUsable
from ..graphs.batching import GraphDataset, loader
from ..graphs.elements import missing_elements, require_elements
from ..graphs.featurize import graph_store
from ..graphs.store import GraphStore
from ..io.datasets import CrystalDataset
from ..model import CrystalGraphConvNet
from ..model.distributed import Context
from .finetune import start_from
from .loop import init_seed
from .splits import split_from_file, split_indices


@dataclass
class Run:
    """A prepared training run."""

    model: CrystalGraphConvNet
    datasets: dict  # split name → GraphDataset
    n_atoms: np.ndarray  # per crystal of the whole dataset
    skipped: list  # (id, source, reason) of the crystals left out
    ids: list
    target_names: list
    cfg: TrainConfig
    run_dir: Path
    fingerprint: dict  # what the run learns from, hashed: a resume must find the same
    origin: dict | None = None  # the model it was fine-tuned from (training.finetune)


def data_fingerprint(store: GraphStore, targets: torch.Tensor, target_names: list,
                     element_features: torch.Tensor) -> dict:
    """Hashes of the structure files (with their ids and the graph settings: the store's key), the target
    values and the element table."""
    def digest(data: bytes) -> str:
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    return {"structure files": store.header["key"],
            "target values": digest(targets.numpy().tobytes() + repr(target_names).encode()),
            "element table": digest(torch.nan_to_num(element_features).numpy().tobytes())}


def target_tensor(dataset: CrystalDataset, task: str, source: PathLike) -> tuple[torch.Tensor, int]:
    """(targets tensor, number of outputs); classes must be whole numbers 0..C-1 in one column."""
    values = dataset.targets
    assert values is not None, "a training dataset has targets"
    if task == "regression":
        return torch.tensor(values, dtype=torch.float32), values.shape[1]
    if values.shape[1] != 1:
        raise InputError(source, "classification takes exactly one target column of class labels (a classifier "
                         "cannot share a run with regression targets)")
    labels = np.nan_to_num(values[:, 0], nan=0.0)  # unlabelled crystals are left out by `unlabelled`
    bad = np.flatnonzero((labels != np.round(labels)) | (labels < 0))
    if len(bad):
        raise InputError(source, f"id {dataset.ids[bad[0]]!r}: class label {labels[bad[0]]} is not 0, 1, 2, ...")
    return torch.tensor(labels, dtype=torch.long), max(2, int(labels.max()) + 1)


def unlabelled(dataset: CrystalDataset) -> dict:
    """{crystal: (source, reason)} for crystals without any label (every target cell empty or NaN)."""
    assert dataset.targets is not None
    missing = np.isnan(dataset.targets).all(axis=1)
    return {int(k): (dataset.sources[k], "no label: every target cell is empty") for k in np.flatnonzero(missing)}


def fit_target_scaling(model: CrystalGraphConvNet, train_targets: torch.Tensor) -> None:
    """Per-target mean and spread of the training labels (missing ones ignored); 1 where there is none."""
    labelled = ~torch.isnan(train_targets)
    counts = labelled.sum(0)
    values = torch.where(labelled, train_targets, torch.zeros_like(train_targets))
    mean = values.sum(0) / counts.clamp(min=1)
    variance = (torch.where(labelled, train_targets - mean, torch.zeros_like(values)) ** 2).sum(0)
    std = (variance / (counts - 1).clamp(min=1)).sqrt()
    model.target_mean.copy_(mean)
    model.target_std.copy_(torch.where((std > 0) & (counts > 1), std, torch.ones_like(std)))


def prepare(dataset: CrystalDataset, model_config: ModelConfig, cfg: TrainConfig, element_features: torch.Tensor,
            run_dir: PathLike, source: PathLike, progress: bool) -> Run:
    targets, n_outputs = target_tensor(dataset, model_config.task, source)
    store = graph_store(dataset, model_config.graph, cfg.cache_dir, cfg.workers, progress, cfg.skip_bad)
    no_label = unlabelled(dataset)
    bad = {**no_label, **store.failures,
           **_missing_elements(store, dataset.sources, element_features, cfg.skip_bad)}
    usable = [k for k in range(len(store)) if k not in bad]
    if not usable:
        raise NothingUsable(source, dataset.skipped + [(dataset.ids[k], *bad[k]) for k in sorted(bad)])
    if cfg.split_file:
        split = split_from_file(cfg.split_file, dataset.ids, usable, cfg.skip_bad, set(no_label))
    else:
        split = {name: [usable[i] for i in idx]
                 for name, idx in split_indices(len(usable), cfg.split, cfg.seed).items()}
    datasets = {name: GraphDataset(store, targets, idx) for name, idx in split.items()}
    skipped = dataset.skipped + [(dataset.ids[k], *bad[k]) for k in sorted(bad)]
    model_config = replace(model_config, n_outputs=n_outputs)  # the caller's settings stay as given
    if cfg.target_weights is not None and len(cfg.target_weights) != n_outputs:
        raise InputError(source, f"--target-weights gives {len(cfg.target_weights)} weights for "
                         f"{n_outputs} targets ({', '.join(dataset.target_names)})")
    torch.manual_seed(init_seed(cfg))
    model = CrystalGraphConvNet(model_config, element_features)
    if model_config.task == "regression":
        fit_target_scaling(model, targets[split["train"]])
    origin = start_from(model, cfg, dataset.target_names) if cfg.init_from else None
    return Run(model, datasets, store.n_atoms(), skipped, list(dataset.ids), dataset.target_names, cfg,
               Path(run_dir), data_fingerprint(store, targets, dataset.target_names, element_features), origin)


def _missing_elements(store: GraphStore, sources, element_features: torch.Tensor, skip_bad: bool) -> dict:
    """{crystal: (source, reason)} for crystals with elements the feature table lacks (raises the first
    unless skip_bad); one vectorised pass finds the crystals holding such atoms."""
    numbers, offsets = store.arrays["atomic_numbers"], store.arrays["atom_offsets"]
    missing = missing_elements(np.unique(numbers), element_features)
    if not missing:
        return {}
    atoms = np.flatnonzero(np.isin(numbers, missing))
    found = {}
    for k in np.unique(np.searchsorted(offsets, atoms, side="right") - 1).tolist():
        error = require_elements(numbers[offsets[k] : offsets[k + 1]], element_features, sources[k], skip_bad)
        if error:
            found[k] = (error.source, error.reason)
    return found


def batches(run: Run, name: str, shuffle: bool = False, generator: torch.Generator | None = None,
            context: Context | None = None) -> DataLoader:
    data = run.datasets[name]
    return loader(data, run.cfg.batch_size, shuffle, generator, run.cfg.loader_workers,
                  run.n_atoms[data.indices], run.cfg.max_batch_atoms, context)
