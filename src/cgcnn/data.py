"""From structures to batches: build every crystal graph once, then concatenate graphs with index offsets."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .elements import missing_elements
from .errors import InputError
from .graph import CrystalGraph, GraphParams, build_graph

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

    def to(self, device) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(
            move(self.atomic_numbers), move(self.edge_index), move(self.distances),
            move(self.crystal_index), self.n_crystals, move(self.targets), self.indices,
        )


def build_graphs(structures, sources, params: GraphParams, element_features=None, progress=True) -> list:
    """One CrystalGraph per structure; unknown elements are reported with the file they came from."""
    graphs = []
    for structure, source in tqdm(
        list(zip(structures, sources)), desc="graphs", unit="crystal", disable=not progress, leave=False
    ):
        graph = build_graph(structure, params, source)
        if element_features is not None:
            missing = missing_elements(graph.atomic_numbers.numpy(), element_features)
            if missing:
                raise InputError(source, f"element(s) with Z={missing} are not in the element feature table")
        graphs.append(graph)
    return graphs


class GraphDataset(torch.utils.data.Dataset):
    """Graphs with optional targets (float for regression, class index for classification)."""

    def __init__(self, graphs: list, targets: torch.Tensor | None = None, indices: list | None = None):
        self.graphs = graphs
        self.targets = targets
        self.indices = list(range(len(graphs))) if indices is None else indices  # positions in the source

    def __len__(self):
        return len(self.graphs)

    def __getitem__(self, k):
        return k, self.graphs[k], None if self.targets is None else self.targets[k]


def collate(items) -> Batch:
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


def loader(dataset, batch_size, shuffle=False, generator=None, workers=0):
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
        generator=generator, num_workers=workers,
    )


__all__ = ["Batch", "CrystalGraph", "GraphDataset", "build_graphs", "collate", "loader"]
