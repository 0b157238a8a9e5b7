"""Calibrate the shipped regression models' prediction intervals and measure them, like for like.

    .venv/bin/python benchmarks/accuracy.py prepare      # the tables, once
    .venv/bin/python benchmarks/calibrate.py             # calibrate, measure, write results and figure

For each shipped regression model: predict its task's validation and test crystals (the committed splits of
the accuracy benchmark), fit the split-conformal calibration on the validation split (cgcnn.training.
calibration, as training now does), store it in the model file, and measure on the test split the coverage
of the 68/90/95 % intervals and their mean width, beside the raw ensemble spread used as ±1σ/±2σ/±1.96σ
error bars. Writes benchmarks/results/calibration.json and docs/figures/calibration-intervals.png (observed
against nominal coverage, levels 0.05–0.99). The metal classifier gets its reliability measures (Brier
score, expected calibration error, calibration curve) on the same test split.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from tasks import MODELS, ROOT, SPLITS, TASKS, data_arguments, earlier_results, fill_results_table, rescored

RESULTS = ROOT / "benchmarks" / "results" / "calibration.json"
MARK, MARK_END = "<!-- calibration: benchmarks/calibrate.py -->", "<!-- /calibration -->"
FIGURE = ROOT / "docs" / "figures" / "calibration-intervals.png"
LEVELS = (0.68, 0.9, 0.95)
SIGMAS = {"0.68": 1.0, "0.9": 1.645, "0.95": 1.96}  # a Gaussian's multiples of σ for the same levels


FINE_TUNED = ("poisson-ratio",)  # shipped by the transfer benchmark, calibrated here on its elasticity split


def crystals(work: Path, task: str) -> dict:
    """{split: (ids, structure paths, targets)} of the task's validation and test crystals with a label; a
    fine-tuned model of another benchmark (the Poisson ratio) takes its crystals as the shift benchmark does."""
    if task not in TASKS:
        from shift import MODELS_ON, own_sets

        table, _, label = MODELS_ON[task]
        sets = own_sets(work, table, label, {})
        return {name: (sets[name][0], sets[name][1], sets[name][2][label][:, None]) for name in ("val", "test")}
    spec = TASKS[task]
    table = work / f"{spec['table']}.csv"
    rows = {r["id"]: r for r in csv.DictReader(open(table))}
    split = json.loads((SPLITS / f"{spec['table']}.json").read_text())
    out = {}
    for name in ("val", "test"):
        ids = [i for i in split[name] if i in rows and rows[i][spec["target"]] not in ("", "nan")]
        out[name] = (ids, [table.parent / rows[i]["structure"] for i in ids],
                     np.array([float(rows[i][spec["target"]]) for i in ids])[:, None])
    return out


def graphs_of(paths: list, workers: int) -> list:
    from cgcnn.config import GraphConfig
    from cgcnn.graphs.featurize import build_graphs

    return build_graphs(paths, [str(p) for p in paths], GraphConfig(), workers, progress=False)


def reliability(calibration: dict, truth, mean, spread, distance) -> list:
    from cgcnn.model.calibration import coverage

    levels = [round(x, 2) for x in np.arange(0.05, 1.0, 0.05)] + [0.99]
    found = coverage(calibration, truth, mean, spread, tuple(levels), distance)
    return [(level, found[str(level)]["coverage"][0]) for level in levels]


def calibrate_model(name: str, task: str, work: Path, workers: int, cache: dict) -> dict:
    """Fit the model's calibration on its validation split (scaled by the members' spread and the distance
    from training), store it with the validation distances (for ood_score), and measure it on the test split."""
    from cgcnn import load_model
    from cgcnn.io.write import save_torch
    from cgcnn.model import safe_load
    from cgcnn.model.calibration import calibrate, coverage
    from cgcnn.model.domain import mahalanobis

    predictor = load_model(name)
    domain = predictor.metadata["domain"]
    data = crystals(work, task)
    outputs = {}
    for split, (ids, paths, truth) in data.items():
        key = (TASKS[task]["table"] if task in TASKS else task, split)
        if key not in cache:
            cache[key] = graphs_of(paths, workers)
        mean, spread, vectors = predictor.predict_graphs_full(cache[key])
        outputs[split] = (mean, spread if predictor.is_ensemble else None, mahalanobis(domain, vectors))
    calibration = calibrate(data["val"][2], *outputs["val"])
    truth, (mean, spread, distance) = data["test"][2], outputs["test"]
    found = coverage(calibration, truth, mean, spread, LEVELS, distance)
    result = {"task": task, "n_val": len(data["val"][0]), "n_test": len(data["test"][0]),
              "ensemble": predictor.is_ensemble, "distance_power": calibration["distance"]["power"],
              "conformal": found, "reliability": reliability(calibration, truth, mean, spread, distance)}
    if predictor.is_ensemble:  # the raw spread as a Gaussian error bar, for comparison
        result["raw_sigma"] = {level: float((np.abs(truth - mean) <= k * spread).mean()) for level, k in SIGMAS.items()}
    path = MODELS / f"{name}.pt"
    stored = safe_load(path)
    validation = np.round(np.sort(outputs["val"][2]), 4).tolist()
    stored["metadata"] = {**stored.get("metadata", {}), "calibration": calibration,
                          "domain": {**stored["metadata"]["domain"], "validation_distances": validation}}
    save_torch(stored, path)
    return result


def classifier_reliability(work: Path, workers: int, cache: dict) -> dict:
    from cgcnn import load_model
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    predictor = load_model("metal-classifier")
    data = crystals(work, "metal-classifier")
    key = (TASKS["metal-classifier"]["table"], "test")
    if key not in cache:
        cache[key] = graphs_of(data["test"][1], workers)
    probability = predictor.predict_graphs_spread(cache[key])[0][:, 1]
    labels = data["test"][2][:, 0].astype(int)
    observed, predicted = calibration_curve(labels, probability, n_bins=10, strategy="uniform")
    counts, edges = np.histogram(probability, bins=10, range=(0, 1))
    bins = np.clip(np.digitize(probability, edges[1:-1]), 0, 9)
    ece = sum(abs(labels[bins == b].mean() - probability[bins == b].mean()) * (bins == b).mean()
              for b in range(10) if (bins == b).any())
    return {"n_test": int(len(labels)), "brier": float(brier_score_loss(labels, probability)),
            "expected_calibration_error": float(ece),
            "curve": [[float(p), float(o)] for p, o in zip(predicted, observed)]}


def figure(results: dict) -> None:
    from cgcnn.apps.plots import headless_pyplot, save_figure

    plt = headless_pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    for name, result in results.items():
        levels, observed = zip(*result["reliability"])
        ax.plot(levels, observed, marker="o", ms=3, lw=1.2, label=name)
    ax.set_xlabel("nominal coverage (interval level)")
    ax.set_ylabel("observed coverage on the test split")
    ax.legend(fontsize=7)
    save_figure(fig, FIGURE, "split-conformal intervals of the shipped models")


def markdown(report: dict) -> list[str]:
    """The section's generated tables (its prose is written by hand in docs/RESULTS.md)."""
    lines = [MARK, "| model | n test | p | 68 % | 90 % | 95 % | raw σ as 68 / 90 / 95 % |", "|---|---:|---:|---|---|---|---|"]
    for name, r in report["regression"].items():
        cells = [f"{r['conformal'][lv]['coverage'][0]:.3f} (±{r['conformal'][lv]['mean_width'][0] / 2:.3g})"
                 for lv in ("0.68", "0.9", "0.95")]
        raw = " / ".join(f"{r['raw_sigma'][lv]:.3f}" for lv in ("0.68", "0.9", "0.95")) if "raw_sigma" in r else "–"
        power = "–" if r.get("distance_power") is None else f"{r['distance_power']:g}"
        lines.append(f"| `{name}` | {r['n_test']:,} | {power} | " + " | ".join(cells) + f" | {raw} |")
    c = report["classifier"]
    lines += ["", "| classifier | n test | Brier score | expected calibration error (10 bins) |", "|---|---:|---:|---:|",
              f"| `metal-classifier` | {c['n_test']:,} | {c['brier']:.4f} | {c['expected_calibration_error']:.4f} |"]
    return [*lines, MARK_END]


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="recalibrate only these (the others' results are kept)")
    args = parser.parse_args()
    start, cache = time.perf_counter(), {}
    catalogue = json.loads((MODELS / "models.json").read_text())
    names = [name for name, info in catalogue.items()
             if info["task"] == "regression" and (name in TASKS or name in FINE_TUNED)]
    results = rescored(names, args.models, earlier_results(RESULTS, args.models, "regression"),
                       lambda name: calibrate_model(name, name, args.work, args.workers, cache))
    figure(results)
    report = {"regression": results, "classifier": classifier_reliability(args.work, args.workers, cache),
              "seconds": round(time.perf_counter() - start, 1)}
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    fill_results_table(markdown(report))
    for name, result in results.items():
        cells = "  ".join(f"{level}: {result['conformal'][level]['coverage'][0]:.3f} "
                          f"(width {result['conformal'][level]['mean_width'][0]:.3g})" for level in map(str, LEVELS))
        raw = result.get("raw_sigma")
        print(f"{name:18} {cells}" + (f"   raw σ: {raw}" if raw else ""))
    print("metal-classifier", {k: v for k, v in report["classifier"].items() if k != "curve"})


if __name__ == "__main__":
    main()
