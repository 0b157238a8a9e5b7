"""What a model file records about its training, read at prediction time: where its training crystals' vectors
lie (model.domain), how its errors were calibrated (model.calibration) and which crystals it was trained on
(ids and structure fingerprints). Model files written before a record existed simply lack it: each answer is
then None."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..graphs.graph import CrystalGraph, fingerprint
from .domain import flags, mahalanobis, score


@dataclass
class Assessment:
    """Per crystal: distance from the training crystals, the ood flag, ood_score, seen in training."""

    distance: np.ndarray | None
    ood: np.ndarray | None
    ood_score: np.ndarray | None
    seen: np.ndarray | None


class TrainingRecord:
    def __init__(self, metadata: dict) -> None:
        self.domain: dict = metadata.get("domain") or {}
        self.calibration: dict = metadata.get("calibration") or {}
        self.training_set: dict = metadata.get("training_set") or {}

    def distance(self, vectors: np.ndarray) -> np.ndarray | None:
        """Each crystal vector's Mahalanobis distance from the training crystals': what the ood flag and
        distance-scaled intervals read."""
        return mahalanobis(self.domain, vectors) if self.domain else None

    def out_of_domain(self, graphs: Sequence[CrystalGraph], vectors: np.ndarray,
                      distance: np.ndarray | None = None) -> np.ndarray | None:
        """1 for crystals outside the training domain (a rare element, or a vector far from theirs);
        `distance`: self.distance(vectors), if known."""
        if not self.domain:
            return None
        return flags(self.domain, vectors, [g.atomic_numbers.numpy() for g in graphs], distance)

    def ood_score(self, distance: np.ndarray | None) -> np.ndarray | None:
        """The share of the validation crystals that lie closer to the training crystals (0 to 1)."""
        return score(self.domain, distance)

    def seen_in_training(self, ids: Sequence, graphs: Sequence[CrystalGraph]) -> np.ndarray | None:
        """True for crystals the model was trained on, by id or by structure fingerprint."""
        if not self.training_set:
            return None
        known_ids, known = self._known
        return np.array([str(i) in known_ids or fingerprint(g) in known for i, g in zip(ids, graphs)], dtype=bool)

    @functools.cached_property
    def _known(self) -> tuple[set, set]:
        return set(self.training_set.get("ids", [])), set(self.training_set.get("fingerprints", []))

    def assess(self, ids: Sequence, graphs: Sequence[CrystalGraph], vectors: np.ndarray) -> Assessment:
        """Everything the record says about these crystals, the distance computed once."""
        distance = self.distance(vectors)
        return Assessment(distance, self.out_of_domain(graphs, vectors, distance), self.ood_score(distance),
                          self.seen_in_training(ids, graphs))

    def require_calibration(self, source: object, classifier: bool) -> None:
        if classifier or not self.calibration:
            raise InputError(source, "this model has no interval calibration (a classifier, or trained before "
                             "intervals existed: retrain it, or calibrate it as benchmarks/calibrate.py does)")
