"""bf16 autocast against fp32: the same recipe, split and seed, trained both ways, compared on the test split.

    .venv/bin/python benchmarks/accuracy.py run --threads 1 formation-energy -- --ensemble 1 --epochs 30 \\
        --precision fp32 --out runs/accuracy/precision-check/fp32      # and the same with bf16, at once
    .venv/bin/python benchmarks/precision.py

`--precision bf16` is offered only if its test MAE is within 2 % of fp32's (issue 12). Writes
benchmarks/results/precision.json and its section of docs/RESULTS.md.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tasks import ROOT, fill_results_table, portable

RUNS = ROOT / "runs" / "accuracy" / "precision-check"
RESULTS = ROOT / "benchmarks" / "results" / "precision.json"
MARK, MARK_END = "<!-- precision: benchmarks/precision.py -->", "<!-- /precision -->"
TOLERANCE = 0.02


def summary(folder: Path) -> dict:
    metrics = json.loads((folder / "test_metrics.json").read_text())
    epochs = [float(row["seconds"]) for row in csv.DictReader(open(folder / "log.csv"))]
    runs = json.loads((folder / "benchmark_runs.json").read_text())
    return {"test_mae": metrics["test"]["mae"], "best_epoch": metrics["best_epoch"], "epochs": len(epochs),
            "median_epoch_seconds": sorted(epochs)[len(epochs) // 2], "command": portable(runs[-1]["command"])}


def main() -> None:
    found = {p: summary(RUNS / p) for p in ("fp32", "bf16")}
    ratio = found["bf16"]["test_mae"] / found["fp32"]["test_mae"]
    report = {**found, "mae_ratio": ratio, "within_tolerance": abs(ratio - 1) <= TOLERANCE,
              "speed_ratio": found["fp32"]["median_epoch_seconds"] / found["bf16"]["median_epoch_seconds"]}
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    verdict = "within" if report["within_tolerance"] else "outside"
    print(f"bf16's test MAE is {ratio:.3f}× fp32's, {verdict} the {TOLERANCE:.0%} allowed; epochs "
          f"{report['speed_ratio']:.2f}× as fast")
    print(*[r["command"] for r in found.values()], sep="\n")
    fill_results_table(markdown(report))  # the prose around it is written by hand


def markdown(report: dict) -> list[str]:
    """The section's generated table (its prose is written by hand in docs/RESULTS.md)."""
    return [MARK, "| precision | test MAE (eV/atom) | best epoch | median epoch (s) |", "|---|---:|---:|---:|",
            *[f"| {p} | {report[p]['test_mae']:.4f} | {report[p]['best_epoch']} | "
              f"{report[p]['median_epoch_seconds']:.1f} |" for p in ("fp32", "bf16")], MARK_END]


if __name__ == "__main__":
    main()
