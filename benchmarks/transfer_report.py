"""The transfer benchmark's report: the frozen-embedding baselines (computed here: `cgcnn embed` with the
source model, then ridge regression and gradient boosting chosen on the validation crystals), the learning-
curve table of every method, the phonon cross-validation, a figure, benchmarks/results/transfer.json and
docs/TRANSFER.md's tables (between its HTML-comment markers).

    python benchmarks/transfer_report.py         # everything, after the runs of benchmarks/transfer.py
    python benchmarks/transfer_report.py table   # the learning-curve table from the committed results
    python benchmarks/transfer_report.py cv      # the phonon cross-validation, from the arms' run folders
    python benchmarks/transfer_report.py variants   # ways to fine-tune compared (energy above hull, N = 300)
    python benchmarks/transfer_report.py ship phonon-peak ...   # compare both arms on validation, ship winners
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import numpy as np

from transfer import (CV_FOLDS, HERE, PROPERTIES, ROOT, RUNS, SEEDS, SIZES, SOURCE, WORK, epochs_for, jobs,
                      point_split, split_file)
from tasks import MODELS

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
    path = WORK / f"{table}.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: not there; run `python benchmarks/transfer.py prepare` first")
    lines = path.read_text().splitlines()
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
    """{method: folds, mean, sd} of the phonon cross-validation, from the run folders present, else as
    recorded (each arm can be run on its own)."""
    found = json.loads(RESULTS.read_text()).get("phonon_cv", {}) if RESULTS.is_file() else {}
    for method in ("scratch", "fine-tuned"):
        folds = [test_mae(RUNS / "phonon-peak-cv" / f"{method}-fold{k}") for k in range(CV_FOLDS)]
        if all(f is not None for f in folds):
            found[method] = {"folds": folds, "mean": statistics.mean(folds), "std": statistics.stdev(folds)}
    return found


def _cell(values: list[float] | float | None) -> str:
    """Every seed's figure and their median (a mean ± sd hides a failed seed)."""
    if values is None or values == []:
        return "–"
    if isinstance(values, float):
        return f"{values:.3g}"
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{', '.join(f'{v:.3g}' for v in values)} (median {statistics.median(values):.3g})"


def table_lines(points: list[dict]) -> list[str]:
    lines = ["| property (unit) | N train | epochs | scratch: each seed (median) | fine-tuned: each seed (median) | "
             "embedding + ridge | embedding + GBM | fine-tuned vs scratch, medians | same seed, each |",
             "|---|---:|---:|---|---|---:|---:|---:|---|"]
    for p in points:
        unit = PROPERTIES[p["property"]]["unit"]
        gain = paired = ""
        if p["scratch"] and p["fine-tuned"]:
            ratio = statistics.median(p["fine-tuned"]) / statistics.median(p["scratch"])
            gain = f"{(1 - ratio) * 100:+.0f} %"
            if len(p["scratch"]) == len(p["fine-tuned"]) > 1:
                paired = ", ".join(f"{(1 - f / s) * 100:+.0f} %" for s, f in zip(p["scratch"], p["fine-tuned"]))
        lines.append(f"| {p['property']} ({unit or 'n'}) | {p['n_train']:,} | {p['epochs']} | {_cell(p['scratch'])} | "
                     f"{_cell(p['fine-tuned'])} | {_cell(p['embedding+ridge'])} | {_cell(p['embedding+gbm'])} | "
                     f"{gain} | {paired} |")
    return lines


def cv_lines(cv: dict) -> list[str]:
    lines = ["| method | fold MAEs (cm⁻¹) | mean ± sd |", "|---|---|---:|"]
    return lines + [f"| {m} | {', '.join(f'{f:.1f}' for f in r['folds'])} | {r['mean']:.1f} ± {r['std']:.1f} |"
                    for m, r in cv.items()]


VARIANT_POINT = ("energy-above-hull", 300)  # where the ways to fine-tune are compared


def val_mae(folder: Path) -> float | None:
    metrics = folder / "test_metrics.json"
    return json.loads(metrics.read_text()).get("val", {}).get("mae") if metrics.is_file() else None


def variant_results() -> dict:
    """{method: {val: [per seed], test: [per seed]}} at VARIANT_POINT, from the run folders."""
    from transfer import METHODS, VARIANTS

    name, n = VARIANT_POINT
    found = {}
    for method in [*METHODS, *VARIANTS]:
        folders = [RUNS / name / f"{method}-{n}-seed{seed}" for seed in SEEDS]
        if all((f / "test_metrics.json").is_file() for f in folders):
            found[method] = {"val": [val_mae(f) for f in folders], "test": [test_mae(f) for f in folders]}
    return found


def median_baseline(name: str, size: int | None) -> dict[str, float]:
    """Validation and test MAE of predicting the training labels' median for every crystal: the figure a
    model must beat to have learnt anything (most energies above the hull are exactly 0)."""
    spec = PROPERTIES[name]
    label = targets(spec["table"], spec["target"])  # first: it says when the data are not prepared
    split = json.loads(point_split(spec["table"], size)[0].read_text())
    middle = statistics.median(label[i] for i in split["train"])
    return {part: statistics.fmean(abs(label[i] - middle) for i in split[part]) for part in ("val", "test")}


def variant_lines(found: dict) -> list[str]:
    unit = PROPERTIES[VARIANT_POINT[0]]["unit"]
    base = found.get("scratch")
    lines = [f"| method | validation MAE ({unit}): each seed (median) | test MAE: each seed (median) | "
             "test vs scratch, medians |", "|---|---|---|---:|"]
    for method, r in found.items():
        gain = (f"{(1 - statistics.median(r['test']) / statistics.median(base['test'])) * 100:+.0f} %"
                if base and method != "scratch" else "")
        lines.append(f"| {method} | {_cell(r['val'])} | {_cell(r['test'])} | {gain} |")
    trivial = median_baseline(*VARIANT_POINT)
    gain = f"{(1 - trivial['test'] / statistics.median(base['test'])) * 100:+.0f} %" if base else ""
    lines.append(f"| no model: the training median for every crystal | {trivial['val']:.3g} | {trivial['test']:.3g} "
                 f"| {gain} |")
    return lines


def size_results(variants: dict) -> list[dict]:
    """At VARIANT_POINT's property, seed 0 of both arms at every training size run (at VARIANT_POINT's size,
    seed 0 of `variants`), beside the training median."""
    name, arms = VARIANT_POINT[0], ("scratch", "fine-tuned")
    rows = []
    for size in [s for s in SIZES if s is None or s >= VARIANT_POINT[1]]:
        trivial = median_baseline(name, size)  # first: it says when the data are not prepared
        n = point_split(PROPERTIES[name]["table"], size)[1]
        folders = {m: RUNS / name / f"{m}-{n}-seed0" for m in arms}
        if all((f / "test_metrics.json").is_file() for f in folders.values()):
            found = {m: {"val": val_mae(f), "test": test_mae(f)} for m, f in folders.items()}
        elif n == VARIANT_POINT[1] and all(m in variants for m in arms):
            found = {m: {"val": variants[m]["val"][0], "test": variants[m]["test"][0]} for m in arms}
        else:
            continue
        rows.append({"n_train": n, **found, "training median": trivial})
    return rows


def size_lines(rows: list[dict]) -> list[str]:
    unit = PROPERTIES[VARIANT_POINT[0]]["unit"]
    lines = [f"| N train | validation MAE ({unit}): scratch / fine-tuned / training median | "
             "test MAE: scratch / fine-tuned / training median | fine-tuned vs scratch, test |", "|---:|---|---|---:|"]
    for r in rows:
        arms = [r["scratch"], r["fine-tuned"], r["training median"]]
        val, test = (" / ".join(format(a[part], ".3g") for a in arms) for part in ("val", "test"))
        gain = (1 - r["fine-tuned"]["test"] / r["scratch"]["test"]) * 100
        lines.append(f"| {r['n_train']} | {val} | {test} | {gain:+.0f} % |")
    return lines


def variants_report() -> None:
    """Record the fine-tuning variants at VARIANT_POINT and rewrite their section of docs/TRANSFER.md."""
    recorded = json.loads(RESULTS.read_text())
    # methods recorded earlier whose run folders are gone (runs/ is not kept) stay as recorded
    earlier = {k: v for k, v in recorded.get("fine_tuning_variants", {}).items() if isinstance(v, dict)}
    found = {**earlier, **variant_results()}
    recorded["fine_tuning_variants"] = {"property": VARIANT_POINT[0], "n_train": VARIANT_POINT[1], **found}
    sizes = size_results(found)
    recorded["energy_above_hull_by_size"] = sizes
    RESULTS.write_text(json.dumps(recorded, indent=1) + "\n")
    text = replace_section(DOC.read_text(), "variants", variant_lines(found))
    DOC.write_text(replace_section(text, "hull-sizes", size_lines(sizes)))
    print("\n".join([*variant_lines(found), "", *size_lines(sizes)]))


def cv_report() -> None:
    """Record the phonon cross-validation (both arms) and rewrite its section of docs/TRANSFER.md."""
    cv = cv_results()
    recorded = json.loads(RESULTS.read_text())
    recorded["phonon_cv"] = cv
    RESULTS.write_text(json.dumps(recorded, indent=1) + "\n")
    DOC.write_text(replace_section(DOC.read_text(), "phonon-cv", cv_lines(cv)))
    print("\n".join(cv_lines(cv)))


def table_from_results() -> None:
    """docs/TRANSFER.md's learning-curve table again from the committed results (no run folders needed)."""
    points = json.loads(RESULTS.read_text())["learning_curves"]
    DOC.write_text(replace_section(DOC.read_text(), "learning-curves", table_lines(points)))


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
    (poisson_table, poisson), (multi_table, multi) = poisson_lines(), multitask_lines()
    shipped = ship_models()
    shipped_table = shipped_lines(shipped)
    RESULTS.write_text(json.dumps({"learning_curves": points, "phonon_cv": cv, "source_model": SOURCE,
                                   "seeds": SEEDS, "matbench_phonons": MATBENCH_PHONONS, "poisson_ratio": poisson,
                                   "multitask": multi, "shipped_candidates": shipped}, indent=1) + "\n")
    figure(points)
    sections = {"learning-curves": table_lines(points), "phonon-cv": cv_lines(cv), "poisson": poisson_table,
                "multitask": multi_table, "shipped": shipped_table}
    text = DOC.read_text()
    for marker, lines in sections.items():
        text = replace_section(text, marker, lines)
        print("\n".join(lines), end="\n\n")
    DOC.write_text(text)


def original_poisson(test_ids: list[str]) -> float | None:
    """The original published poisson-ratio checkpoint's test MAE on the same test crystals."""
    from cgcnn import load_model
    from cgcnn.io.datasets import load_dataset

    checkpoint = ROOT.parent / "shared" / "data" / "original-cgcnn" / "pretrained" / "poisson-ratio.pth.tar"
    if not checkpoint.is_file():
        return None
    dataset = load_dataset(WORK / "poisson.csv", ["poisson_ratio"], structure_column="structure")
    where = {i: k for k, i in enumerate(dataset.ids)}
    rows = [where[i] for i in test_ids]
    predictor = load_model(checkpoint)
    values = predictor.predict_items([dataset.items[k] for k in rows], [dataset.sources[k] for k in rows], workers=2)
    return float(np.abs(values[:, 0] - dataset.targets[rows, 0]).mean())


def ensemble_summary(folder: Path) -> dict | None:
    metrics = folder / "test_metrics.json"
    if not metrics.is_file():
        return None
    result = json.loads(metrics.read_text())
    members = [m["mae"] for m in result["members_test"]]
    return {"ensemble_mae": result["test"]["mae"], "members_mae": members, "n_train": result["n_train"],
            "n_test": result["n_test"]}


def poisson_lines() -> tuple[list[str], dict]:
    split = json.loads(split_file("elasticity").read_text())
    n = len(split["train"])
    found = {m: ensemble_summary(RUNS / "poisson-ratio" / f"{m}-{n}-ensemble") for m in ("scratch", "fine-tuned")}
    found["original"] = original_poisson(split["test"])
    lines = ["| model | test MAE (ensemble of 3) | members' MAE |", "|---|---:|---|"]
    for method in ("scratch", "fine-tuned"):
        r = found[method]
        if r:
            lines.append(f"| {method}{' from bulk-modulus' if method == 'fine-tuned' else ''} | {r['ensemble_mae']:.4f} | "
                         f"{', '.join(f'{m:.4f}' for m in r['members_mae'])} |")
    if found["original"] is not None:
        lines.append(f"| original published `poisson-ratio.pth.tar` | {found['original']:.4f} | (one model) |")
    return lines, found


def multitask_lines() -> tuple[list[str], dict]:
    from transfer import MODULI, MP_TARGETS, MULTITASK_EPOCHS

    folder = RUNS / "multitask"
    runs = {name: json.loads((folder / name / "test_metrics.json").read_text())
            for name in ["three-targets", "five-targets-sparse", *[f"single-{t}" for t in MP_TARGETS + MODULI]]
            if (folder / name / "test_metrics.json").is_file()}
    lines = ["| target | labelled test crystals | alone | with the other two MP targets | all five (moduli sparse) |",
             "|---|---:|---:|---:|---:|"]
    for target in MP_TARGETS + MODULI:
        def mae(name: str) -> str:
            t = runs.get(name, {}).get("test", {}).get("targets", {}).get(target)
            return f"{t['mae']:.4g}" if t else "–"
        n = runs.get(f"single-{target}", runs.get("five-targets-sparse", {})).get("test", {}).get("targets", {}).get(
            target, {}).get("n", "–")
        lines.append(f"| {target} | {n} | {mae(f'single-{target}')} | "
                     f"{mae('three-targets') if target in MP_TARGETS else '–'} | {mae('five-targets-sparse')} |")
    return lines, {"epochs": MULTITASK_EPOCHS, "runs": runs}


LICENCES = {
    "dielectric": "weights MIT, as cgcnn; data from matminer 0.4.1 (BSD), values from the Materials Project "
                  "(CC BY 4.0: cite A. Jain et al., APL Materials 1, 011002 (2013), and I. Petousis et al., "
                  "Sci. Data 4, 160134 (2017))",
    "phonons": "weights MIT, as cgcnn; data from automatminer's history (BSD), values from G. Petretto et al., "
               "Sci. Data 5, 180065 (2018) (CC BY 4.0)",
    "perovskites": "weights MIT, as cgcnn; data from github usnistgov/jarvis_leaderboard (NIST) and txie-93/cdvae "
                   "(MIT), values from I. Castelli et al., Energy Environ. Sci. 5, 5814 (2012)",
    "elasticity": "weights MIT, as cgcnn; trained on Materials Project data (CC BY 4.0: cite A. Jain et al., "
                  "APL Materials 1, 011002 (2013), and M. de Jong et al., Sci. Data 2, 150009 (2015))",
}
TRAINING_DATA = {
    "dielectric": "matminer dielectric_constant: 1,056 Materials Project crystals (60 % for training)",
    "phonons": "mp-phonons-1521: 1,511 crystals with a structure (60 % for training)",
    "elasticity": "mp-cgcnn-37k elasticity: 3,191 Materials Project crystals (60 % for training)",
    "perovskites": "Castelli cubic perovskites: the 7,572 labelled of JARVIS' and CDVAE's copies (60 % for training)",
}
# name → (table, target, unit, run folder suffix): the learning curves' all-crystals point (one model, seed 0)
# or the Poisson ratio's ensembles of 3. Fine-tuned and from scratch are compared on the validation split (never
# on the test split, which only reports), and the winner ships under the property's name
SHIP = {"phonon-peak": ("phonons", "last_phdos_peak", "cm^-1", "seed0"),
        "refractive-index": ("dielectric", "n", "1", "seed0"),
        "perovskite-heat": ("perovskites", "heat_all", "eV/cell", "seed0"),
        "poisson-ratio": ("elasticity", "poisson_ratio", "1", "ensemble")}


def compare(name: str) -> dict | None:
    """Both arms' validation and test MAE, and the winner on validation; None without both run folders (or
    from runs made before test_metrics.json recorded the validation metrics: rerun them)."""
    table, _, _, suffix = SHIP[name]
    n = len(json.loads(split_file("elasticity" if name == "poisson-ratio" else table).read_text())["train"])
    folders = {method: RUNS / name / f"{method}-{n}-{suffix}" for method in ("fine-tuned", "scratch")}
    found = {m: json.loads((f / "test_metrics.json").read_text()) for m, f in folders.items()
             if (f / "test_metrics.json").is_file()}
    if len(found) < 2 or any("val" not in m for m in found.values()):
        return None
    winner = min(found, key=lambda m: found[m]["val"]["mae"])
    return {"name": name, "n_train": found["fine-tuned"]["n_train"], "winner": winner,
            "folder": str(folders[winner].relative_to(ROOT)),
            **{f"{m}_{part}": found[m][part]["mae"] for m in found for part in ("val", "test")}}


def install(record: dict) -> None:
    """Copy the winning run's model into the package under the property's name, with its catalogue entry."""
    name, folder = record["name"], ROOT / record["folder"]
    table, target, unit, suffix = SHIP[name]
    metrics = json.loads((folder / "test_metrics.json").read_text())
    shutil.copyfile(folder / ("ensemble.pt" if suffix == "ensemble" else "best.pt"), MODELS / f"{name}.pt")
    listed = MODELS / "models.json"
    catalogue = json.loads(listed.read_text())
    catalogue[name] = {
        "file": f"{name}.pt", "target": target, "unit": unit, "task": "regression",
        "ensemble": metrics.get("ensemble", 1),
        "test": {k: round(metrics["test"][k], 4) for k in ("mae", "rmse", "r2")}, "n_train": metrics["n_train"],
        "training_data": TRAINING_DATA[table], "licence": LICENCES[table],
        "command": json.loads((folder / "benchmark_run.json").read_text())["command"],
        **({"fine_tuned_from": metrics["fine_tuned_from"]["model"]} if record["winner"] == "fine-tuned"
           else {"trained_from": "scratch"}),
        "validation_mae": {"fine-tuned": round(record["fine-tuned_val"], 5), "scratch": round(record["scratch_val"], 5)},
    }
    listed.write_text(json.dumps(catalogue, indent=1) + "\n")


def ship_models(names: list[str] | None = None) -> list[dict]:
    """Compare both arms of every property with run folders and ship the winners on validation: of `names`
    (each must have its run folders; a property left out keeps its shipped file), else of all compared."""
    unknown = sorted(set(names or ()) - set(SHIP))
    if unknown:
        raise SystemExit(f"transfer_report.py ship: no transfer model named {', '.join(unknown)}; "
                         f"choose from {', '.join(SHIP)}")
    records = [r for r in map(compare, SHIP) if r]
    missing = sorted(set(names or ()) - {r["name"] for r in records})
    if missing:
        raise SystemExit(f"{', '.join(missing)}: no finished scratch and fine-tuned run folders with validation "
                         f"metrics under {RUNS}: run benchmarks/transfer.py first")
    for record in records:
        if names is None or record["name"] in names:
            install(record)
    return records


def shipped_lines(records: list[dict]) -> list[str]:
    lines = ["| model | training crystals | validation MAE: scratch / fine-tuned | test MAE: scratch / fine-tuned "
             "| shipped (the better on validation) |", "|---|---:|---|---|---|"]
    return lines + [f"| `{r['name']}` | {r['n_train']:,} | {r['scratch_val']:.4g} / {r['fine-tuned_val']:.4g} | "
                    f"{r['scratch_test']:.4g} / {r['fine-tuned_test']:.4g} | {r['winner']} |" for r in records]


def ship_report(names: list[str]) -> None:
    """`ship_models(names)`, then its records into the results and the shipped table (the rest of the report
    needs every run folder; this needs only the every-crystal points')."""
    records = ship_models(names)
    results = json.loads(RESULTS.read_text())
    results["shipped_candidates"] = records
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    DOC.write_text(replace_section(DOC.read_text(), "shipped", shipped_lines(records)))


if __name__ == "__main__":
    import sys

    actions = {"table": table_from_results, "cv": cv_report, "variants": variants_report}
    if sys.argv[1:2] == ["ship"]:  # re-decide these on validation and ship the winners: ship [NAME ...]
        ship_report(sys.argv[2:] or list(SHIP))
    else:
        actions[sys.argv[1]]() if sys.argv[1:] else report()
