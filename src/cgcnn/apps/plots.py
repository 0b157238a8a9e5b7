"""Figures (matplotlib, no display needed), saved atomically."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from typing import Any

from ..config import PathLike

from ..io.write import atomic_path


def headless_pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend: figures render without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: PathLike, title: str | None = None) -> None:
    """Write `fig` as a PNG whole or not at all (then close it), with `title` on its first axes."""
    if title:
        fig.axes[0].set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    headless_pyplot().close(fig)


def parity_plot(targets: ArrayLike, predictions: ArrayLike, path: PathLike, label: str = "target",
                title: str | None = None, hexbin: bool | None = None) -> None:
    """Predicted vs true values with the y = x line; the MAE in the corner. Points, or (for many, or
    hexbin=True) hexagonal bins coloured by log count, as the paper's Fig. 2c."""
    plt = headless_pyplot()
    targets, predictions = np.asarray(targets, float), np.asarray(predictions, float)
    low, high = min(targets.min(), predictions.min()), max(targets.max(), predictions.max())
    fig, ax = plt.subplots(figsize=(4.8 if hexbin else 4.5, 4.5), dpi=120)
    ax.plot([low, high], [low, high], color="0.6", lw=1, zorder=0)
    if hexbin if hexbin is not None else len(targets) > 2000:
        cells = ax.hexbin(targets, predictions, gridsize=60, bins="log", cmap="viridis", mincnt=1,
                          extent=(low, high, low, high))
        fig.colorbar(cells, ax=ax, label="crystals", shrink=0.8)
    else:
        ax.scatter(targets, predictions, s=8, alpha=0.6, edgecolor="none")
    ax.set_xlabel(f"DFT {label}")
    ax.set_ylabel(f"CGCNN {label}")
    ax.text(0.04, 0.95, f"MAE {np.mean(np.abs(predictions - targets)):.3g}\nn = {len(targets)}",
            transform=ax.transAxes, va="top")
    ax.set_aspect("equal")
    save_figure(fig, path, title)


def roc_plot(labels: ArrayLike, scores: ArrayLike, path: PathLike, title: str | None = None) -> None:
    """Receiver operating characteristic of a binary classifier, with its area (the paper's Fig. 2d)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = headless_pyplot()
    false_pos, true_pos, _ = roc_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    ax.plot(false_pos, true_pos, lw=1.5, label=f"AUC {roc_auc_score(labels, scores):.3f}")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    ax.set_aspect("equal")
    save_figure(fig, path, title)


def learning_curve_plot(curves: dict, path: PathLike, label: str = "test MAE", title: str | None = None) -> None:
    """{name: [(training size, error), ...]} on log-log axes (the paper's Fig. 2b)."""
    plt = headless_pyplot()
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    for name, points in curves.items():
        sizes, errors = zip(*sorted(points))
        ax.plot(sizes, errors, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sorted({size for points in curves.values() for size, _ in points}))
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers; no crowded labels on the minor ticks
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training crystals")
    ax.set_ylabel(label)
    ax.grid(True, which="both", color="0.9")
    ax.legend()
    save_figure(fig, path, title)


def periodic_table_heatmap(values: dict, path: PathLike, title: str = "", label: str = "",
                           cmap: str = "coolwarm") -> None:
    """Element → value on a periodic-table grid (lanthanides and actinides in rows below); blank where
    there is no value."""
    import matplotlib
    from pymatgen.core import Element

    plt = headless_pyplot()

    fig, ax = plt.subplots(figsize=(11, 5.6), dpi=120)
    finite = [v for v in values.values() if np.isfinite(v)]
    limit = max(abs(min(finite)), abs(max(finite))) if finite else 1.0
    norm = matplotlib.colors.TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit) if finite and min(finite) < 0 < max(finite) \
        else matplotlib.colors.Normalize(min(finite or [0]), max(finite or [1]))
    colormap = matplotlib.colormaps[cmap]
    for z in range(1, 104):
        el = Element.from_Z(z)
        row, col = _table_position(el)
        value = values.get(el.symbol)
        face = colormap(norm(value)) if value is not None and np.isfinite(value) else (0.95, 0.95, 0.95, 1)
        ax.add_patch(matplotlib.patches.Rectangle((col, -row), 0.95, 0.95, facecolor=face, edgecolor="0.7", lw=0.5))
        ax.text(col + 0.47, -row + 0.55, el.symbol, ha="center", va="center", fontsize=8)
        if value is not None and np.isfinite(value):
            ax.text(col + 0.47, -row + 0.2, f"{value:.2f}", ha="center", va="center", fontsize=5.5)
    ax.set_xlim(0.9, 19)
    ax.set_ylim(-9.6, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap), ax=ax, shrink=0.6, label=label)
    save_figure(fig, path, title)


def _table_position(el) -> tuple:
    """(row from the top starting at 1, column 1–18); f-block rows placed at 8 and 9."""
    if 57 <= el.Z <= 71:
        return 8.5, el.Z - 57 + 3
    if 89 <= el.Z <= 103:
        return 9.5, el.Z - 89 + 3
    return el.row, el.group
