"""From graphs to batches: concatenate crystal graphs with index offsets into one disconnected graph;
batches capped in crystals and atoms, and each process's share of them under data parallelism."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
import torch

from .elements import require_elements
from .graph import CrystalGraph

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """Several crystal graphs as one disconnected graph; crystal_index maps each atom to its crystal."""

    atomic_numbers: torch.Tensor
    edge_index: torch.Tensor
    distances: torch.Tensor
    crystal_index: torch.Tensor
    n_crystals: int
    targets: torch.Tensor | None
    indices: torch.Tensor  # positions of the crystals in their dataset

    def to(self, device: torch.device | str) -> "Batch":
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=True)

        return Batch(
            move(self.atomic_numbers), move(self.edge_index), move(self.distances), move(self.crystal_index),
            self.n_crystals, None if self.targets is None else move(self.targets), self.indices,
        )


def check_elements(numbers_per_crystal: Iterable, sources: Iterable, element_features: torch.Tensor) -> None:
    """Name the first crystal holding an element the feature table lacks."""
    for numbers, source in zip(numbers_per_crystal, sources):
        require_elements(np.asarray(numbers), element_features, source)


class GraphDataset(torch.utils.data.Dataset):
    """A subset (`indices`) of a graph source (a list or a GraphStore), with targets for the whole source."""

    def __init__(self, graphs, targets: torch.Tensor | None = None, indices: list | None = None):
        self.graphs = graphs
        self.targets = targets
        self.indices = list(range(len(graphs))) if indices is None else list(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        i = self.indices[k]
        return k, self.graphs[i], None if self.targets is None else self.targets[i]


def collate(items: Sequence[tuple[int, CrystalGraph, torch.Tensor | None]]) -> Batch:
    indices, graphs, targets = zip(*items)
    sizes = torch.tensor([g.n_atoms for g in graphs])
    offsets = torch.cumsum(sizes, 0) - sizes
    edge_index = torch.cat([g.edge_index + off for g, off in zip(graphs, offsets.tolist())], dim=1)
    return Batch(
        atomic_numbers=torch.cat([g.atomic_numbers for g in graphs]),
        edge_index=edge_index,
        distances=torch.cat([g.distances for g in graphs]),
        crystal_index=torch.repeat_interleave(torch.arange(len(graphs)), sizes),
        n_crystals=len(graphs),
        targets=None if targets[0] is None else torch.stack(targets),
        indices=torch.tensor(indices),
    )


class CappedBatches(torch.utils.data.Sampler):
    """Batches of at most `batch_size` crystals and, if set, `max_atoms` atoms; a crystal larger than the
    cap forms a batch of its own, so one huge cell cannot exhaust memory."""

    def __init__(self, n_atoms, batch_size, max_atoms=None, shuffle=False, generator=None):
        self.n_atoms = np.asarray(n_atoms)
        self.batch_size, self.max_atoms = batch_size, max_atoms
        self.shuffle, self.generator = shuffle, generator

    def __iter__(self):
        n = len(self.n_atoms)
        order = torch.randperm(n, generator=self.generator).tolist() if self.shuffle else range(n)
        batch, atoms = [], 0
        for k in order:
            size = int(self.n_atoms[k])
            full = len(batch) == self.batch_size or (self.max_atoms and atoms + size > self.max_atoms)
            if batch and full:
                yield batch
                batch, atoms = [], 0
            batch.append(k)
            atoms += size
        if batch:
            yield batch

    def __len__(self):
        if not self.max_atoms:
            return -(-len(self.n_atoms) // self.batch_size)
        return sum(1 for _ in CappedBatches(self.n_atoms, self.batch_size, self.max_atoms))


def loader(dataset: GraphDataset, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
           workers: int = 0, n_atoms: ArrayLike | None = None, max_atoms: int | None = None,
           context: Any = None) -> torch.utils.data.DataLoader:
    """Batches over `dataset`; `n_atoms` (per crystal) enables the atoms-per-batch cap; under data
    parallelism (`context`) each process takes its share of every batch."""
    if n_atoms is None:
        n_atoms = np.ones(len(dataset), dtype=np.int64)
        max_atoms = None
    sampler: torch.utils.data.Sampler = CappedBatches(n_atoms, batch_size, max_atoms, shuffle, generator)
    if context is not None and context.enabled:
        sampler = ShardedBatches(sampler, context)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers)


class ShardedBatches(torch.utils.data.Sampler):
    """This process's share (every world-th crystal) of each global batch under data parallelism (`context`
    has rank and world); batches smaller than the number of processes are skipped on every rank, so all
    ranks take the same number of steps."""

    def __init__(self, batches, context):
        self.batches, self.context = batches, context

    def __iter__(self):
        for batch in self.batches:
            if len(batch) >= self.context.world:
                yield batch[self.context.rank :: self.context.world]

    def __len__(self):
        return len(self.batches)


__all__ = ["Batch", "CappedBatches", "GraphDataset", "ShardedBatches", "check_elements", "collate", "loader"]
