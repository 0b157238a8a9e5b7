"""One epoch of training and one pass of evaluation; the optimiser, learning-rate schedule and loss."""

from __future__ import annotations

import logging
import math
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..config import Precision, TrainConfig
from ..errors import CgcnnError
from ..model import CrystalGraphConvNet
from ..model import distributed
from .finetune import parameter_groups

log = logging.getLogger(__name__)
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_function(task: str, name: str, weights: Sequence[float] | None = None) -> LossFunction:
    """Cross entropy for classes; for regression the chosen loss with missing labels (NaN) masked out:
    each target's mean over its labelled crystals, averaged over the targets labelled in the batch with
    `weights` (equal by default). With every label present and one target it is the plain mean loss."""
    if task == "classification":
        return F.cross_entropy
    elementwise = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss}[name]

    def masked(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        labelled = ~torch.isnan(targets)
        # a missing label is replaced by the output itself: zero loss and zero gradient there
        losses = elementwise(outputs, torch.where(labelled, targets, outputs.detach()), reduction="none")
        counts = labelled.sum(0)
        per_target = losses.sum(0) / counts.clamp(min=1)
        w = torch.ones_like(per_target) if weights is None else torch.as_tensor(weights, dtype=per_target.dtype,
                                                                                 device=per_target.device)
        w = torch.where(counts > 0, w, torch.zeros_like(w))
        return (per_target * w).sum() / w.sum().clamp(min=1e-12)

    return masked


def scaled(model: CrystalGraphConvNet, targets: torch.Tensor) -> torch.Tensor:
    if model.config.task == "classification":
        return targets
    return (targets - model.target_mean) / model.target_std


def train_epoch(model: CrystalGraphConvNet, batches: DataLoader, optimizer: torch.optim.Optimizer,
                loss_fn: LossFunction, device: torch.device, progress: bool,
                net: torch.nn.Module | None = None, bf16: bool = False) -> float:
    """One pass over the training batches; `net` is the model as wrapped for data parallelism, if it is.
    With bf16, the forward pass runs under bfloat16 autocast (weights, gradients and the optimiser stay
    float32)."""
    net = model if net is None else net
    net.train()
    total, count = 0.0, 0
    # a per-batch bar only where an epoch is long enough to need one
    for batch in tqdm(batches, desc="batches", leave=False, disable=not progress or len(batches) < 50):
        batch = batch.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            outputs = net(batch)
        loss = loss_fn(outputs.float(), scaled(model, batch.targets))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * batch.n_crystals
        count += batch.n_crystals
    total, count = distributed.summed([total, count])
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model: CrystalGraphConvNet, batches: DataLoader, loss_fn: LossFunction,
             device: torch.device) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
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


def selection_score(model: CrystalGraphConvNet, outputs: np.ndarray, targets: np.ndarray) -> float:
    """Lower is better: mean MAE in units of each target's spread, or cross entropy for classes."""
    if model.config.task == "classification":
        probs = np.clip(outputs[np.arange(len(targets)), targets.astype(int)], 1e-12, None)
        return float(-np.mean(np.log(probs)))
    std = model.target_std.cpu().numpy()
    errors = np.abs(outputs - targets) / std  # NaN where a label is missing
    labelled = ~np.isnan(errors)
    per_target = np.where(labelled, errors, 0).sum(0) / np.maximum(labelled.sum(0), 1)
    return float(per_target[labelled.any(0)].mean()) if labelled.any() else math.inf


def make_optimizer(model: CrystalGraphConvNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    params: Any = model.parameters()
    if cfg.backbone_lr_scale != 1.0 or not all(p.requires_grad for p in model.parameters()):
        params = parameter_groups(model, cfg.lr, cfg.backbone_lr_scale)  # fine-tuning
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


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


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(cfg, epoch))


def init_seed(cfg: TrainConfig) -> int:
    return cfg.seed if cfg.init_seed is None else cfg.init_seed


def resolve_precision(name: Precision, device: torch.device) -> Precision:
    """`auto`: bf16 where the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16; measured as accurate as
    fp32 on the full recipes, docs/RESULTS.md), fp32 elsewhere; `fp32` and `bf16` as given."""
    if name != "auto":
        return name
    capabilities = torch.cpu.get_capabilities() if device.type == "cpu" else {}
    native = [flag for flag in ("avx512_bf16", "amx_bf16") if capabilities.get(flag)]
    precision: Precision = "bf16" if native else "fp32"
    log.info("training arithmetic: %s (%s)", precision,
             f"the CPU computes bf16 natively: {', '.join(native)}" if native else
             f"no native bf16 on this {device.type}")
    return precision


def resolve_device(name: str) -> torch.device:
    """`auto`: a CUDA GPU when there is one, else the CPU; any other name as torch spells it, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CgcnnError(f"--device {name!r} is not a device: cpu, cuda, cuda:1, … or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CgcnnError(f"--device {name}: no CUDA GPU is available here (auto uses one when there is one)")
    return device
