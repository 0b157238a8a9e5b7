"""Ensembles, on top of single-model training: K models of one recipe trained from different seeds on the
same split. Their mean is the prediction and their standard deviation a cheap uncertainty; the test report
says how well that spread ranks the actual errors (Spearman rank correlation of |error| with σ)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from pathlib import Path

import torch

from ..config import ModelConfig, PathLike, TrainConfig
from ..errors import InputError
from ..io.datasets import CrystalDataset
from ..io.write import write_text
from ..model import model_from_file, save_ensemble
from ..model.distributed import launched_rank
from .loop import init_seed, loss_function, resolve_device
from .prepare import prepare
from .report import run_domain, training_set, validation_calibration, write_test_report
from .run import fit
from .run_folder import BEST, CHECKPOINT, ENSEMBLE, METRICS, SPLIT, run_folder_lock

log = logging.getLogger(__name__)


def member_dir(run_dir: PathLike, k: int) -> Path:
    return Path(run_dir) / f"member-{k}"


def ensemble_started(run_dir: PathLike) -> bool:
    """Whether the folder holds an ensemble run to resume: member 0 has a checkpoint, or is finished (a
    finished member counts even without its checkpoint, e.g. one bundled from elsewhere)."""
    return any((member_dir(run_dir, 0) / name).exists() for name in (CHECKPOINT, METRICS))


def fit_ensemble(dataset: CrystalDataset, model_config: ModelConfig, cfg: TrainConfig,
                 element_features: torch.Tensor, run_dir: PathLike, *, source: PathLike = "dataset",
                 resume: bool = False, progress: bool = True) -> dict:
    """Train cfg.ensemble members (weights and shuffling seeded seed+k, one split), then evaluate their mean.

    With resume, finished members are kept, an interrupted one continues and the rest start."""
    run_dir = Path(run_dir)
    with run_folder_lock(run_dir) if launched_rank() == 0 else contextlib.nullcontext():
        return _fit_members(dataset, model_config, cfg, element_features, run_dir, source, resume, progress)


def _fit_members(dataset: CrystalDataset, model_config: ModelConfig, cfg: TrainConfig,
                 element_features: torch.Tensor, run_dir: Path, source: PathLike, resume: bool,
                 progress: bool) -> dict:
    started = ensemble_started(run_dir)
    if not resume and started:
        raise InputError(run_dir, "the folder already holds an ensemble run; pass --resume or choose another --out")
    if resume and not started:
        raise InputError(run_dir, f"nothing to resume: no member-0/{CHECKPOINT} in this folder")
    for k in range(cfg.ensemble):
        folder = member_dir(run_dir, k)
        if (folder / METRICS).is_file():
            continue
        log.info("ensemble member %d of %d", k + 1, cfg.ensemble)
        # fine-tuning from an ensemble: member k starts from its member k (see training.finetune)
        member_cfg = replace(cfg, ensemble=1, init_seed=init_seed(cfg) + k,
                             init_member=cfg.init_member + k if cfg.init_from else 0)
        fit(dataset, model_config, member_cfg, element_features, folder, source=source,
            resume=(folder / CHECKPOINT).exists(), progress=progress)
    if launched_rank() != 0:  # under torchrun the first process alone writes the ensemble
        return {}
    return evaluate_ensemble(dataset, model_config, cfg, element_features, run_dir, source, progress)


def evaluate_ensemble(dataset: CrystalDataset, model_config: ModelConfig, cfg: TrainConfig,
                      element_features: torch.Tensor, run_dir: Path, source: PathLike, progress: bool) -> dict:
    """Bundle the members' best models into ensemble.pt; test metrics and predictions of their mean."""
    paths = [member_dir(run_dir, k) / BEST for k in range(cfg.ensemble)]
    run = prepare(dataset, model_config, replace(cfg, ensemble=1), element_features, run_dir, source,
                  progress)
    write_text(run_dir / SPLIT, (member_dir(run_dir, 0) / SPLIT).read_text())
    members = [model_from_file(path)[0] for path in paths]
    device, loss_fn = resolve_device(cfg.device), loss_function(model_config.task, cfg.loss, cfg.target_weights)
    domain = run_domain(run, members[0], device)
    calibration = validation_calibration(run, members, device, loss_fn, domain)
    # each member records the member it started from; the ensemble, the model
    origin = {"fine_tuned_from": {k: v for k, v in run.origin.items() if k != "member"}} if run.origin else {}
    metadata = {"members": cfg.ensemble, "seed": cfg.seed, "domain": domain, "training_set": training_set(run),
                **({"calibration": calibration} if calibration else {}), **origin}
    save_ensemble(paths, run_dir / ENSEMBLE, metadata)
    return write_test_report(run, members, device, loss_fn,
                             {"task": model_config.task, "ensemble": cfg.ensemble, **origin}, calibration, domain)
