"""Fit the shipped models' out-of-domain record and show what its flag is worth, on two sets.

    .venv/bin/python benchmarks/accuracy.py prepare      # the tables, once
    .venv/bin/python benchmarks/domain.py

For each shipped model: the crystal vectors of its task's training and validation crystals (the committed
splits) give the domain record (cgcnn.model.domain, as training now fits it), stored in the model file.
Then, with the flag computed as `cgcnn predict` computes it: the error of flagged and unflagged crystals
on the test split, and for formation energy on a shifted set, the crystals of matminer's flla_2015 (Faber
et al. 2015, Materials Project structures of 2015) that are not among the 36,737 of mp-cgcnn-37k. Writes
benchmarks/results/domain.json and its section of docs/RESULTS.md.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import time
from pathlib import Path

import numpy as np

from calibrate import MODELS, crystals, graphs_of
from tasks import ROOT, SPLITS, TASKS, data_arguments, earlier_results, fill_results_table, rescored

RESULTS = ROOT / "benchmarks" / "results" / "domain.json"
FLLA = ROOT.parent / "shared" / "data" / "matminer-2018" / "flla_2015.csv.gz"
MARK, MARK_END = "<!-- domain: benchmarks/domain.py -->", "<!-- /domain -->"


def training_crystals(work: Path, task: str) -> list:
    spec = TASKS[task]
    table = work / f"{spec['table']}.csv"
    rows = {r["id"]: r for r in csv.DictReader(open(table))}
    ids = json.loads((SPLITS / f"{spec['table']}.json").read_text())["train"]
    return [table.parent / rows[i]["structure"] for i in ids if i in rows]


def shifted_set(work: Path) -> tuple:
    """(structures, formation energies) of flla_2015 crystals that are not in mp-cgcnn-37k."""
    from pymatgen.core import Structure

    known = {r["id"] for r in csv.DictReader(open(work / "mp37k.csv"))}
    with gzip.open(FLLA, "rt") as handle:
        next(handle)  # a reference line before the header
        rows = [r for r in csv.DictReader(handle) if r["material_id"] not in known]
    structures = [Structure.from_dict(ast.literal_eval(r["structure"])) for r in rows]
    return structures, np.array([float(r["formation_energy_per_atom"]) for r in rows])[:, None]


def errors_by_flag(truth: np.ndarray, mean: np.ndarray, flags: np.ndarray, classifier: bool) -> dict:
    error = (mean.argmax(1) != truth[:, 0]).astype(float) if classifier else np.abs(mean - truth)[:, 0]
    measure = "error rate" if classifier else "MAE"
    out = {"n": int(len(flags)), "flagged": int(flags.sum()), "measure": measure}
    for name, chosen in (("flagged", flags == 1), ("unflagged", flags == 0)):
        out[f"{measure} {name}"] = float(error[chosen].mean()) if chosen.any() else None
    return out


def fit_and_measure(name: str, work: Path, workers: int, cache: dict) -> dict:
    from cgcnn import load_model
    from cgcnn.io.write import save_torch
    from cgcnn.model import safe_load
    from cgcnn.model.domain import fit_domain, flags

    predictor = load_model(name)
    data = crystals(work, name)
    table = TASKS[name]["table"]
    graphs = {}
    for split, paths in (("train", training_crystals(work, name)), ("val", data["val"][1]), ("test", data["test"][1])):
        if (table, split) not in cache:
            cache[table, split] = graphs_of(paths, workers)
        graphs[split] = cache[table, split]
    full = {split: predictor.predict_graphs_full(g) for split, g in graphs.items()}
    domain = fit_domain(full["train"][2], full["val"][2], [g.atomic_numbers.numpy() for g in graphs["train"]])
    path = MODELS / f"{name}.pt"
    stored = safe_load(path)
    stored["metadata"] = {**stored.get("metadata", {}), "domain": domain}
    save_torch(stored, path)
    test_flags = flags(domain, full["test"][2], [g.atomic_numbers.numpy() for g in graphs["test"]])
    return {"test": errors_by_flag(data["test"][2], full["test"][0], test_flags, predictor.is_classifier),
            "_domain": domain}


def shifted(work: Path, workers: int) -> dict:
    from cgcnn import load_model
    from cgcnn.config import GraphConfig
    from cgcnn.graphs.featurize import build_graphs
    from cgcnn.model.domain import flags

    predictor = load_model("formation-energy")
    structures, truth = shifted_set(work)
    graphs = build_graphs(structures, [f"flla {k}" for k in range(len(structures))], GraphConfig(), workers,
                          progress=False)
    mean, _, vectors = predictor.predict_graphs_full(graphs)
    found = flags(predictor.metadata["domain"], vectors, [g.atomic_numbers.numpy() for g in graphs])
    return errors_by_flag(truth, mean, found, False)


def markdown(report: dict) -> list[str]:
    """The section's generated table (its prose is written by hand in docs/RESULTS.md)."""
    lines = [MARK, "| model | set | crystals | flagged | error flagged | error unflagged | ratio |",
             "|---|---|---:|---:|---:|---:|---:|"]
    rows = [(name, "test split", r["test"]) for name, r in report["models"].items()]
    rows.append(("formation-energy", "flla_2015 not in mp37k", report["shifted"]))
    for name, where, r in rows:
        flagged, unflagged = r[f"{r['measure']} flagged"], r[f"{r['measure']} unflagged"]
        ratio = f"{flagged / unflagged:.1f}×" if flagged is not None and unflagged else "–"
        fmt = (lambda v: "–" if v is None else f"{v:.3g}")
        lines.append(f"| `{name}` | {where} | {r['n']:,} | {r['flagged']:,} ({r['flagged'] / r['n']:.1%}) | "
                     f"{fmt(flagged)} | {fmt(unflagged)} | {ratio} |")
    return [*lines, MARK_END]


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="refit only these (the others' results are kept)")
    args = parser.parse_args()
    start, cache = time.perf_counter(), {}
    names = [name for name in json.loads((MODELS / "models.json").read_text()) if name in TASKS]
    earlier = earlier_results(RESULTS, args.models)
    models = rescored(names, args.models, earlier.get("models", {}),
                      lambda name: fit_and_measure(name, args.work, args.workers, cache))
    keep_shifted = "shifted" in earlier and "formation-energy" not in args.models  # the set only it is measured on
    shifted_result = earlier["shifted"] if keep_shifted else shifted(args.work, args.workers)
    report = {"models": {n: {k: v for k, v in r.items() if k != "_domain"} for n, r in models.items()},
              "shifted": shifted_result, "seconds": round(time.perf_counter() - start, 1)}
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    fill_results_table(markdown(report))
    print("\n".join(markdown(report)[2:]))


if __name__ == "__main__":
    main()
