"""Out-of-domain flags, fitted when training ends: is a crystal unlike the ones the model learned from?

Two documented rules; a crystal is flagged (`ood` = 1) if either holds:
1. it holds an element that fewer than RARE training crystals contain (absent elements included), or
2. its crystal vector (the mean of its atom vectors after the last convolution, the model's own
   representation) lies farther from the training crystals' vectors, in Mahalanobis distance, than
   QUANTILE of the validation crystals do.
The training vectors' mean and (ridge-regularised) inverse covariance, the threshold, the validation
crystals' sorted distances (an `ood_score` is the share of them closer than a crystal's) and the element
counts are stored in the model file; an ensemble uses its first member's vectors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader

from .network import CrystalGraphConvNet

RARE = 10  # training crystals an element must appear in
QUANTILE = 0.99  # of the validation crystals' distances


@torch.no_grad()
def crystal_vectors(model: CrystalGraphConvNet, batches: DataLoader, device: torch.device) -> np.ndarray:
    model.eval()
    found = [model.forward_with_vectors(batch.to(device))[1].cpu() for batch in batches]
    return torch.cat(found).double().numpy() if found else np.zeros((0, 0))


def mahalanobis(domain: dict, vectors: np.ndarray) -> np.ndarray:
    centred = vectors - np.asarray(domain["mean"])
    return np.sqrt(np.einsum("ij,jk,ik->i", centred, np.asarray(domain["precision"]), centred))


def fit_domain(train: np.ndarray, val: np.ndarray, train_elements: Iterable[Iterable[int]]) -> dict:
    """The domain record from the training and validation crystals' vectors and the training crystals'
    elements (one collection of atomic numbers per crystal)."""
    covariance = np.cov(train, rowvar=False)
    ridge = 1e-3 * np.trace(covariance) / len(covariance)
    domain = {"method": "element counts and Mahalanobis distance of crystal vectors", "rare_below": RARE,
              "quantile": QUANTILE, "mean": train.mean(axis=0).tolist(),
              "precision": np.linalg.inv(covariance + ridge * np.eye(len(covariance))).tolist()}
    distances = np.sort(mahalanobis(domain, val))
    domain["threshold"] = float(np.quantile(distances, QUANTILE))
    domain["validation_distances"] = np.round(distances, 4).tolist()  # for ood_score
    counts = Counter(int(z) for elements in train_elements for z in set(np.asarray(elements).tolist()))
    domain["element_counts"] = {str(z): n for z, n in sorted(counts.items())}
    return domain


def score(domain: dict, distance: np.ndarray | None) -> np.ndarray | None:
    """ood_score: the share of validation crystals closer to the training crystals than each crystal (0: as
    typical as they come, 1: farther than every one); None without the validation distances."""
    reference = domain.get("validation_distances")
    if not reference or distance is None:
        return None
    return np.searchsorted(np.asarray(reference), distance, side="left") / len(reference)


def flags(domain: dict, vectors: np.ndarray, elements: Iterable[Iterable[int]],
          distance: np.ndarray | None = None) -> np.ndarray:
    """1 for crystals out of the training domain (either rule), else 0; `distance`: the vectors' Mahalanobis
    distances where the caller has them already."""
    counts = domain["element_counts"]
    rare = np.array([min(counts.get(str(int(z)), 0) for z in set(np.asarray(e).tolist())) < domain["rare_below"]
                     for e in elements], dtype=bool)
    far = (mahalanobis(domain, vectors) if distance is None else distance) > domain["threshold"]
    return (rare | far).astype(int)
