"""Training: splits → prepared run → epoch loop (single model, or an ensemble on top) → test report."""

from .loop import lr_factor
from .train import fit_dataset, train

__all__ = ["fit_dataset", "lr_factor", "train"]
