"""The run folder: its file names, its lock (one training process owns it at a time), the per-epoch log,
and the checkpoint that `--resume` continues from, with what it was trained on so that a resume with other
data or settings is refused rather than mixed in."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

import torch

from ..config import ModelConfig, PathLike, TrainConfig
from ..errors import InputError
from ..io.write import ensure_folder, lock_file, output_folder, release_lock, save_torch, write_csv
from ..model import safe_load
from ..model.files import BEST, CHECKPOINT, ENSEMBLE, LOCK, LOG, METRICS, RUN_FILES, SKIPPED, SPLIT, TEST_PREDICTIONS

log = logging.getLogger(__name__)
# settings that may change on --resume: they decide how long and where a run goes, not what it learns
GRAPH_KEYS = {"radius", "max_neighbors"}  # settings that are part of the graph store's key
RESUMABLE_CHANGES = {"epochs", "patience", "workers", "loader_workers", "device", "cache_dir", "compile"}


@contextlib.contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Own `run_dir` while the block runs: an advisory lock on RUN/.lock (released by the system if the
    process dies, removed when the block ends); a second training run into it gets a clear error naming
    the first."""
    created = not run_dir.exists()
    ensure_folder(run_dir)
    handle = lock_file(run_dir / LOCK, "another training run is using this folder; wait for it to end or "
                       "choose another --out")
    try:
        yield
    finally:
        release_lock(run_dir / LOCK, handle)
        if created:  # the run stopped before writing anything
            with contextlib.suppress(OSError):
                run_dir.rmdir()


def write_log(path: Path, history: list[dict]) -> None:
    if history:
        write_csv(path, list(history[0]), [list(row.values()) for row in history])


def remove_stale_temporaries(run_dir: Path) -> None:
    """Temporary files left by a run that was killed while writing (atomic_path names them .NAME.*.tmp)."""
    for stale in run_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def check_run_folder_path(run_dir: PathLike, inputs: Iterable[PathLike]) -> None:
    """Before any work: --out names a folder (or a new name) that is not one of the inputs."""
    path = output_folder(run_dir, "--out", "a run folder")
    if any(path.resolve() == Path(item).resolve() for item in inputs):
        raise InputError(path, "is an input of this run (the data); --out takes a separate run folder")


def check_run_folder(run_dir: Path, resume: bool) -> None:
    if resume and not (run_dir / CHECKPOINT).is_file():
        raise InputError(run_dir, f"nothing to resume: no {CHECKPOINT} in this folder")
    if not resume and (run_dir / CHECKPOINT).exists():
        raise InputError(run_dir, "the folder already holds a training run; pass --resume or choose another --out")


def save_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    shuffle: torch.Generator, state: dict, split_ids: dict, cfg: TrainConfig,
                    model_config: ModelConfig, fingerprint: dict) -> None:
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
            "data_fingerprint": fingerprint,
        },
        run_dir / CHECKPOINT,
    )


def resume_differences(saved: dict, split_ids: dict, fingerprint: dict, cfg: TrainConfig,
                       model_config: ModelConfig) -> list[str]:
    """One line per thing that differs between a saved run and this one (empty: it may resume)."""
    settings = []
    for name, now in (("train", asdict(cfg)), ("model", model_config.to_dict())):
        before = saved.get(f"{name}_config", {})
        settings += [(key, f"{key}: {before[key]!r} in the saved run, {value!r} now") for key, value in now.items()
                     if key in before and before[key] != value and key not in RESUMABLE_CHANGES]
    # the structure files' hash is the graph store's key, which covers the neighbour settings too: with one
    # of those changed, it says nothing about the files
    graph_changed = any(key in GRAPH_KEYS for key, _ in settings)
    lines = [f"{part}: changed since the saved run" for part, value in fingerprint.items()
             if saved.get("data_fingerprint", {}).get(part, value) != value
             and not (graph_changed and part == "structure files")]
    lines += [line for _, line in settings]
    if not lines and saved.get("split_ids") != split_ids:
        lines.append("split: the crystals of the train/val/test splits differ")
    return lines


def restore_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       scheduler: torch.optim.lr_scheduler.LRScheduler, shuffle: torch.Generator,
                       split_ids: dict, fingerprint: dict, cfg: TrainConfig, model_config: ModelConfig) -> dict:
    """Load the saved training state into the given objects; returns the loop's state (epoch, history…).
    Refuses, listing what differs, when the data or a setting outside RESUMABLE_CHANGES is not the saved run's."""
    saved = safe_load(run_dir / CHECKPOINT)
    differences = resume_differences(saved, split_ids, fingerprint, cfg, model_config)
    if differences:
        raise InputError(run_dir / CHECKPOINT, "cannot resume, this run differs from the saved one:\n  "
                         + "\n  ".join(differences))
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
