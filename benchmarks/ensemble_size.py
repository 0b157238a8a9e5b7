"""What each ensemble member buys: the test score of the first k members' mean, k = 1 … K, per shipped ensemble.

    .venv/bin/python benchmarks/accuracy.py prepare
    .venv/bin/python benchmarks/ensemble_size.py [--models formation-energy band-gap ...]

Each model is scored on its task's committed test split (the accuracy benchmark's), exactly as the shipped
file of its first k members would predict (mean of the members; a band gap clipped at 0 after the mean).
Regression: MAE; the metal classifier: ROC-AUC of the mean P(metal). Writes
benchmarks/results/ensemble-size.json and its section of docs/RESULTS.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from calibrate import crystals, graphs_of
from tasks import ROOT, TASKS, data_arguments, earlier_results, fill_results_table, rescored

RESULTS = ROOT / "benchmarks" / "results" / "ensemble-size.json"
MARK, MARK_END = "<!-- ensemble size: benchmarks/ensemble_size.py -->", "<!-- /ensemble size -->"
DEFAULT = ["formation-energy", "band-gap", "band-gap-nonmetal", "metal-classifier"]


def member_outputs(name: str, graphs: list) -> tuple[np.ndarray, list[bool], bool]:
    """(members × crystals × outputs, which outputs are clipped at 0, is a classifier) of a shipped model."""
    from cgcnn import load_model
    from cgcnn.apps.predict import Predictor

    predictor = load_model(name)
    outputs = []
    for member in predictor.models:
        alone = Predictor([member], predictor.target_names, predictor.metadata)
        alone.non_negative = [False] * len(alone.non_negative)  # the mean is clipped, not each member
        outputs.append(alone.predict_graphs(graphs))
    return np.stack(outputs), predictor.non_negative, predictor.is_classifier


def scores_by_size(outputs: np.ndarray, clip: list[bool], classifier: bool, truth: np.ndarray) -> list[float]:
    from sklearn.metrics import roc_auc_score

    found = []
    for k in range(1, len(outputs) + 1):
        mean = outputs[:k].mean(0)
        if classifier:
            found.append(float(roc_auc_score(truth[:, 0].astype(int), mean[:, 1])))
            continue
        mean[:, clip] = np.maximum(mean[:, clip], 0.0)
        found.append(float(np.mean(np.abs(mean[:, 0] - truth[:, 0]))))
    return found


def markdown(report: dict) -> list[str]:
    """The section's generated table (its prose is written by hand in docs/RESULTS.md)."""
    lines = [MARK, "| model | metric | " + " | ".join(f"k = {k}" for k in range(1, report["largest"] + 1)) + " |",
             "|---|---|" + "---:|" * report["largest"]]
    for name, r in report["models"].items():
        cells = [f"{v:.4f}" for v in r["by_size"]] + ["–"] * (report["largest"] - len(r["by_size"]))
        lines.append(f"| `{name}` | {r['metric']} | " + " | ".join(cells) + " |")
    return [*lines, MARK_END]


def score_model(name: str, work: Path, workers: int, cache: dict) -> dict:
    """The test score of the mean of each model's first k members, k = 1 … all."""
    _, paths, truth = crystals(work, name)["test"]
    key = tuple(map(str, paths))
    if key not in cache:
        cache[key] = graphs_of(paths, workers)
    outputs, clip, classifier = member_outputs(name, cache[key])
    result = {"metric": "ROC-AUC" if classifier else f"MAE ({TASKS[name]['unit']})",
              "n_test": len(truth), "by_size": scores_by_size(outputs, clip, classifier, truth)}
    print(f"{name:18} " + "  ".join(f"{v:.4f}" for v in result["by_size"]), flush=True)
    return result


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=DEFAULT, default=DEFAULT,
                        help="re-score only these shipped ensembles (the others' rows are kept)")
    args = parser.parse_args()
    start, cache = time.perf_counter(), {}
    only = None if args.models == DEFAULT else args.models
    models = rescored(DEFAULT, only, earlier_results(RESULTS, only, "models"),
                      lambda name: score_model(name, args.work, args.workers, cache))
    report = {"models": models, "largest": max(len(r["by_size"]) for r in models.values()),
              "seconds": round(time.perf_counter() - start, 1)}
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    fill_results_table(markdown(report))


if __name__ == "__main__":
    main()
