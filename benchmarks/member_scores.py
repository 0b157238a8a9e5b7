"""Experiments against the seed-to-seed spread: single models scored beside each member of a shipped ensemble.

    .venv/bin/python benchmarks/accuracy.py prepare
    .venv/bin/python benchmarks/member_scores.py band-gap-nonmetal runs/experiments/RUN/best.pt ...
    .venv/bin/python benchmarks/member_scores.py formation-energy runs/experiments/RUN/best.pt ...
    .venv/bin/python benchmarks/member_scores.py --ensemble NAME band-gap-nonmetal RUN1/best.pt RUN2/best.pt ...

A change to a recipe (precision, element table, epochs, ...) trains one member and must leave the spread of
the shipped members, which differ only in seed, to mean anything. Every model given, and every member of
the shipped ensemble, is scored on the same crystals: the validation split (where decisions are made), the
test split and the outside set of the shift benchmark (measured only: dielectric band gaps for
band-gap-nonmetal and band-gap, flla_2015 formation energies, all and near the hull, for formation-energy).
For band gaps, the mean signed error outside is given as well, for all crystals and for gaps above 3 eV.
With --ensemble, the models given are also scored together as one ensemble (the mean of k models), beside
the shipped ensemble and the mean of its first k members: a change of recipe compared ensemble for ensemble.
Prints one line per model; merges them into benchmarks/results/member-scores.json.
"""

from __future__ import annotations

import json

import numpy as np

from shift import cache_file, graphs, outside_sets, own_sets
from tasks import ROOT, data_arguments

RESULTS = ROOT / "benchmarks" / "results" / "member-scores.json"
# shipped model → (its table, its label, its outside sets)
SETS = {"band-gap-nonmetal": ("mp37k-nonmetal", "band_gap", ["dielectric"]),
        "band-gap": ("mp37k", "band_gap", ["dielectric"]),
        "formation-energy": ("mp37k", "formation_energy_per_atom", ["flla", "flla near hull"])}


def scored_sets(work, model: str, workers: int) -> dict:
    """{set name: (graphs, true values)} for one shipped model's protocol."""
    table, label, outside = SETS[model]
    own, sets = own_sets(work, table, label, {}), {}
    for part in ("val", "test"):
        _, paths, labels = own[part]
        sets[part] = (graphs(paths, workers, cache_file(work, table, part)), labels[label])
    found = outside_sets(work)
    for name in outside:
        _, paths, labels = found[name]
        sets[name] = (graphs(paths, workers, cache_file(work, "", name)), np.asarray(labels[label]))
    return sets


def score(predictor, sets: dict) -> dict:
    row = {}
    for name, (graph_list, truth) in sets.items():
        error = predictor.predict_graphs(graph_list)[:, 0] - truth
        row[name] = {"mae": round(float(np.abs(error).mean()), 5), "n": len(error),
                     "se": round(float(np.abs(error).std(ddof=1) / np.sqrt(len(error))), 5)}
        if predictor.non_negative[0] and name not in ("val", "test"):
            row[name]["mean_signed_error"] = round(float(error.mean()), 3)
            row[name]["mean_signed_error_above_3"] = round(float(error[truth > 3].mean()), 3)
    return row


def ensembles(name: str, given: list, shipped) -> dict:
    """The given models' mean as one ensemble, beside the shipped ensemble's first k members and all of them."""
    from cgcnn import Predictor

    members = [m for p in given for m in p.models]
    k, names = len(members), shipped.target_names
    scored = {name: Predictor(members, names)}
    if k < len(shipped.models):
        scored[f"shipped members 0-{k - 1}"] = Predictor(shipped.models[:k], names)
    scored[f"shipped ensemble ({len(shipped.models)} members)"] = Predictor(shipped.models, names)
    return scored


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(SETS))
    parser.add_argument("runs", nargs="*", help="model files to score beside the shipped members")
    parser.add_argument("--ensemble", metavar="NAME", help="also score the models given as one ensemble, NAME")
    args = parser.parse_args()
    if args.ensemble and not args.runs:
        parser.error("--ensemble needs the model files of its members")
    from cgcnn import Predictor, load_model

    sets = scored_sets(args.work, args.model, args.workers)
    shipped = load_model(args.model)
    predictors = {f"shipped member {k}": Predictor(member, shipped.target_names)
                  for k, member in enumerate(shipped.models)}
    predictors.update({path: load_model(path) for path in args.runs})
    if args.ensemble:
        predictors.update(ensembles(args.ensemble, [predictors[path] for path in args.runs], shipped))
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for name, predictor in predictors.items():
        row = score(predictor, sets)
        results.setdefault(args.model, {})[name] = row
        print(name, "  ".join(f"{s} {r['mae']:.4f}" for s, r in row.items()), flush=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
