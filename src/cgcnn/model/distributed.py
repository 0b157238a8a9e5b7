"""Data-parallel training with torch.distributed, as launched by torchrun (gloo on CPU, NCCL on GPU).

Every rank walks the same sequence of global batches (same seed) and trains on its share of each, so a run
on N processes sees the same batches as a single process at the same global batch size. Gradients are
averaged by DistributedDataParallel and batch-norm statistics are summed over processes (model.layers.BatchNorm).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched_rank() -> int:
    """This process's rank as torchrun numbers it; 0 when launched alone."""
    return int(os.environ.get("RANK", "0"))


def start(device: str) -> Context:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    context = Context(launched_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else "gloo"
        dist.init_process_group(backend)
    return context


def device_for(context: Context, device: torch.device) -> torch.device:
    if context.enabled and device.type == "cuda":
        torch.cuda.set_device(context.local_rank)
        return torch.device("cuda", context.local_rank)
    return device


def barrier(context: Context) -> None:
    if context.enabled:
        dist.barrier()


def agree(context: Context, flag: bool) -> bool:
    """Rank 0's decision, on every rank (so that all stop together)."""
    if not context.enabled:
        return flag
    value = torch.tensor([int(flag)])
    dist.broadcast(value, src=0)
    return bool(value.item())


def summed(values: list) -> list:
    """Sum numbers over all processes (the identity without torch.distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def stop(context: Context) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
