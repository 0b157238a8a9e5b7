"""Shift benchmark: every shipped model on crystals it was not trained on, beside its own test split.

    .venv/bin/python benchmarks/accuracy.py prepare      # the mp-cgcnn-37k tables, once
    .venv/bin/python benchmarks/shift.py                 # outside sets, scores, results JSON, RESULTS.md table

Sets, per model (nothing is fitted, calibrated, tuned or selected on the outside sets; they only measure):
  test            the model's own test split (the committed splits of the accuracy benchmark)
  new-chemsys     test crystals whose chemical system (set of elements) no training crystal has: a
                  leave-cluster-out split inside mp-cgcnn-37k, with no retraining. Chemical systems are the
                  clusters because screening proposes new compositions, and a held-out system removes the
                  near-duplicates (polymorphs, other stoichiometries) that make a random split easy.
  dielectric      matminer's dielectric_constant crystals not in mp-cgcnn-37k (all gapped): band gaps
  flla            matminer's flla_2015 crystals not in mp-cgcnn-37k: formation energy; "flla near hull" keeps
                  those within 0.05 eV/atom of the hull, where MP-2015's energies and correction scheme differ
                  least from the training labels (the set predates MP's 2017+ corrections)
  elastic         matminer's elastic_tensor crystals not in the elasticity set: log10 K, log10 G, Poisson
No outside set exists here for phonon-peak (its data set is mp-phonons-1521 itself), perovskite-heat (every
labelled Castelli perovskite is in its split) or fermi-energy (no other source of Fermi energies).

Per model and set: MAE with its standard error, mean signed error, 68/90/95 % interval coverage, mean 90 %
width, the `ood` rate, and of the worst-decile errors the share flagged, and flagged or inside the 90 %
interval. Writes benchmarks/results/shift.json and the table of docs/RESULTS.md's "On new crystals" section.
"""

from __future__ import annotations

import csv
import json
import pickle
import re
import time
from pathlib import Path

import numpy as np

from tasks import MODELS, ROOT, SPLITS, data_arguments, earlier_results, fill_results_table, rescored

SHARED = ROOT.parent / "shared" / "data" / "matminer-2018"
ORIGINAL = ROOT.parent / "shared" / "data" / "original-cgcnn"  # the paper's published checkpoints
ORIGINAL_BAND_GAP = ORIGINAL / "pretrained" / "band-gap.pth.tar"
RESULTS = ROOT / "benchmarks" / "results" / "shift.json"
MARK, MARK_END = "<!-- shift: benchmarks/shift.py -->", "<!-- /shift -->"
FIGURE = ROOT / "docs" / "figures" / "shift-error-vs-ood-score.png"
LEVELS = (0.68, 0.9, 0.95)
NEAR_HULL = 0.05  # eV/atom

# shipped model → (its table, its split file, its label column in the tables below)
MODELS_ON = {
    "formation-energy": ("mp37k", "mp37k", "formation_energy_per_atom"),
    "band-gap": ("mp37k", "mp37k", "band_gap"),
    "band-gap-nonmetal": ("mp37k-nonmetal", "mp37k-nonmetal", "band_gap"),
    "metal-classifier": ("mp37k", "mp37k", "is_metal"),
    "fermi-energy": ("mp37k", "mp37k", "fermi_energy"),
    "bulk-modulus": ("elasticity", "elasticity", "log10_K_VRH"),
    "shear-modulus": ("elasticity", "elasticity", "log10_G_VRH"),
    "poisson-ratio": ("elasticity", "elasticity", "poisson_ratio"),
}
# outside set → the models it scores
OUTSIDE = {
    "dielectric": ["band-gap", "band-gap-nonmetal", "metal-classifier"],
    "flla": ["formation-energy"],
    "flla near hull": ["formation-energy"],
    "elastic": ["bulk-modulus", "shear-modulus", "poisson-ratio"],
}


# ---------------------------------------------------------------- the crystals


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _matminer(name: str) -> list[dict]:
    import pandas as pd

    # a reference line before the header; pandas parses the quoted multi-line fields as matminer wrote them
    frame = pd.read_csv(SHARED / f"{name}.csv.gz", skiprows=1)
    return [{k: (v if isinstance(v, str) else str(v)) for k, v in row.items()} for row in frame.to_dict("records")]


def _write_cifs(folder: Path, rows: list[dict], id_key: str) -> list[Path]:
    from cgcnn.io.structures import structure_from_text

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for row in rows:
        path = folder / f"{row[id_key]}.cif"
        if not path.is_file():
            structure_from_text(row["structure"], row[id_key]).to(filename=str(path))
        paths.append(path)
    return paths


def outside_sets(work: Path) -> dict:
    """{set: (ids, CIF paths, {label column: values})} of the outside crystals."""
    known = {r["id"] for r in _read(work / "mp37k.csv")}
    elastic_known = {r["id"] for r in _read(work / "elasticity.csv")}
    folder = work / "shift"
    sets = {}
    rows = [r for r in _matminer("dielectric_constant") if r["material_id"] not in known and float(r["band_gap"]) > 0]
    sets["dielectric"] = (rows, {"band_gap": [float(r["band_gap"]) for r in rows], "is_metal": [0.0] * len(rows)})
    rows = [r for r in _matminer("flla_2015") if r["material_id"] not in known]
    sets["flla"] = (rows, {"formation_energy_per_atom": [float(r["formation_energy_per_atom"]) for r in rows],
                           "e_above_hull": [float(r["e_above_hull"]) for r in rows]})
    rows = [r for r in _matminer("elastic_tensor") if r["material_id"] not in elastic_known
            and float(r["K_VRH"]) > 0 and float(r["G_VRH"]) > 0]
    sets["elastic"] = (rows, {"log10_K_VRH": [np.log10(float(r["K_VRH"])) for r in rows],
                              "log10_G_VRH": [np.log10(float(r["G_VRH"])) for r in rows],
                              "poisson_ratio": [float(r["poisson_ratio"]) for r in rows]})
    out = {}
    for name, (rows, labels) in sets.items():
        paths = _write_cifs(folder / name, rows, "material_id")
        out[name] = ([r["material_id"] for r in rows], paths, {k: np.array(v) for k, v in labels.items()})
    ids, paths, labels = out["flla"]
    near = np.flatnonzero(labels["e_above_hull"] <= NEAR_HULL)
    out["flla near hull"] = ([ids[k] for k in near], [paths[k] for k in near],
                             {k: v[near] for k, v in labels.items()})
    return out


def _chemical_system(path: Path) -> frozenset:
    """The elements of a CIF written by pymatgen, from its _chemical_formula_sum line (no structure built)."""
    for line in path.read_text().splitlines():
        if line.startswith("_chemical_formula_sum"):
            return frozenset(re.findall(r"[A-Z][a-z]?", line.split(None, 1)[1]))
    raise ValueError(f"{path}: no _chemical_formula_sum")


def own_sets(work: Path, table: str, label: str, cache: dict) -> dict:
    """{"test", "new-chemsys"} of a model's table: its test split, and the test crystals of a chemical
    system that no training crystal has (with its validation counterpart, "val new-chemsys", for fitting)."""
    key = ("own", table, label)
    if key in cache:
        return cache[key]
    if table == "elasticity":  # the Poisson ratio is in the extracted set's id_prop.csv, not the table
        rows = {r["id"]: r for r in _read(work / "elasticity.csv")}
        folder = work / "mp-cgcnn-37k" / "elasticity"
        mp_id = dict(line.split(",") for line in (folder / "material_id_hash.csv").read_text().split())
        for k, _, _, nu in (line.split(",") for line in (folder / "id_prop.csv").read_text().split()):
            if mp_id[k] in rows:
                rows[mp_id[k]]["poisson_ratio"] = nu
    else:
        rows = {r["id"]: r for r in _read(work / f"{table}.csv")}
    split = json.loads((SPLITS / f"{table}.json").read_text())
    systems = {i: _chemical_system(work / rows[i]["structure"]) for part in split.values() for i in part if i in rows}
    seen = {systems[i] for i in split["train"] if i in systems}
    sets = {}
    for part, name in (("test", "test"), ("val", "val")):
        ids = [i for i in split[part] if i in rows and rows[i].get(label, "") not in ("", "nan")]
        new = [i for i in ids if systems[i] not in seen]
        for chosen, label_name in ((ids, name), (new, f"{name} new-chemsys")):
            sets[label_name] = (chosen, [work / rows[i]["structure"] for i in chosen],
                                {label: np.array([float(rows[i][label]) for i in chosen])})
    cache[key] = sets
    return sets


def cache_file(work: Path, table: str, set_name: str) -> Path:
    """Where a set's graphs are kept: a model's own splits by their table, an outside set by its name."""
    own = set_name.startswith(("test", "val"))
    return work / "shift" / "graphs" / f"{table if own else ''}{set_name}.pkl"


def graphs(paths: list, workers: int, cached: Path) -> list:
    """Graphs of the default settings (every shipped model uses them), kept in the work folder."""
    from cgcnn.config import GraphConfig
    from cgcnn.graphs.featurize import build_graphs

    if cached.is_file():
        found = pickle.loads(cached.read_bytes())
        if found[0] == [str(p) for p in paths]:
            return found[1]
    built = build_graphs(paths, [str(p) for p in paths], GraphConfig(), workers, progress=False)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps(([str(p) for p in paths], built)))
    return built


# ---------------------------------------------------------------- the measures


SCORE_BINS = (0.0, 0.5, 0.9, 0.99, 1.0001)  # ood_score bins of the error-against-score curve
PREDICTED_METAL = 0.1  # eV: a gapped crystal predicted below this is predicted (nearly) a metal


def gap_groups(truth: np.ndarray) -> dict:
    """Metals and ranges of true band gap, for group-conditional coverage."""
    groups = {"metals": truth == 0}
    for lo, hi in ((0, 1), (1, 2), (2, 3), (3, np.inf)):
        groups[f"{lo}-{hi:g} eV"] = (truth > lo) & (truth <= hi)
    return groups


def gapped_predicted_metal(predicted: np.ndarray, truth: np.ndarray, inside90: np.ndarray) -> dict:
    """Gapped crystals predicted (nearly) metallic, below PREDICTED_METAL: their share and the 90 % coverage
    of those and of the other gapped crystals. Metals predicted 0 eV exactly calibrate the lowest predicted
    values to intervals of ~zero width, which a gapped crystal predicted there cannot fall into."""
    gapped = truth > 0
    low = gapped & (predicted < PREDICTED_METAL)
    rest = gapped & ~low
    return {"n_gapped": int(gapped.sum()), "share": float(low.sum() / max(gapped.sum(), 1)),
            "coverage_0.9": float(inside90[low].mean()) if low.any() else None,
            "coverage_0.9_other_gapped": float(inside90[rest].mean()) if rest.any() else None}



def measure(predictor, graph_list: list, truth: np.ndarray) -> dict:
    """MAE ± standard error (or accuracy), coverage, widths, ood rate, the worst decile's flags and the
    mean error by ood_score bin."""
    from cgcnn.model.calibration import interval, uses_distance

    mean, spread, vectors = predictor.predict_graphs_full(graph_list)
    distance = predictor.record.distance(vectors)
    flagged = predictor.record.out_of_domain(graph_list, vectors, distance)  # None: no domain record
    ood = np.zeros(len(truth), dtype=int) if flagged is None else flagged
    result = {"n": int(len(truth)), "ood_rate": None if flagged is None else float(ood.mean())}
    if predictor.is_classifier:
        wrong = (mean.argmax(1) != truth).astype(float)
        result.update(accuracy=float(1 - wrong.mean()), error_flagged=float(ood[wrong == 1].mean())
                      if wrong.any() else None)
        return result
    error = mean[:, 0] - truth
    result.update(mae=float(np.abs(error).mean()), mae_se=float(np.abs(error).std(ddof=1) / np.sqrt(len(error))),
                  mean_signed_error=float(error.mean()))
    calibration = predictor.metadata.get("calibration")
    inside90 = np.zeros(len(truth), dtype=bool)
    if calibration:
        for level in LEVELS:
            lower, upper = interval(calibration, mean, spread if predictor.is_ensemble else None, level,
                                    distance if uses_distance(calibration) else None)
            lower = np.where(predictor.non_negative, np.maximum(lower, 0.0), lower)
            inside = (truth >= lower[:, 0]) & (truth <= upper[:, 0])
            result[f"coverage_{level}"] = float(inside.mean())
            if level == 0.9:
                inside90 = inside
                result["width_0.9"] = float((upper - lower)[:, 0].mean())
            if predictor.non_negative[0]:  # band gaps: coverage of metals and of each gap range
                result[f"coverage_{level}_by_gap"] = {
                    name: float(inside[chosen].mean()) for name, chosen in gap_groups(truth).items() if chosen.any()}
        if predictor.non_negative[0]:
            result["gapped_predicted_metal"] = gapped_predicted_metal(mean[:, 0], truth, inside90)
    if flagged is not None or calibration:
        worst = np.argsort(-np.abs(error))[: max(1, len(error) // 10)]
        result["worst_decile_flagged"] = float(ood[worst].mean())
        result["worst_decile_flagged_or_covered"] = float(((ood[worst] == 1) | inside90[worst]).mean())
    score = predictor.record.ood_score(distance)
    if score is not None:
        bins = np.digitize(score, SCORE_BINS[1:-1])
        result["mae_by_ood_score"] = [[float(np.abs(error[bins == b]).mean()), int((bins == b).sum())]
                                      if (bins == b).any() else [None, 0] for b in range(len(SCORE_BINS) - 1)]
    return result


def score_model(name: str, work: Path, workers: int, outside: dict, cache: dict) -> dict:
    """One shipped model on its own test split, its new chemical systems and the outside sets it applies to."""
    from cgcnn import load_model

    table, _, label = MODELS_ON[name]
    predictor = load_model(name)
    sets = {k: v for k, v in own_sets(work, table, label, cache).items() if k in ("test", "test new-chemsys")}
    sets.update({s: outside[s] for s, models in OUTSIDE.items() if name in models})
    result = {}
    for set_name, (ids, paths, labels) in sets.items():
        row = set_name.replace("test new-chemsys", "new-chemsys")
        result[row] = measure(predictor, graphs(paths, workers, cache_file(work, table, set_name)), labels[label])
        print(name, set_name, json.dumps(result[row]), flush=True)
    return result


ORIGINAL_ROW = "original band-gap (2018)"


def score_original(work: Path, workers: int, outside: dict, cache: dict) -> dict:
    """The 2018 published band-gap checkpoint, on the same crystals as `band-gap-nonmetal`."""
    from cgcnn import load_model

    predictor = load_model(ORIGINAL_BAND_GAP, ORIGINAL / "atom_init.json")
    table = "mp37k-nonmetal"
    sets = {"test": own_sets(work, table, "band_gap", cache)["test"], "dielectric": outside["dielectric"]}
    return {name: measure(predictor, graphs(paths, workers, cache_file(work, table, name)), labels["band_gap"])
            for name, (_, paths, labels) in sets.items()}


def score_all(work: Path, workers: int, only: list | None = None, earlier: dict | None = None) -> dict:
    """Every shipped model on its sets, then the 2018 checkpoint; with `only`, those models, and `earlier`'s
    rows for the rest (a model or checkpoint without an earlier row is scored)."""
    cache: dict = {}
    outside = outside_sets(work)
    names = [name for name in MODELS_ON if (MODELS / f"{name}.pt").is_file()]
    if ORIGINAL_BAND_GAP.is_file():
        names.append(ORIGINAL_ROW)
    return rescored(names, only, earlier or {},
                    lambda name: score_original(work, workers, outside, cache) if name == ORIGINAL_ROW
                    else score_model(name, work, workers, outside, cache))


def band_gap_diagnosis(work: Path, workers: int) -> dict:
    """Why wide gaps are under-predicted outside, by elimination, for band-gap-nonmetal on the dielectric set:
    the labels (the crystals in both sets: their two band gaps), the gap distribution (the test MAE reweighted
    to the outside crystals' gaps), selection on the label (signed error by true gap, both sets), novelty
    (outside crystals of a chemical system no training crystal has) and anions."""
    from cgcnn import load_model

    predictor = load_model("band-gap-nonmetal")
    ids, paths, labels = outside_sets(work)["dielectric"]
    truth = labels["band_gap"]
    error = predictor.predict_graphs(graphs(paths, workers, cache_file(work, "", "dielectric")))[:, 0] - truth
    test_ids, test_paths, test_labels = own_sets(work, "mp37k-nonmetal", "band_gap", {})["test"]
    test_truth = test_labels["band_gap"]
    test_error = predictor.predict_graphs(graphs(test_paths, workers, cache_file(work, "mp37k-nonmetal", "test"))
                                          )[:, 0] - test_truth
    bins = [0, 1, 2, 3, 4, 100]
    by_gap = {}
    for lo, hi in zip(bins[:-1], bins[1:]):
        here, there = (truth >= lo) & (truth < hi), (test_truth >= lo) & (test_truth < hi)
        by_gap[f"{lo}-{hi} eV"] = {"outside_n": int(here.sum()), "outside_mean_signed_error": float(error[here].mean()),
                                   "test_n": int(there.sum()), "test_mean_signed_error": float(test_error[there].mean()),
                                   "test_mae": float(np.abs(test_error[there]).mean())}
    share = np.histogram(truth, bins)[0] / len(truth)
    reweighted = float(np.dot(share, [v["test_mae"] for v in by_gap.values()]))
    known = {r["id"]: float(r["band_gap"]) for r in _read(work / "mp37k.csv")}
    both = [(float(r["band_gap"]), known[r["material_id"]]) for r in _matminer("dielectric_constant")
            if r["material_id"] in known]
    rows = {r["id"]: r for r in _read(work / "mp37k-nonmetal.csv")}
    train = json.loads((SPLITS / "mp37k-nonmetal.json").read_text())["train"]
    seen = {_chemical_system(work / rows[i]["structure"]) for i in train}
    new = np.array([_chemical_system(p) not in seen for p in paths])
    anion = [sorted(_chemical_system(p), key=lambda e: ANION_ORDER.get(e, 0))[-1] for p in paths]
    return {"labels_in_both_sets": {"n": len(both), "median_difference_dielectric_minus_mp37k":
                                    float(np.median([a - b for a, b in both]))},
            "test_mae_reweighted_to_outside_gaps": reweighted, "by_true_gap": by_gap,
            "new_chemical_system": {"outside_n": int(new.sum()), "outside_share": float(new.mean()),
                                    "mae_new": float(np.abs(error[new]).mean()),
                                    "mae_seen": float(np.abs(error[~new]).mean()),
                                    "mean_signed_error_new": float(error[new].mean()),
                                    "mean_signed_error_seen": float(error[~new].mean())},
            "by_anion": {a: {"n": anion.count(a), "mean_signed_error": float(error[[x == a for x in anion]].mean())}
                         for a in sorted(set(anion)) if anion.count(a) >= 10}}


# the most electronegative element of a formula names its anion
ANION_ORDER = {"N": 1, "Te": 2, "Se": 3, "S": 4, "I": 5, "Br": 6, "Cl": 7, "O": 8, "F": 9}


# ---------------------------------------------------------------- the table


def _cell(r: dict | None, key: str, fmt: str) -> str:
    return "–" if r is None or r.get(key) is None else format(r[key], fmt)


def markdown(report: dict) -> list[str]:
    """The section's generated table (its prose is written by hand in docs/RESULTS.md)."""
    lines = [MARK, "| model | set | n | MAE ± se (or accuracy) | mean signed error | coverage 68 / 90 / 95 % | "
             "mean 90 % width | ood | worst decile: flagged / flagged or covered |",
             "|---|---|---:|---|---:|---|---:|---:|---|"]
    for name, sets in report["models"].items():
        for set_name, r in sets.items():
            if "accuracy" in r:
                score, signed = f"accuracy {r['accuracy']:.3f}", "–"
            else:
                score, signed = f"{r['mae']:.4g} ± {r['mae_se']:.2g}", f"{r['mean_signed_error']:+.3g}"
            coverage = " / ".join(_cell(r, f"coverage_{level}", ".2f") for level in LEVELS)
            worst = f"{_cell(r, 'worst_decile_flagged', '.2f')} / {_cell(r, 'worst_decile_flagged_or_covered', '.2f')}"
            lines.append(f"| {name} | {set_name} | {r['n']:,} | {score} | {signed} | {coverage} | "
                         f"{_cell(r, 'width_0.9', '#.3g')} | {_cell(r, 'ood_rate', '.3f')} | {worst} |")
    return [*lines, MARK_END]


def figure(report: dict) -> None:
    """Mean absolute error against ood_score bin, each model's error in units of its test-split MAE: where
    the flag's threshold should sit."""
    from cgcnn.apps.plots import headless_pyplot, save_figure

    plt = headless_pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)  # one colour per line
    labels = [f"{lo:g}–{hi:g}".replace("1.0001", "1") for lo, hi in zip(SCORE_BINS[:-1], SCORE_BINS[1:])]
    for name, sets in report["models"].items():
        base = sets.get("test", {}).get("mae")
        for set_name, r in sets.items():
            if set_name == "new-chemsys" or "mae_by_ood_score" not in r or not base:
                continue
            points = [(k, mae / base) for k, (mae, n) in enumerate(r["mae_by_ood_score"]) if mae is not None and n >= 5]
            if points:
                style = "-" if set_name == "test" else "--"
                ax.plot(*zip(*points), style, marker="o", ms=3, lw=1, label=f"{name}, {set_name}")
    ax.axhline(1, color="0.6", lw=0.8)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("ood_score (share of validation crystals closer to training)")
    ax.set_ylabel("MAE / the model's test MAE")
    ax.legend(fontsize=5.5, ncol=2)
    save_figure(fig, FIGURE, "error against ood_score, test split and outside sets")


def main() -> None:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the table; leave RESULTS.md as it is")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS_ON),
                        help="re-score only these (the others' rows, the 2018 checkpoint's included, are kept)")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.models and not RESULTS.is_file():
        parser.error(f"--models keeps the other models' rows of {RESULTS}, which is not there: run without it")
    earlier = earlier_results(RESULTS, args.models)
    report = {"models": score_all(args.work, args.workers, args.models, earlier.get("models"))}
    rescore = not args.models or "band-gap-nonmetal" in args.models or "band_gap_diagnosis" not in earlier
    report["band_gap_diagnosis"] = (band_gap_diagnosis(args.work, args.workers) if rescore
                                    else earlier["band_gap_diagnosis"])
    report["seconds"] = round(time.perf_counter() - start, 1)
    lines = markdown(report)
    print("\n".join(lines))
    if not args.no_write:
        RESULTS.write_text(json.dumps(report, indent=1) + "\n")
        fill_results_table(lines)
        figure(report)


if __name__ == "__main__":
    main()
