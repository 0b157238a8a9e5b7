"""Training: seeded split, target scaling fitted on the training split, best-on-validation model,
an atomic every-epoch checkpoint for `--resume`, a per-epoch CSV log, and test metrics at the end."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import distributed
from .atomic import save_torch, write_csv, write_text
from .checkpoint import model_from_file, safe_load, save_model
from .data import GraphDataset, loader
from .elements import missing_elements, unknown_elements_error
from .store import open_or_build
from .errors import CgcnnError, InputError
from .graph import GraphParams
from .metrics import metrics_for, spread_ranking
from .model import CrystalGraphConvNet, ModelConfig
from .predict import SKIPPED_HEADER, prediction_columns, write_predictions

log = logging.getLogger(__name__)
BEST, CHECKPOINT, LOG, SPLIT = "best.pt", "checkpoint.pt", "log.csv", "split.json"
METRICS, TEST_PREDICTIONS, SKIPPED = "test_metrics.json", "test_predictions.csv", "skipped.csv"


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 256
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "step"  # step | cosine | none
    lr_milestones: list = field(default_factory=lambda: [100])
    lr_gamma: float = 0.1
    loss: str = "mse"  # mse | l1 | huber (regression; classification uses cross entropy)
    patience: int | None = None  # stop after this many epochs without a better validation score
    split: list = field(default_factory=lambda: [0.6, 0.2, 0.2])  # ratios, or sizes if > 1
    split_file: str | None = None  # JSON {"train": [ids], "val": [ids], "test": [ids]}; overrides split/seed
    warmup_epochs: int = 0  # linear learning-rate warm-up before the schedule
    ensemble: int = 1  # train this many models (seeds seed, seed+1, ...) on one split; see ensemble.py
    init_seed: int | None = None  # seed of the weights and the shuffling (default: seed, which also splits)
    seed: int = 0
    device: str = "cpu"
    workers: int = 1  # processes that read crystals and build graphs
    loader_workers: int = 0  # data-loader processes during training
    max_batch_atoms: int | None = None  # cap on atoms per batch (memory)
    cache_dir: str | None = None  # where graph stores live (default $CGCNN_CACHE_DIR or ~/.cache/cgcnn)
    skip_bad: bool = False  # leave out unusable crystals (listed in skipped.csv) instead of stopping
    compile: bool = False  # torch.compile the training forward/backward (~1.8× per step on CPU, ~25 s to compile)


# ---------------------------------------------------------------- split and targets


def split_sizes(n: int, split) -> tuple:
    """(train, val, test) sizes from ratios (summing to at most 1) or absolute sizes."""
    if len(split) != 3 or any(s < 0 for s in split):
        raise CgcnnError("--split takes three non-negative numbers: train val test")
    if all(s <= 1 for s in split):
        if sum(split) > 1 + 1e-9:
            raise CgcnnError(f"split ratios {split} add up to more than 1")
        n_val, n_test = round(split[1] * n), round(split[2] * n)
        n_train = n - n_val - n_test if math.isclose(sum(split), 1) else round(split[0] * n)
    else:
        n_train, n_val, n_test = (int(s) for s in split)
    if n_train < 1 or n_val < 1 or n_train + n_val + n_test > n:
        raise CgcnnError(f"cannot split {n} crystals into train/val/test = {n_train}/{n_val}/{n_test}")
    return n_train, n_val, n_test


def split_indices(n: int, split, seed: int) -> dict:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_train, n_val, n_test = split_sizes(n, split)
    return {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val : n_train + n_val + n_test],
    }


def split_from_file(path, ids, usable, skip_bad=False) -> dict:
    """Dataset indices of the train/val/test ids listed in a JSON file (the run folder's split.json)."""
    try:
        listed = json.loads(Path(path).read_text())
        if not all(isinstance(listed.get(k), list) for k in ("train", "val", "test")):
            raise ValueError("needs lists of ids under 'train', 'val' and 'test'")
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(path, f"not a split file: {exc}") from None
    where = {str(crystal): k for k, crystal in enumerate(ids)}
    ok = set(usable)
    split = {}
    for name in ("train", "val", "test"):
        found = [where.get(str(crystal)) for crystal in listed[name]]
        bad = [c for c, k in zip(listed[name], found) if k is None or k not in ok]
        if bad and not skip_bad:
            raise InputError(path, f"{len(bad)} {name} ids are not usable crystals of the data, e.g. {bad[0]!r}")
        split[name] = [k for k in found if k is not None and k in ok]
    if not split["train"] or not split["val"]:
        raise InputError(path, "the split leaves no training or no validation crystal")
    return split


def target_tensor(dataset, task: str, source) -> tuple:
    """(targets tensor, number of outputs); classes must be whole numbers 0..C-1 in one column."""
    values = dataset.targets
    if task == "regression":
        return torch.tensor(values, dtype=torch.float32), values.shape[1]
    if values.shape[1] != 1:
        raise InputError(source, "classification takes exactly one target column of class labels")
    labels = values[:, 0]
    bad = np.flatnonzero((labels != np.round(labels)) | (labels < 0))
    if len(bad):
        raise InputError(source, f"id {dataset.ids[bad[0]]!r}: class label {labels[bad[0]]} is not 0, 1, 2, ...")
    return torch.tensor(labels, dtype=torch.long), max(2, int(labels.max()) + 1)


# ---------------------------------------------------------------- one epoch


def loss_function(task: str, name: str):
    if task == "classification":
        return F.cross_entropy
    return {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss}[name]


def scaled(model, targets):
    if model.config.task == "classification":
        return targets
    return (targets - model.target_mean) / model.target_std


def train_epoch(model, batches, optimizer, loss_fn, device, progress, net=None) -> float:
    """One pass over the training batches; `net` is the model as wrapped for data parallelism, if it is."""
    net = model if net is None else net
    net.train()
    total, count = 0.0, 0
    # a per-batch bar only where an epoch is long enough to need one
    for batch in tqdm(batches, desc="batches", leave=False, disable=not progress or len(batches) < 50):
        batch = batch.to(device)
        loss = loss_fn(net(batch), scaled(model, batch.targets))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * batch.n_crystals
        count += batch.n_crystals
    total, count = distributed.summed([total, count])
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model, batches, loss_fn, device) -> tuple:
    """(mean loss, outputs in target units or probabilities, targets, dataset indices)."""
    model.eval()
    total, outputs, targets, indices = 0.0, [], [], []
    for batch in batches:
        batch = batch.to(device)
        raw = model(batch)
        total += float(loss_fn(raw, scaled(model, batch.targets))) * batch.n_crystals
        outputs.append(model.unscale(raw).cpu())
        targets.append(batch.targets.cpu())
        indices.append(batch.indices)
    n = sum(len(i) for i in indices)
    return total / max(n, 1), torch.cat(outputs).numpy(), torch.cat(targets).numpy(), torch.cat(indices).numpy()


def selection_score(model, outputs, targets) -> float:
    """Lower is better: mean MAE in units of each target's spread, or cross entropy for classes."""
    if model.config.task == "classification":
        probs = np.clip(outputs[np.arange(len(targets)), targets.astype(int)], 1e-12, None)
        return float(-np.mean(np.log(probs)))
    std = model.target_std.cpu().numpy()
    return float(np.mean(np.abs(outputs - targets) / std))


# ---------------------------------------------------------------- optimiser state


def make_optimizer(model, cfg: TrainConfig):
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise CgcnnError(f"unknown optimizer {cfg.optimizer!r}; choose sgd, adam or adamw")


def lr_factor(cfg: TrainConfig, epoch: int) -> float:
    """Learning-rate multiplier for `epoch` (0-based): linear warm-up, then step / cosine / constant."""
    warm = cfg.warmup_epochs
    if epoch < warm:
        return (epoch + 1) / (warm + 1)
    if cfg.scheduler == "step":
        return cfg.lr_gamma ** sum(epoch >= m for m in cfg.lr_milestones)
    if cfg.scheduler == "cosine":
        return 0.5 * (1 + math.cos(math.pi * (epoch - warm) / max(cfg.epochs - warm, 1)))
    return 1.0


def make_scheduler(optimizer, cfg: TrainConfig):
    if cfg.scheduler not in ("step", "cosine", "none"):
        raise CgcnnError(f"unknown scheduler {cfg.scheduler!r}; choose step, cosine or none")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(cfg, epoch))


def init_seed(cfg: TrainConfig) -> int:
    return cfg.seed if cfg.init_seed is None else cfg.init_seed


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---------------------------------------------------------------- run folder files


def write_log(path: Path, history: list) -> None:
    if history:
        write_csv(path, list(history[0]), [list(row.values()) for row in history])


def remove_stale_temporaries(run_dir: Path) -> None:
    """Temporary files left by a run that was killed while writing (atomic_path names them .NAME.*.tmp)."""
    for stale in run_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _check_run_folder(run_dir: Path, resume: bool) -> None:
    if resume and not (run_dir / CHECKPOINT).is_file():
        raise InputError(run_dir, f"nothing to resume: no {CHECKPOINT} in this folder")
    if not resume and (run_dir / CHECKPOINT).exists():
        raise InputError(run_dir, "the folder already holds a training run; pass --resume or choose another --out")


# ---------------------------------------------------------------- the whole run


@dataclass
class Run:
    """Everything a training run needs, prepared before the first epoch."""

    model: CrystalGraphConvNet
    datasets: dict
    n_atoms: np.ndarray  # per crystal of the whole dataset
    skipped: list  # (id, source, reason) of the crystals left out
    ids: list
    target_names: list
    cfg: TrainConfig
    run_dir: Path


def prepare(dataset, model_config: ModelConfig, cfg: TrainConfig, element_features, run_dir, source, progress):
    params = GraphParams(model_config.radius, model_config.max_neighbors)
    targets, n_outputs = target_tensor(dataset, model_config.task, source)
    store = open_or_build(dataset, params, cfg.cache_dir, cfg.workers, progress, cfg.skip_bad)
    bad = {**store.failures, **_missing_elements(store, dataset.sources, element_features, cfg.skip_bad)}
    usable = [k for k in range(len(store)) if k not in bad]
    if not usable:
        raise InputError(source, f"no usable crystal ({len(bad) + len(dataset.skipped)} skipped)")
    if cfg.split_file:
        split = split_from_file(cfg.split_file, dataset.ids, usable, cfg.skip_bad)
    else:
        split = {name: [usable[i] for i in idx]
                 for name, idx in split_indices(len(usable), cfg.split, cfg.seed).items()}
    datasets = {name: GraphDataset(store, targets, idx) for name, idx in split.items()}
    skipped = dataset.skipped + [(dataset.ids[k], *bad[k]) for k in sorted(bad)]
    model_config.n_outputs = n_outputs
    torch.manual_seed(init_seed(cfg))
    model = CrystalGraphConvNet(model_config, element_features)
    if model_config.task == "regression":
        train_targets = targets[split["train"]]
        model.target_mean.copy_(train_targets.mean(0))
        std = train_targets.std(0) if len(train_targets) > 1 else torch.ones(n_outputs)
        model.target_std.copy_(torch.where(std > 0, std, torch.ones_like(std)))
    return Run(model, datasets, store.n_atoms(), skipped, list(dataset.ids), dataset.target_names, cfg,
               Path(run_dir))


def _missing_elements(store, sources, element_features, skip_bad) -> dict:
    """{crystal: (source, reason)} for crystals with elements the feature table lacks (raises the first
    unless skip_bad); one vectorised pass over all atoms."""
    numbers, offsets = store.arrays["atomic_numbers"], store.arrays["atom_offsets"]
    missing = missing_elements(np.unique(numbers), element_features)
    if not missing:
        return {}
    atoms = np.flatnonzero(np.isin(numbers, missing))
    found = {}
    for k in np.unique(np.searchsorted(offsets, atoms, side="right") - 1).tolist():
        error = unknown_elements_error(numbers[offsets[k] : offsets[k + 1]], element_features, sources[k])
        if not skip_bad:
            raise error
        found[k] = (error.source, error.reason)
    return found


def batches(run: Run, name: str, shuffle=False, generator=None, context=None):
    data = run.datasets[name]
    return loader(data, run.cfg.batch_size, shuffle, generator, run.cfg.loader_workers,
                  run.n_atoms[data.indices], run.cfg.max_batch_atoms, context)


def fit(dataset, model_config: ModelConfig, cfg: TrainConfig, element_features, run_dir, *,
        source="dataset", resume=False, progress=True) -> dict:
    """Train on `dataset`, writing everything to `run_dir`; returns the test metrics.

    Under torchrun every process calls this; rank 0 builds the graph store and writes every file.
    With cfg.ensemble > 1 it trains the members into run_dir/member-K and evaluates their mean."""
    if cfg.ensemble > 1:
        from .ensemble import fit_ensemble

        return fit_ensemble(dataset, model_config, cfg, element_features, run_dir, source=source,
                            resume=resume, progress=progress)
    run_dir = Path(run_dir)
    context = distributed.start(cfg.device)
    progress = progress and context.main
    _check_run_folder(run_dir, resume)
    try:
        run = _prepare_in_turn(context, dataset, model_config, cfg, element_features, run_dir, source, progress)
        return _train_loop(run, context, model_config, cfg, resume, progress)
    finally:
        distributed.stop(context)


def _prepare_in_turn(context, *args):
    """Rank 0 builds the graph store first; the other ranks then find it."""
    if context.main:
        run = prepare(*args)
    distributed.barrier(context)
    return run if context.main else prepare(*args)


def _train_loop(run: Run, context, model_config, cfg, resume, progress) -> dict:
    run_dir = run.run_dir
    split_ids = {name: [run.ids[k] for k in ds.indices] for name, ds in run.datasets.items()}
    if context.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)
        write_text(run_dir / SPLIT, json.dumps(split_ids) + "\n")
        if run.skipped:
            write_csv(run_dir / SKIPPED, SKIPPED_HEADER, run.skipped)
            log.warning("%d crystals skipped; see %s", len(run.skipped), run_dir / SKIPPED)
    device = distributed.device_for(context, resolve_device(cfg.device))
    model = run.model.to(device)
    net = torch.nn.parallel.DistributedDataParallel(model) if context.enabled else model
    if cfg.compile:
        net = torch.compile(net, dynamic=True)  # batch sizes vary: one graph for all shapes
    optimizer, loss_fn = make_optimizer(model, cfg), loss_function(model_config.task, cfg.loss)
    scheduler = make_scheduler(optimizer, cfg)
    shuffle = torch.Generator().manual_seed(init_seed(cfg))
    state = {"epoch": 0, "best_score": math.inf, "best_epoch": 0, "history": []}
    if resume:
        state = _restore(run_dir, model, optimizer, scheduler, shuffle, split_ids)
        if context.main:  # a kill between checkpoint and log leaves the log an epoch behind
            write_log(run_dir / LOG, state["history"])
    train_batches = batches(run, "train", True, shuffle, context)
    val_batches = batches(run, "val")
    epochs = tqdm(range(state["epoch"], cfg.epochs), desc="epochs", unit="epoch", disable=not progress,
                  initial=state["epoch"], total=cfg.epochs)
    for epoch in epochs:
        start = time.perf_counter()
        train_loss = train_epoch(model, train_batches, optimizer, loss_fn, device, progress, net)
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
            _save_checkpoint(run_dir, model, optimizer, shuffle, state, split_ids, cfg, model_config)
            write_log(run_dir / LOG, state["history"])
        epochs.set_postfix({k: v for k, v in row.items() if k.startswith("val_")})
        patience_out = bool(cfg.patience) and state["epoch"] - state["best_epoch"] >= cfg.patience
        if distributed.agree(context, patience_out):
            log.info("early stop at epoch %d: no better validation score for %d epochs", epoch + 1, cfg.patience)
            break
    distributed.barrier(context)
    return finish(run, device, loss_fn) if context.main else {}


def _log_row(epoch, optimizer, train_loss, val_loss, task, outputs, targets, run) -> dict:
    row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": round(train_loss, 6),
           "val_loss": round(val_loss, 6)}
    metrics = metrics_for(task, targets, outputs, run.target_names)
    if task == "classification":
        row["val_accuracy"] = round(metrics["accuracy"], 6)
    else:
        row["val_mae"] = round(float(np.mean([m["mae"] for m in metrics["targets"].values()])), 6)
    return row


def _metadata(run: Run, epoch: int) -> dict:
    return {"epoch": epoch, "n_train": len(run.datasets["train"]), "train_config": asdict(run.cfg)}


def _save_checkpoint(run_dir, model, optimizer, shuffle, state, split_ids, cfg, model_config):
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


def _restore(run_dir, model, optimizer, scheduler, shuffle, split_ids) -> dict:
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


def finish(run: Run, device, loss_fn) -> dict:
    """Evaluate the best model on the test split; write metrics JSON and test predictions CSV."""
    best, _, metadata = model_from_file(run.run_dir / BEST)
    return write_test_report(run, [best], device, loss_fn,
                             {"task": best.config.task, "best_epoch": int(metadata["epoch"])})


def write_test_report(run: Run, models: list, device, loss_fn, result: dict) -> dict:
    """Evaluate the models on the test split, add the metrics to `result` and write it (metrics JSON) with
    the test predictions CSV. Several models are an ensemble: their mean is scored, each member too, and
    how well their spread ranks the errors."""
    task, names = models[0].config.task, run.target_names
    train, test = run.datasets["train"], run.datasets["test"]
    result.update(n_train=len(train), n_val=len(run.datasets["val"]), n_test=len(test))
    if len(test):
        outputs = []
        for model in models:
            _, values, targets, order = evaluate(model.to(device), batches(run, "test"), loss_fn, device)
            outputs.append(values)
        mean = np.mean(outputs, axis=0)
        spread = np.std(outputs, axis=0) if len(models) > 1 else None
        result["test"] = metrics_for(task, targets, mean, names)
        if spread is not None:
            result["members_test"] = [metrics_for(task, targets, o, names) for o in outputs]
            result["spread_vs_error_spearman"] = spread_ranking(task, targets, mean, spread)
        result["test_mean_baseline"] = _baseline(task, train.targets[train.indices].numpy(), targets, names)
        ids = [run.ids[test.indices[k]] for k in order]
        write_predictions(run.run_dir / TEST_PREDICTIONS, ids, *_test_columns(task, names, targets, mean, spread))
    write_text(run.run_dir / METRICS, json.dumps(result, indent=2) + "\n")
    return result


def _baseline(task, train_targets, targets, names) -> dict:
    """The same metrics for a model that always predicts the training mean (or the majority class)."""
    if task == "classification":
        counts = np.bincount(train_targets.astype(int), minlength=2)
        probs = np.tile(counts / counts.sum(), (len(targets), 1))
        return metrics_for(task, targets, probs, names)
    return metrics_for(task, targets, np.tile(train_targets.mean(0), (len(targets), 1)), names)


def _test_columns(task, names, targets, outputs, spread=None) -> tuple:
    """(prediction columns, target columns): `target`/`prediction`, or `target_<name>`/`prediction_<name>`;
    an ensemble's `spread` adds `std` (or `std_<name>`) columns."""
    if task == "classification" or len(names) == 1:
        truth = targets if targets.ndim == 1 else targets[:, 0]
        return prediction_columns(task, names, outputs, spread), {"target": truth}
    columns = {f"prediction_{n}": outputs[:, k] for k, n in enumerate(names)}
    if spread is not None:
        columns.update({f"std_{n}": spread[:, k] for k, n in enumerate(names)})
    return columns, {f"target_{n}": targets[:, k] for k, n in enumerate(names)}


def element_features_for(dataset, atom_init=None) -> torch.Tensor:
    """--atom-init if given, else an atom_init.json beside the data, else the default generated table."""
    from .elements import default_table, load_table_file, table_to_tensor

    path = atom_init or dataset.atom_init
    if path is not None:
        log.info("element features from %s", path)
        return table_to_tensor(load_table_file(path))
    return table_to_tensor(default_table())


def train(data, run_dir, model_config: ModelConfig | None = None, cfg: TrainConfig | None = None, *,
          atom_init=None, targets=None, id_column="id", structure_column=None, resume=False,
          progress=True) -> dict:
    """Load a dataset (folder with id_prop.csv, or a CSV/JSON table) and train on it; see `fit`."""
    from .structures import load_dataset

    cfg = cfg or TrainConfig()
    dataset = load_dataset(data, targets, id_column, structure_column, skip_bad=cfg.skip_bad)
    features = element_features_for(dataset, atom_init)
    return fit(dataset, model_config or ModelConfig(), cfg or TrainConfig(), features, run_dir,
               source=data, resume=resume, progress=progress)
