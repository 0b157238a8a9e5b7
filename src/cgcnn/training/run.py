"""Training one model: best-on-validation model file, an atomic every-epoch checkpoint for `--resume`,
a per-epoch CSV log, and the test report at the end. Under torchrun every process runs this; rank 0 builds
the graph store and writes every file."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import ModelConfig, PathLike, Precision, TrainConfig
from ..io.datasets import CrystalDataset
from ..io.write import write_skipped, write_text
from ..model import model_from_file, safe_load, save_model
from ..model import distributed
from .loop import (LossFunction, evaluate, init_seed, loss_function, make_optimizer, make_scheduler,
                   resolve_device, resolve_precision, selection_score, train_epoch)
from .metrics import metrics_for
from .prepare import Run, batches, prepare
from .report import run_domain, training_set, validation_calibration, write_test_report
from .run_folder import (BEST, CHECKPOINT, LOG, SKIPPED, SPLIT, check_run_folder, remove_stale_temporaries,
                         restore_checkpoint, run_folder_lock, save_checkpoint, write_log)

log = logging.getLogger(__name__)


def fit(dataset: CrystalDataset, model_config: ModelConfig, cfg: TrainConfig, element_features: torch.Tensor,
        run_dir: PathLike, *, source: PathLike = "dataset", resume: bool = False, progress: bool = True) -> dict:
    """Train one model on `dataset`, writing everything to `run_dir`; returns the test report."""
    run_dir = Path(run_dir)
    context = distributed.start(cfg.device)
    cfg = replace(cfg, precision=_precision(cfg, run_dir, resume))
    progress = progress and context.main
    try:
        with run_folder_lock(run_dir) if context.main else contextlib.nullcontext():
            check_run_folder(run_dir, resume)
            run = _prepare_in_turn(context, dataset, model_config, cfg, element_features, run_dir, source, progress)
            return _train_loop(run, context, run.model.config, cfg, resume, progress)
    finally:
        distributed.stop(context)


def _precision(cfg: TrainConfig, run_dir: Path, resume: bool) -> Precision:
    """The arithmetic this run trains in, resolved before anything is saved or compared so the run records
    what it ran: `auto` resumes in the saved run's precision, else it is chosen for this machine."""
    if resume and cfg.precision == "auto" and (run_dir / CHECKPOINT).is_file():
        saved = safe_load(run_dir / CHECKPOINT).get("train_config", {}).get("precision", "fp32")
        if saved == "fp32" or saved == "bf16":  # the comparisons narrow the type
            return saved
    return resolve_precision(cfg.precision, resolve_device(cfg.device))


def _prepare_in_turn(context: distributed.Context, *args) -> Run:
    """Rank 0 builds the graph store first; the other ranks then find it."""
    if context.main:
        run = prepare(*args)
    distributed.barrier(context)
    return run if context.main else prepare(*args)


def _train_loop(run: Run, context: distributed.Context, model_config: ModelConfig, cfg: TrainConfig,
                resume: bool, progress: bool) -> dict:
    run_dir = run.run_dir
    split_ids = {name: [run.ids[k] for k in ds.indices] for name, ds in run.datasets.items()}
    if context.main:
        _write_run_files(run, split_ids)
    device = distributed.device_for(context, resolve_device(cfg.device))
    model = run.model.to(device)
    net: torch.nn.Module = torch.nn.parallel.DistributedDataParallel(model) if context.enabled else model
    if cfg.compile:
        net = torch.compile(net, dynamic=True)  # type: ignore[assignment]  # batch sizes vary: one graph
    optimizer, loss_fn = make_optimizer(model, cfg), loss_function(model_config.task, cfg.loss, cfg.target_weights)
    scheduler = make_scheduler(optimizer, cfg)
    shuffle = torch.Generator().manual_seed(init_seed(cfg))
    state: dict = {"epoch": 0, "best_score": math.inf, "best_epoch": 0, "history": []}
    if resume:
        state = restore_checkpoint(run_dir, model, optimizer, scheduler, shuffle, split_ids, run.fingerprint, cfg,
                                   model_config)
        if context.main:  # a kill between checkpoint and log leaves the log an epoch behind
            write_log(run_dir / LOG, state["history"])
    train_batches = batches(run, "train", True, shuffle, context)
    val_batches = batches(run, "val")
    epochs = tqdm(range(state["epoch"], cfg.epochs), desc="epochs", unit="epoch", disable=not progress,
                  initial=state["epoch"], total=cfg.epochs)
    for epoch in epochs:
        start = time.perf_counter()
        train_loss = train_epoch(model, train_batches, optimizer, loss_fn, device, progress, net,
                                 cfg.precision == "bf16")
        val_loss, outputs, targets, _ = evaluate(model, val_batches, loss_fn, device)
        score = selection_score(model, outputs, targets)
        row = _log_row(epoch + 1, optimizer, train_loss, val_loss, model_config.task, outputs, targets, run)
        row["seconds"] = round(time.perf_counter() - start, 3)
        state["history"].append(row)
        scheduler.step()
        if score < state["best_score"]:
            state.update(best_score=score, best_epoch=epoch + 1)
            if context.main:
                save_model(model, run_dir / BEST, run.target_names, _metadata(run, epoch + 1))
        state["epoch"] = epoch + 1
        if context.main:
            save_checkpoint(run_dir, model, optimizer, shuffle, state, split_ids, cfg, model_config, run.fingerprint)
            write_log(run_dir / LOG, state["history"])
        epochs.set_postfix({k: v for k, v in row.items() if k.startswith("val_")})
        patience_out = bool(cfg.patience) and state["epoch"] - state["best_epoch"] >= cfg.patience
        if distributed.agree(context, patience_out):
            log.info("early stop at epoch %d: no better validation score for %d epochs", epoch + 1, cfg.patience)
            break
    distributed.barrier(context)
    return finish(run, device, loss_fn) if context.main else {}


def _write_run_files(run: Run, split_ids: dict) -> None:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(run.run_dir)
    write_text(run.run_dir / SPLIT, json.dumps(split_ids) + "\n")
    write_skipped(run.run_dir / SKIPPED, run.skipped)
    if run.skipped:
        log.warning("%d crystals skipped; see %s", len(run.skipped), run.run_dir / SKIPPED)


def _log_row(epoch: int, optimizer: torch.optim.Optimizer, train_loss: float, val_loss: float, task: str,
             outputs: np.ndarray, targets: np.ndarray, run: Run) -> dict:
    row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": round(train_loss, 6),
           "val_loss": round(val_loss, 6)}
    metrics = metrics_for(task, targets, outputs, run.target_names)
    if task == "classification":
        row["val_accuracy"] = round(metrics["accuracy"], 6)
    else:
        row["val_mae"] = round(float(np.nanmean([m["mae"] for m in metrics["targets"].values()])), 6)
    return row


def _metadata(run: Run, epoch: int) -> dict:
    origin = {"fine_tuned_from": run.origin} if run.origin else {}
    return {"epoch": epoch, "n_train": len(run.datasets["train"]), "train_config": asdict(run.cfg), **origin}


def finish(run: Run, device: torch.device, loss_fn: LossFunction) -> dict:
    """Evaluate the best model on the test split; write metrics JSON and test predictions CSV."""
    best, names, metadata = model_from_file(run.run_dir / BEST)
    domain = run_domain(run, best, device)
    calibration = validation_calibration(run, [best], device, loss_fn, domain)
    # the model file carries its intervals' calibration and its training domain
    fitted = {"domain": domain, "training_set": training_set(run),
              **({"calibration": calibration} if calibration else {})}
    save_model(best, run.run_dir / BEST, names, {**metadata, **fitted})
    origin = {"fine_tuned_from": run.origin} if run.origin else {}
    return write_test_report(run, [best], device, loss_fn,
                             {"task": best.config.task, "best_epoch": int(metadata["epoch"]), **origin}, calibration,
                             domain)
