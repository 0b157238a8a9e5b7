"""The accuracy benchmark's outputs: docs/RESULTS.md's tables, figures, results JSON, and the shipped models.

Everything here is read from finished run folders (or, for a task not re-run, its recorded result); the
prose of docs/RESULTS.md around the generated tables is written by hand."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

from tasks import MODELS, RECORDED, ROOT, TASKS, fill_results_table, lc_epochs, recorded, run_summary
from cgcnn.apps.plots import learning_curve_plot, parity_plot, roc_plot

FIGURES, RESULTS = ROOT / "docs" / "figures", ROOT / "benchmarks" / "results"
TRAINING_DATA = {
    "mp37k": "mp-cgcnn-37k: 36,737 Materials Project crystals of the CGCNN paper (60 % for training)",
    "mp37k-nonmetal": ("mp-cgcnn-37k non-metals (band gap > 0): 21,153 Materials Project crystals of the CGCNN "
                       "paper (60 % for training), the paper's band-gap protocol"),
    "elasticity": "mp-cgcnn-37k elasticity: 3,191 Materials Project crystals with VRH moduli (60 % for training)",
}
LICENCE = ("weights MIT, as cgcnn; trained on Materials Project data (CC BY 4.0: cite A. Jain et al., "
           "APL Materials 1, 011002 (2013))")


def finished(runs: Path) -> dict:
    return {task: run_summary(task, runs / task) for task in TASKS if (runs / task / "test_metrics.json").is_file()}


def _predictions(folder: Path) -> dict:
    with open(folder / "test_predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0] if key != "id"}


def figures(runs: Path, summaries: dict) -> dict:
    made = {}
    for task, summary in summaries.items():
        table = _predictions(runs / task)
        path = FIGURES / f"accuracy-{task}.png"
        if summary["metrics"]["task"] == "classification":
            roc_plot(table["target"], table["prediction"], path, title=f"{task} (test)")
        else:
            label = f"{summary['target']} ({summary['unit']})"
            parity_plot(table["target"], table["prediction"], path, label, title=f"{task} (test)", hexbin=True)
        made[task] = path
    return made


def learning_curve_points(runs: Path) -> list:
    rows = []
    named = [(*folder.name.rsplit("-", 1), folder) for folder in (runs / "learning-curve").glob("*-*")]
    for conv, size, folder in sorted(named, key=lambda row: (row[0], int(row[1]))):
        if (folder / "test_metrics.json").is_file():
            metrics = json.loads((folder / "test_metrics.json").read_text())
            rows.append({"conv": conv, "n_train": int(size), "epochs": lc_epochs(int(size)),
                         "best_epoch": metrics["best_epoch"], "test_mae": round(metrics["test"]["mae"], 4)})
    return rows


def learning_curve_outputs(rows: list) -> None:
    if not rows:
        return
    names = {"gated": "Eq. 5 (gated)", "shared": "Eq. 4 (shared)"}
    curves = {}
    for row in rows:
        if row["conv"] in names:  # the recipe comparison is a single point: in the table only
            curves.setdefault(names[row["conv"]], []).append((row["n_train"], row["test_mae"]))
    learning_curve_plot(curves, FIGURES / "accuracy-learning-curve.png", "formation energy test MAE (eV/atom)",
                        title="learning curve, formation energy")
    with open(ROOT / "docs" / "results" / "learning-curve.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------- RESULTS.md


def _fmt(value, digits=3):
    return "–" if value is None else f"{value:.{digits}f}"


def _minutes(seconds):
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


SHIFT = ROOT / "benchmarks" / "results" / "shift.json"  # benchmarks/shift.py: the outside sets
OUTSIDE_SET = {"formation-energy": ("flla near hull", "flla"), "band-gap": ("dielectric",),
               "band-gap-nonmetal": ("dielectric",), "metal-classifier": ("dielectric",),
               "fermi-energy": ("new-chemsys",), "bulk-modulus": ("elastic",), "shear-modulus": ("elastic",)}


def outside_cell(task: str) -> str:
    """The task's figures on crystals it was not trained on (benchmarks/shift.py), or – before that ran."""
    shifted = json.loads(SHIFT.read_text())["models"].get(task, {}) if SHIFT.is_file() else {}
    cells = []
    for name in OUTSIDE_SET.get(task, ()):
        r = shifted.get(name)
        if r is None:
            continue
        score = f"accuracy {r['accuracy']:.3f}" if "accuracy" in r else f"MAE {r['mae']:#.3g} ± {r['mae_se']:.2g}"
        where = "test crystals of new chemical systems" if name == "new-chemsys" else name
        cells.append(f"{score} ({where}, {r['n']:,})")
    return "; ".join(cells) or "–"


def result_row(s: dict) -> str:
    m = s["metrics"]
    test, base = m["test"], m["test_mean_baseline"]
    sizes = f"{m['n_train']:,}/{m['n_val']:,}/{m['n_test']:,}"
    epochs = _epochs(s)
    if m["task"] == "classification":
        scores = f"ROC-AUC **{_fmt(test['roc_auc'])}**, accuracy {_fmt(test['accuracy'])}"
        baseline = f"accuracy {_fmt(base['accuracy'])}"
        paper = f"AUC {s['paper']}"
    else:
        scores = f"MAE **{_fmt(test['mae'], 4)}**, RMSE {_fmt(test['rmse'], 4)}, R² {_fmt(test['r2'])}"
        baseline = f"MAE {_fmt(base['mae'])}"
        paper = TASKS[s["task"]].get("reference") or f"MAE {s['paper']}"
    model = f"ensemble of {m['ensemble']}" if m.get("ensemble") else "single"
    kind = f", {TASKS[s['task']]['crystals']}" if "crystals" in TASKS[s["task"]] else ""
    return (f"| {s['task']} | {s['target']} ({s['unit'] or 'class'}){kind} | {model} | {sizes} | {scores} | {baseline} "
            f"| {outside_cell(s['task'])} | {paper} | {epochs} | {_minutes(s['wall_seconds_total'])} "
            f"({_minutes(s['epoch_seconds_total'])}) |")


def _epochs(s: dict) -> str:
    m = s["metrics"]
    if m.get("ensemble"):
        return f"{s['epochs']} × {m['ensemble']}"
    return f"{s['epochs']} (best {m['best_epoch']})"


def ensemble_lines(summaries: dict) -> list:
    lines = []
    for s in summaries.values():
        m = s["metrics"]
        if not m.get("ensemble"):
            continue
        members = ", ".join(_fmt(x.get("mae", x.get("roc_auc")), 4) for x in m["members_test"])
        lines.append(f"| {s['task']} | {members} | {_fmt(m['test'].get('mae', m['test'].get('roc_auc')), 4)} | "
                     f"{_fmt(m['spread_vs_error_spearman'][0], 2)} |")
    return lines


MARKS = {name: (f"<!-- {name}: benchmarks/accuracy.py report -->", f"<!-- /{name} -->")
         for name in ("accuracy", "ensembles", "learning curve", "commands")}


def blocks(summaries: dict, lc_rows: list) -> list[list[str]]:
    """The generated blocks of docs/RESULTS.md that this report fills (its prose is written by hand there):
    the results table, the ensembles' table, the learning curve's table and the commands."""
    def block(name: str, lines: list[str]) -> list[str]:
        return [MARKS[name][0], *lines, MARKS[name][1]]

    lc_table = ["| variant | N train | epochs | best epoch | test MAE (eV/atom) |", "|---|---|---|---|---|",
                *[f"| {r['conv']} | {r['n_train']:,} | {r['epochs']} | {r['best_epoch']} | {r['test_mae']:.4f} |"
                  for r in lc_rows]]
    return [
        block("accuracy", [
            "| property | target (unit) | model | train/val/test | test | mean predictor | on new crystals (outside "
            "mp-cgcnn-37k; see \"On new crystals\") | reference (same kind of crystals) | epochs | wall time (in epochs) |",
            "|---|---|---|---|---|---|---|---|---|---|", *[result_row(s) for s in summaries.values()]]),
        block("ensembles", ["| property | members' test MAE | ensemble test MAE | Spearman ρ(|error|, σ) |",
                            "|---|---|---|---|", *ensemble_lines(summaries)]),
        block("learning curve", lc_table),
        block("commands", ["```", *[c for s in summaries.values() for c in s["commands"]], "```"]),
    ]


def write_results(summaries: dict, lc_rows: list) -> None:
    for lines in blocks(summaries, lc_rows):
        fill_results_table(lines)


# ---------------------------------------------------------------- shipped models


def ship(runs: Path, summaries: dict) -> None:
    """Copy each finished run's model (ensemble.pt or best.pt) into the package, with its catalogue entry."""
    MODELS.mkdir(parents=True, exist_ok=True)
    listed = MODELS / "models.json"  # other benchmarks' models (benchmarks/transfer_report.py) are kept
    catalogue = json.loads(listed.read_text()) if listed.is_file() else {}
    for task, s in summaries.items():
        folder = runs / task
        source = folder / "ensemble.pt" if (folder / "ensemble.pt").is_file() else folder / "best.pt"
        shutil.copyfile(source, MODELS / f"{task}.pt")
        m = s["metrics"]
        keys = ("roc_auc", "accuracy") if m["task"] == "classification" else ("mae", "rmse", "r2")
        catalogue[task] = {
            "file": f"{task}.pt", "target": s["target"], "unit": s["unit"], "task": m["task"],
            "ensemble": m.get("ensemble", 1),
            "test": {k: round(m["test"][k], 4) for k in keys},
            "n_train": m["n_train"], "training_data": TRAINING_DATA[TASKS[task]["table"]], "licence": LICENCE,
            "command": s["commands"][-1] if s["commands"] else None,
        }
    (MODELS / "models.json").write_text(json.dumps(catalogue, indent=1) + "\n")


def report(runs: Path) -> None:
    """Regenerate from the run folders present; a task (or the learning curve) without one keeps its recorded
    result, figure and shipped model, so one task can be re-run without re-running them all."""
    fresh, earlier = finished(runs), recorded()
    summaries = {t: fresh.get(t) or earlier["tasks"][t] for t in TASKS if t in fresh or t in earlier["tasks"]}
    figures(runs, fresh)
    lc_rows = learning_curve_points(runs)
    learning_curve_outputs(lc_rows)
    lc_rows = lc_rows or earlier["learning_curve"]
    RESULTS.mkdir(exist_ok=True)
    RECORDED.write_text(json.dumps({"tasks": summaries, "learning_curve": lc_rows}, indent=1) + "\n")
    write_results(summaries, lc_rows)
    # a run whose test metrics are the recorded ones is the model already shipped: its file keeps the records
    # that later benchmarks added (calibration, domain)
    ship(runs, {t: s for t, s in fresh.items() if earlier["tasks"].get(t, {}).get("metrics") != s["metrics"]})
    print(f"{len(fresh)} tasks re-read, {len(summaries) - len(fresh)} kept as recorded, {len(lc_rows)} "
          f"learning-curve points → docs/RESULTS.md, {MODELS}")
