"""`train`: load a dataset, choose its element table, and train one model or an ensemble on it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ..config import ConfigError, DataLayout, ModelConfig, PathLike, TrainConfig
from ..errors import InputError, NothingUsable
from ..graphs.elements import element_table_for
from ..io.datasets import CrystalDataset, load_dataset
from ..io.write import write_skipped
from .ensemble import fit_ensemble
from .finetune import inherited_config, load_source
from .run import fit
from .run_folder import SKIPPED, check_run_folder_path


def fit_dataset(dataset: CrystalDataset, model_config: ModelConfig, cfg: TrainConfig, element_features: torch.Tensor,
                run_dir: PathLike, *, source: PathLike = "dataset", resume: bool = False,
                progress: bool = True) -> dict:
    """One model (`fit`), or cfg.ensemble > 1 members in run_dir/member-K and their mean (`fit_ensemble`)."""
    train_one = fit_ensemble if cfg.ensemble > 1 else fit
    return train_one(dataset, model_config, cfg, element_features, run_dir, source=source, resume=resume,
                     progress=progress)


def train(data: PathLike, run_dir: PathLike, model_config: ModelConfig | None = None, cfg: TrainConfig | None = None,
          layout: DataLayout | None = None, *, resume: bool = False, progress: bool = True,
          init_from: PathLike | None = None) -> dict:
    """Train on a dataset (a folder with id_prop.csv, or a CSV/JSON table), writing everything to `run_dir`
    (best.pt, checkpoint.pt, log.csv, split.json, test_metrics.json, test_predictions.csv); returns the
    test report. `init_from` (or cfg.init_from) fine-tunes a trained model: a shipped name, a model or
    ensemble file, a run folder or an original .pth.tar (see training.finetune). Target cells left empty
    are missing labels; `layout` says where a table's targets and structures are. Under torchrun every
    process calls this."""
    cfg, model_config, layout = cfg or TrainConfig(), model_config or ModelConfig(), layout or DataLayout()
    atom_init = layout.atom_init
    if init_from is not None:
        cfg = replace(cfg, init_from=str(init_from))
    inputs = [data, *[path for path in (cfg.split_file, atom_init) if path]]
    check_run_folder_path(run_dir, inputs)
    source = load_source(cfg.init_from) if cfg.init_from else None
    if source:  # fine-tuning: the element table and network settings are the model's
        if atom_init is not None:
            raise ConfigError(f"--atom-init conflicts with --init-from: the model to fine-tune ({cfg.init_from}) "
                              "brings its own element table")
        model_config = inherited_config(source, model_config)
        if cfg.ensemble == 1 and cfg.init_member >= len(source.models):
            raise ConfigError(f"--init-member {cfg.init_member}: {cfg.init_from} has {len(source.models)} member(s), "
                              "numbered from 0")
    try:
        dataset = load_dataset(data, layout.targets, layout.id_column, layout.structure_column, skip_bad=cfg.skip_bad)
        features = source.element_features if source else element_table_for(dataset.atom_init, atom_init)
        return fit_dataset(dataset, model_config, cfg, features, run_dir, source=data, resume=resume,
                           progress=progress)
    except NothingUsable as exc:  # the list of what was left out, and why, is still written
        write_skipped(Path(run_dir) / SKIPPED, exc.skipped)
        raise InputError(exc.source, f"{exc.reason} (all listed in {Path(run_dir) / SKIPPED})") from None
