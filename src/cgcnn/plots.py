"""Figures (matplotlib, no display needed), saved atomically."""

from __future__ import annotations

import numpy as np

from .atomic import atomic_path


def parity_plot(targets, predictions, path, label="target", title=None) -> None:
    """Predicted vs true values with the y = x line; the MAE in the corner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets, predictions = np.asarray(targets, float), np.asarray(predictions, float)
    low, high = min(targets.min(), predictions.min()), max(targets.max(), predictions.max())
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([low, high], [low, high], color="0.6", lw=1, zorder=0)
    ax.scatter(targets, predictions, s=8, alpha=0.6, edgecolor="none")
    ax.set_xlabel(f"DFT {label}")
    ax.set_ylabel(f"CGCNN {label}")
    ax.text(0.04, 0.95, f"MAE {np.mean(np.abs(predictions - targets)):.3f}\nn = {len(targets)}",
            transform=ax.transAxes, va="top")
    if title:
        ax.set_title(title)
    ax.set_aspect("equal")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
