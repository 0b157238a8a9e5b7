"""The layers of the CGCNN network, one per class, each with its equation: the Gaussian edge expansion,
batch norm that spans processes, Eq. 5 (gated) and Eq. 4 (shared-weight) convolutions.

Module names follow the original implementation, so its published weights load without renaming.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


CUT = 69.0  # exp(-69) ≈ 1e-30: smaller Gaussian values become 0 (see GaussianExpansion)
# edges per block in evaluation: a block's E × 128 tensors (1 MB) stay in the CPU's cache, where a whole
# batch's (tens of MB) would stream through memory at every element-wise pass (2-3× slower on CPU)
EVAL_EDGE_BLOCK = 2048


class GaussianExpansion(nn.Module):
    """u_k(d) = exp(-(d - μ_k)² / σ²), μ_k = dmin, dmin+step, …, dmax; σ = step (as in the original).

    Values below exp(-CUT) ≈ 1e-30 are set to 0: left alone, about 4 % of them are subnormal floats (and
    so are their products with the weights), which many CPUs compute through a slow microcode path; none
    of them moves a prediction by more than 1e-30."""

    centers: torch.Tensor

    def __init__(self, dmin: float, dmax: float, step: float):
        super().__init__()
        n = int(round((dmax - dmin) / step)) + 1
        self.register_buffer("centers", dmin + step * torch.arange(n, dtype=torch.float32))
        self.width = step

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        exponent = (distances[:, None] - self.centers) ** 2 / self.width**2
        return torch.exp(-exponent.masked_fill_(exponent > CUT, math.inf))  # exp(-inf) = 0 exactly


class BatchNorm(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics span all processes under torch.distributed (CPU included,
    which torch's SyncBatchNorm does not support), so N processes normalise as one process would."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        # differentiable all-reduce of count, sum and sum of squares
        stats = all_reduce(torch.cat([x.new_tensor([x.shape[0]]), x.sum(0), (x * x).sum(0)]))
        count, total, squares = stats[0], stats[1 : 1 + x.shape[1]], stats[1 + x.shape[1] :]
        mean = total / count
        var = squares / count - mean * mean
        tracked, running_mean, running_var = self.num_batches_tracked, self.running_mean, self.running_var
        assert tracked is not None and running_mean is not None and running_var is not None  # tracked stats
        momentum = float(self.momentum or 0.0)  # always set here: cumulative averaging is not used
        with torch.no_grad():
            tracked += 1
            running_mean.lerp_(mean, momentum)
            running_var.lerp_(var * count / (count - 1).clamp(min=1), momentum)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


def scatter_sum(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    return values.new_zeros((n, values.shape[1])).index_add_(0, index, values)


def blockwise_sum(messages: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], edge_index: torch.Tensor,
                  edges: torch.Tensor, n: int, width: int) -> torch.Tensor:
    """Σ over each atom's edges of messages(edge_index, edges), computed EVAL_EDGE_BLOCK edges at a time and
    summed in edge order: the same bits as one scatter_sum over all edges, with the tensors in cache."""
    summed = edges.new_zeros((n, width))
    for start in range(0, edges.shape[0], EVAL_EDGE_BLOCK):
        block = slice(start, start + EVAL_EDGE_BLOCK)
        summed.index_add_(0, edge_index[0, block], messages(edge_index[:, block], edges[block]))
    return summed


class GatedConv(nn.Module):
    """Eq. 5: v_i' = g(v_i + BN(Σ_{j,k} σ(z W_f + b_f) ⊙ g(z W_s + b_s))), z = v_i ⊕ v_j ⊕ u_ijk, g = softplus.

    W_f and W_s are the two halves of `fc_full`; batch norm on z W as in the original code. The product
    z W is split as v_i W¹ + v_j W² + u W³, and v W¹, v W² are computed per atom before being gathered onto
    edges: the same result with ~12× fewer multiply-adds on the atom part.
    """

    def __init__(self, atom_fea_len: int, edge_fea_len: int):
        super().__init__()
        self.atom_fea_len = atom_fea_len
        self.fc_full = nn.Linear(2 * atom_fea_len + edge_fea_len, 2 * atom_fea_len)
        self.bn1 = BatchNorm(2 * atom_fea_len)
        self.bn2 = BatchNorm(atom_fea_len)

    def forward(self, atoms: torch.Tensor, edge_index: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        a = self.atom_fea_len
        weight = self.fc_full.weight
        per_atom = atoms @ torch.cat([weight[:, :a], weight[:, a : 2 * a]]).T
        self_part, nbr_part = per_atom.split(2 * a, dim=1)
        if self.training:  # batch norm needs the statistics of all edges at once
            summed = scatter_sum(self._messages(self_part, nbr_part, edge_index, edges), edge_index[0], len(atoms))
        else:  # batch norm is a fixed per-channel map in evaluation: edges can go in blocks
            summed = blockwise_sum(lambda pairs, block: self._messages(self_part, nbr_part, pairs, block),
                                   edge_index, edges, len(atoms), a)
        return F.softplus(atoms + self.bn2(summed))

    def _messages(self, self_part: torch.Tensor, nbr_part: torch.Tensor, edge_index: torch.Tensor,
                  edges: torch.Tensor) -> torch.Tensor:
        """σ(z W_f + b_f) ⊙ g(z W_s + b_s) of each edge, batch-normed before the gate as in the original."""
        center, neighbor = edge_index
        # index_select: several times faster than advanced indexing on CPU, forward and backward
        gated = self_part.index_select(0, center) + nbr_part.index_select(0, neighbor)
        gated = gated + F.linear(edges, self.fc_full.weight[:, 2 * self.atom_fea_len :], self.fc_full.bias)
        gate, core = self.bn1(gated).chunk(2, dim=1)
        return torch.sigmoid(gate) * F.softplus(core)


class SharedConv(nn.Module):
    """Eq. 4: v_i' = g(BN(Σ_{j,k} (v_j ⊕ u_ijk) W_c + v_i W_s + b)), g = softplus; one W_c for all neighbours."""

    def __init__(self, atom_fea_len: int, edge_fea_len: int):
        super().__init__()
        self.atom_fea_len = atom_fea_len
        self.fc_neighbor = nn.Linear(atom_fea_len + edge_fea_len, atom_fea_len, bias=False)
        self.fc_self = nn.Linear(atom_fea_len, atom_fea_len)
        self.bn = BatchNorm(atom_fea_len)

    def forward(self, atoms: torch.Tensor, edge_index: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        a = self.atom_fea_len
        weight = self.fc_neighbor.weight
        per_atom = atoms @ weight[:, :a].T
        if self.training:
            summed = scatter_sum(self._messages(per_atom, edge_index, edges), edge_index[0], len(atoms))
        else:
            summed = blockwise_sum(lambda pairs, block: self._messages(per_atom, pairs, block),
                                   edge_index, edges, len(atoms), a)
        return F.softplus(self.bn(summed + self.fc_self(atoms)))

    def _messages(self, per_atom: torch.Tensor, edge_index: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """(v_j ⊕ u_ijk) W_c of each edge, with v_j W_c computed per atom."""
        return per_atom.index_select(0, edge_index[1]) + edges @ self.fc_neighbor.weight[:, self.atom_fea_len :].T


CONVOLUTIONS = {"gated": GatedConv, "shared": SharedConv}
