"""The run folder: its file names, the per-epoch log, and the checkpoint that `--resume` continues from."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import torch

from ..config import ModelConfig, TrainConfig
from ..errors import InputError
from ..io.write import save_torch, write_csv
from ..model import safe_load

log = logging.getLogger(__name__)
BEST, CHECKPOINT, LOG, SPLIT = "best.pt", "checkpoint.pt", "log.csv", "split.json"
METRICS, TEST_PREDICTIONS, SKIPPED = "test_metrics.json", "test_predictions.csv", "skipped.csv"


def write_log(path: Path, history: list[dict]) -> None:
    if history:
        write_csv(path, list(history[0]), [list(row.values()) for row in history])


def remove_stale_temporaries(run_dir: Path) -> None:
    """Temporary files left by a run that was killed while writing (atomic_path names them .NAME.*.tmp)."""
    for stale in run_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def check_run_folder(run_dir: Path, resume: bool) -> None:
    if resume and not (run_dir / CHECKPOINT).is_file():
        raise InputError(run_dir, f"nothing to resume: no {CHECKPOINT} in this folder")
    if not resume and (run_dir / CHECKPOINT).exists():
        raise InputError(run_dir, "the folder already holds a training run; pass --resume or choose another --out")


def save_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    shuffle: torch.Generator, state: dict, split_ids: dict, cfg: TrainConfig,
                    model_config: ModelConfig) -> None:
    save_torch(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "shuffle_rng": shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
            "state": state,
            "split_ids": split_ids,
            "train_config": asdict(cfg),
            "model_config": model_config.to_dict(),
        },
        run_dir / CHECKPOINT,
    )


def restore_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       scheduler: torch.optim.lr_scheduler.LRScheduler, shuffle: torch.Generator,
                       split_ids: dict) -> dict:
    """Load the saved training state into the given objects; returns the loop's state (epoch, history…)."""
    saved = safe_load(run_dir / CHECKPOINT)
    if saved.get("split_ids") != split_ids:
        raise InputError(run_dir / CHECKPOINT, "cannot resume: the data, split or seed differ from the saved run")
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise InputError(run_dir / CHECKPOINT, f"cannot resume: the model settings differ ({exc})") from None
    # the rate is a closed-form function of the epoch, so the epoch alone restores the schedule (also for
    # checkpoints that saved an older MultiStepLR or CosineAnnealingLR state)
    scheduler.last_epoch = saved["state"]["epoch"]
    shuffle.set_state(saved["shuffle_rng"])
    torch.set_rng_state(saved["torch_rng"])
    log.info("resuming after epoch %d", saved["state"]["epoch"])
    return saved["state"]
