"""The CGCNN network: element features → embedding → convolutions → pooling → perceptron head.

Imports only torch and its own config. Buffers carry what a prediction needs besides weights: the element
table and the target scaling.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ModelConfig
from .layers import CONVOLUTIONS, GaussianExpansion, scatter_sum


class GraphBatch(Protocol):
    """What the network reads from a batch (graphs.batching.Batch): atoms, edges, and which crystal each
    atom belongs to."""

    atomic_numbers: torch.Tensor
    edge_index: torch.Tensor
    distances: torch.Tensor
    crystal_index: torch.Tensor
    n_crystals: int


class CrystalGraphConvNet(nn.Module):
    """Element features → embedding → n_conv convolutions → mean over atoms → n_h hidden layers → output.

    Buffers carry what a prediction needs besides weights: the element table and the target scaling.
    """

    element_features: torch.Tensor  # buffers: (max Z + 1, F) table; per-target mean and spread
    target_mean: torch.Tensor
    target_std: torch.Tensor
    frozen: tuple[str, ...] = ()  # parts kept as trained by fine-tuning: they stay in evaluation mode

    def __init__(self, config: ModelConfig, element_features: torch.Tensor):
        super().__init__()
        if config.conv not in CONVOLUTIONS:
            raise ValueError(f"unknown convolution {config.conv!r}; choose from {sorted(CONVOLUTIONS)}")
        if config.pooling not in ("full", "linear") or config.site_reduction not in ("mean", "sum"):
            raise ValueError("pooling is 'full' or 'linear'; site_reduction is 'mean' or 'sum'")
        self.config = config
        self.register_buffer("element_features", element_features.float())
        self.register_buffer("target_mean", torch.zeros(config.n_outputs))
        self.register_buffer("target_std", torch.ones(config.n_outputs))
        self.expansion = GaussianExpansion(config.gaussian_min, config.radius, config.gaussian_step)
        edge_len = self.expansion.centers.numel()
        self.embedding = nn.Linear(element_features.shape[1], config.atom_fea_len)
        conv = CONVOLUTIONS[config.conv]
        self.convs = nn.ModuleList([conv(config.atom_fea_len, edge_len) for _ in range(config.n_conv)])
        self.conv_to_fc = nn.Linear(config.atom_fea_len, config.h_fea_len)
        self.fcs = nn.ModuleList([nn.Linear(config.h_fea_len, config.h_fea_len) for _ in range(config.n_h - 1)])
        self.dropout = nn.Dropout() if config.task == "classification" else nn.Identity()
        self.fc_out = nn.Linear(config.h_fea_len, config.n_outputs)

    def train(self, mode: bool = True) -> CrystalGraphConvNet:
        """As nn.Module.train, but frozen parts keep evaluation mode (their batch-norm statistics fixed)."""
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self

    def atom_features(self, batch: GraphBatch, edges: torch.Tensor | None = None) -> torch.Tensor:
        """Atom vectors after the last convolution, (N, atom_fea_len). `edges`: the batch's distances
        already expanded (the members of an ensemble share one expansion), else computed here."""
        atoms = self.embedding(self.element_features.index_select(0, batch.atomic_numbers))
        edges = self.expansion(batch.distances) if edges is None else edges
        for conv in self.convs:
            atoms = conv(atoms, batch.edge_index, edges)
        return atoms

    def head(self, vectors: torch.Tensor) -> torch.Tensor:
        """The perceptron after pooling (full) or applied to every atom (linear)."""
        hidden = F.softplus(self.conv_to_fc(F.softplus(vectors)))
        hidden = self.dropout(hidden)
        for fc in self.fcs:
            hidden = F.softplus(fc(hidden))
        return self.fc_out(hidden)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """Scaled regression outputs (B, n_targets) or class logits (B, n_classes)."""
        return self.forward_with_vectors(batch)[0]

    def forward_with_vectors(self, batch: GraphBatch,
                             edges: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(outputs as `forward`, crystal vectors (B, atom_fea_len)): the mean of each crystal's atom vectors
        after the last convolution, which feeds the head under full pooling. `edges` as in atom_features."""
        atoms = self.atom_features(batch, edges)
        counts = torch.bincount(batch.crystal_index, minlength=batch.n_crystals).clamp(min=1)
        crystals = scatter_sum(atoms, batch.crystal_index, batch.n_crystals) / counts[:, None]
        if self.config.pooling == "linear":
            summed = scatter_sum(self.head(atoms), batch.crystal_index, batch.n_crystals)
            return (summed if self.config.site_reduction == "sum" else summed / counts[:, None]), crystals
        return self.head(crystals), crystals

    def site_contributions(self, batch: GraphBatch) -> torch.Tensor:
        """Linear pooling only: each atom's share of the prediction, in target units; the shares of a
        crystal add up to its prediction exactly (the offset of the target scaling is shared equally)."""
        if self.config.pooling != "linear" or self.config.task != "regression":
            raise ValueError("exact site contributions need a regression model with linear pooling")
        per_atom = self.head(self.atom_features(batch))
        counts = torch.bincount(batch.crystal_index, minlength=batch.n_crystals).clamp(min=1)[batch.crystal_index]
        if self.config.site_reduction == "sum":
            return per_atom * self.target_std + self.target_mean / counts[:, None]
        return (per_atom * self.target_std + self.target_mean) / counts[:, None]

    def unscale(self, outputs: torch.Tensor) -> torch.Tensor:
        """Regression outputs in target units; class probabilities for classification."""
        if self.config.task == "classification":
            return torch.softmax(outputs, dim=1)
        return outputs * self.target_std + self.target_mean
