"""The transfer benchmark's report: the frozen-embedding baselines (computed here: `cgcnn embed` with the
source model, then ridge regression and gradient boosting chosen on the validation crystals), the learning-
curve table of every method, the phonon cross-validation, a figure, benchmarks/results/transfer.json and
docs/TRANSFER.md's tables (between its HTML-comment markers)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from transfer import (CV_FOLDS, HERE, PROPERTIES, ROOT, RUNS, SEEDS, SOURCE, WORK, epochs_for, jobs, point_split,
                      split_file)

RESULTS = HERE / "results" / "transfer.json"
DOC = ROOT / "docs" / "TRANSFER.md"
FIGURE = ROOT / "docs" / "figures" / "transfer-learning-curves.png"
# Matbench v0.1 leaderboard, matbench_phonons (MAE, cm⁻¹, 5-fold CV on 1,265 crystals)
MATBENCH_PHONONS = {"CGCNN": 57.8, "MEGNet": 28.8, "ALIGNN": 29.5, "coGN": 29.7}


def embeddings(table: str) -> tuple[list[str], np.ndarray, dict[str, float]]:
    """(ids, vectors, target by id) of a table, embedded once with the source model (cached in WORK)."""
    from cgcnn.apps.embed import embed_files

    out = WORK / "embeddings" / f"{table}.npy"
    if not out.is_file():
        out.parent.mkdir(exist_ok=True)
        embed_files(SOURCE, [WORK / f"{table}.csv"], out, workers=2, progress=False)
    ids = [line.split(",")[0] for line in out.with_name(f"{table}.ids.csv").read_text().splitlines()[1:]]
    return ids, np.load(out), {}


def targets(table: str, column: str) -> dict[str, float]:
    lines = (WORK / f"{table}.csv").read_text().splitlines()
    at = lines[0].split(",").index(column)
    return {line.split(",")[0]: float(line.split(",")[at]) for line in lines[1:]}


def frozen_baselines(name: str, size: int | None) -> dict[str, float]:
    """Test MAE of ridge and of gradient boosting on the source model's embeddings, each with its setting
    chosen on the point's validation crystals."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    spec = PROPERTIES[name]
    ids, vectors, _ = embeddings(spec["table"])
    row = {i: k for k, i in enumerate(ids)}
    values = targets(spec["table"], spec["target"])
    split = json.loads(point_split(spec["table"], size)[0].read_text())
    x = {part: vectors[[row[i] for i in split[part]]] for part in split}
    y = {part: np.array([values[i] for i in split[part]]) for part in split}
    candidates = {
        "ridge": [make_pipeline(StandardScaler(), Ridge(alpha=a)) for a in (0.1, 1, 10, 100, 1000)],
        "gbm": [HistGradientBoostingRegressor(max_iter=n, learning_rate=0.05, max_leaf_nodes=leaves, random_state=0)
                for n in (200, 500) for leaves in (7, 15, 31)],
    }
    result = {}
    for method, models in candidates.items():
        best = min(models, key=lambda m: np.abs(m.fit(x["train"], y["train"]).predict(x["val"]) - y["val"]).mean())
        result[method] = float(np.abs(best.fit(x["train"], y["train"]).predict(x["test"]) - y["test"]).mean())
    return result


def test_mae(folder: Path) -> float | None:
    metrics = folder / "test_metrics.json"
    return json.loads(metrics.read_text())["test"]["mae"] if metrics.is_file() else None


def curve_points() -> list[dict]:
    points = {}
    for name, size, method, _ in jobs(["scratch", "fine-tuned"], list(PROPERTIES)):
        split, n = point_split(PROPERTIES[name]["table"], size)
        key = (name, n)
        point = points.setdefault(key, {"property": name, "n_train": n, "epochs": epochs_for(n)})
        maes = [test_mae(RUNS / name / f"{method}-{n}-seed{seed}") for seed in SEEDS]
        point[method] = [m for m in maes if m is not None]
    for point in points.values():
        size = point["n_train"] if point["n_train"] < len(json.loads(split_file(
            PROPERTIES[point["property"]]["table"]).read_text())["train"]) else None
        point.update({f"embedding+{k}": v for k, v in frozen_baselines(point["property"], size).items()})
    return sorted(points.values(), key=lambda p: (list(PROPERTIES).index(p["property"]), p["n_train"]))


def cv_results() -> dict:
    found = {}
    for method in ("scratch", "fine-tuned"):
        folds = [test_mae(RUNS / "phonon-peak-cv" / f"{method}-fold{k}") for k in range(CV_FOLDS)]
        if all(f is not None for f in folds):
            found[method] = {"folds": folds, "mean": statistics.mean(folds), "std": statistics.stdev(folds)}
    return found


def _cell(values: list[float] | float | None) -> str:
    if values is None or values == []:
        return "–"
    if isinstance(values, float):
        return f"{values:.3g}"
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.mean(values):.3g} ± {statistics.stdev(values):.2g}"


def table_lines(points: list[dict]) -> list[str]:
    lines = ["| property (unit) | N train | epochs | scratch | fine-tuned | embedding + ridge | embedding + GBM | "
             "fine-tuned vs scratch |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p in points:
        unit = PROPERTIES[p["property"]]["unit"]
        gain = ""
        if p["scratch"] and p["fine-tuned"]:
            ratio = statistics.mean(p["fine-tuned"]) / statistics.mean(p["scratch"])
            gain = f"{(1 - ratio) * 100:+.0f} %"
        lines.append(f"| {p['property']} ({unit or 'n'}) | {p['n_train']:,} | {p['epochs']} | {_cell(p['scratch'])} | "
                     f"{_cell(p['fine-tuned'])} | {_cell(p['embedding+ridge'])} | {_cell(p['embedding+gbm'])} | {gain} |")
    return lines


def figure(points: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PROPERTIES), figsize=(4 * len(PROPERTIES), 3.6))
    for ax, name in zip(axes, PROPERTIES):
        mine = [p for p in points if p["property"] == name]
        for method, style in [("scratch", "o-"), ("fine-tuned", "s-"), ("embedding+ridge", "^--"),
                              ("embedding+gbm", "v--")]:
            xs = [p["n_train"] for p in mine if p[method]]
            ys = [statistics.mean(p[method]) if isinstance(p[method], list) else p[method] for p in mine if p[method]]
            ax.plot(xs, ys, style, label=method)
        ax.set(xscale="log", yscale="log", xlabel="training crystals", title=name,
               ylabel=f"test MAE ({PROPERTIES[name]['unit'] or 'n'})")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    FIGURE.parent.mkdir(exist_ok=True)
    fig.savefig(FIGURE, dpi=110)


def replace_section(text: str, marker: str, lines: list[str]) -> str:
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start not in text:
        return text
    return text[: text.index(start) + len(start)] + "\n" + "\n".join(lines) + "\n" + text[text.index(end):]


def report() -> None:
    points, cv = curve_points(), cv_results()
    RESULTS.write_text(json.dumps({"learning_curves": points, "phonon_cv": cv, "source_model": SOURCE,
                                   "seeds": SEEDS, "matbench_phonons": MATBENCH_PHONONS}, indent=1) + "\n")
    figure(points)
    lines = table_lines(points)
    cv_lines = ["| method | fold MAEs (cm⁻¹) | mean ± sd |", "|---|---|---:|"]
    cv_lines += [f"| {m} | {', '.join(f'{f:.1f}' for f in r['folds'])} | {r['mean']:.1f} ± {r['std']:.1f} |"
                 for m, r in cv.items()]
    text = replace_section(DOC.read_text(), "learning-curves", lines) if DOC.is_file() else ""
    if text:
        DOC.write_text(replace_section(text, "phonon-cv", cv_lines))
    print("\n".join(lines + [""] + cv_lines))
