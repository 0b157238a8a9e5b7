"""The interpretability workflow of the CGCNN paper on Castelli's cubic perovskites (docs/perovskites.md).

    .venv/bin/python examples/perovskites.py [--epochs 80] [--limit N] [--out FOLDER]

1. trains on labelled-val.csv (80/20 train/validation) the target heat_all (eV/cell) twice: Eq. 4 with
   linear pooling summed over sites (the paper's interpretable model), and the default full pooling;
2. predicts the held-out labelled-test.csv with both and reports the two test MAEs;
3. explains the linear model on every labelled crystal: per-site contributions, sites labelled A/B/X;
4. draws the mean A-site and B-site contribution of each element on a periodic table (PNG + CSV);
5. measures how much design rules enrich stable perovskites (< 0.2 eV/atom) over random picks: the
   paper's (A from groups 13–15, B from groups 4–6) and one read off the site maps;
6. screens all unseen A × B × X combinations of the elements in the data and ranks them.
Writes docs/figures/*.png and docs/results/perovskites.json (under --out, if given: the test suite runs
this example on a few hundred crystals for two epochs).
"""

import argparse
import csv
import json
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cgcnn.apps.explain import explain_files  # noqa: E402
from cgcnn.config import DataLayout, ModelConfig  # noqa: E402
from cgcnn.apps.perovskites import (  # noqa: E402
    ANIONS, enrichment, group_rule, lattice_constants_from, screen, site_maps, site_roles,
)
from cgcnn.apps.plots import periodic_table_heatmap  # noqa: E402
from cgcnn import predict_files  # noqa: E402
from cgcnn import TrainConfig, train  # noqa: E402


def tables(archive: Path, work: Path, limit: int | None = None):
    folder = work / "perovskites-castelli"
    if not folder.is_dir():
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
    out = {}
    for split in ("val", "test"):  # id = material_id, structure = cif, target = heat_all
        source = folder / f"labelled-{split}.csv"
        with open(source, newline="") as handle, open(work / f"{split}.csv", "w", newline="") as sink:
            writer = csv.writer(sink)
            writer.writerow(["id", "cif", "formula", "heat_all"])
            for k, row in enumerate(csv.DictReader(handle)):
                if limit is not None and k >= limit:
                    break
                writer.writerow([row["material_id"], row["cif"], row["formula"], row["heat_all"]])
        out[split] = work / f"{split}.csv"
    return out


def mae(predictions: Path, table: Path) -> float:
    truth = {r["id"]: float(r["heat_all"]) for r in csv.DictReader(open(table))}
    rows = csv.DictReader(open(predictions))
    values = [(float(r["prediction"]), truth[r["id"]]) for r in rows]
    return float(np.mean([abs(p - t) for p, t in values]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", default=str(ROOT.parent / "shared" / "data" / "perovskites-castelli.tar.gz"))
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "cgcnn-perovskites"))
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--limit", type=int, help="the first N crystals of each table only (a quick check)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="figures/ and results/ go here")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = tables(Path(args.archive), work, args.limit)
    figures, results = args.out / "figures", args.out / "results"
    figures.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    report = {"epochs": args.epochs}
    recipe = TrainConfig(epochs=args.epochs, batch_size=128, optimizer="adamw", lr=3e-3, weight_decay=1e-5,
                         scheduler="cosine", loss="l1", split=[0.8, 0.2, 0.0], seed=0)
    models = {
        "linear pooling, Eq. 4": ("linear", ModelConfig(conv="shared", pooling="linear", site_reduction="sum")),
        "full pooling, Eq. 5": ("full", ModelConfig()),
    }
    for name, (short, config) in models.items():
        run = work / f"run-{short}"
        shutil.rmtree(run, ignore_errors=True)
        start = time.perf_counter()
        train(data["val"], run, config, recipe, DataLayout(targets=["heat_all"], structure_column="cif"), progress=False)
        predict_files(run / "best.pt", [data["test"]], run / "test.csv", progress=False)
        report[name] = {"test_mae_eV_per_cell": mae(run / "test.csv", data["test"]),
                        "train_seconds": round(time.perf_counter() - start, 1), "model": str(run / "best.pt")}
        print(f"{name}: test MAE {report[name]['test_mae_eV_per_cell']:.3f} eV/cell")

    linear = work / "run-linear" / "best.pt"
    explain_files(linear, [data["val"], data["test"]], work / "sites.csv")
    rows, by_crystal = list(csv.DictReader(open(work / "sites.csv"))), {}
    for row in rows:
        by_crystal.setdefault(row["id"], []).append(row)
    a_of, b_of = {}, {}
    for crystal_id, sites in by_crystal.items():
        frac = [[float(s["frac_x"]), float(s["frac_y"]), float(s["frac_z"])] for s in sites]
        roles = site_roles([s["element"] for s in sites], frac, np.eye(3))  # cubic cells: fractions suffice
        for site, role in zip(sites, roles):
            site["role"] = role
            if role == "A":
                a_of[crystal_id] = site["element"]
            elif role == "B":
                b_of[crystal_id] = site["element"]
    maps = site_maps(rows)
    for role in ("A", "B"):
        values = {el: v for el, (v, _) in maps[role].items()}
        periodic_table_heatmap(values, figures / f"perovskite-{role}-site.png",
                               f"Mean {role}-site contribution to the formation energy (linear CGCNN)", "eV")
        with open(results / f"perovskite-{role}-site.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["element", "mean_contribution_eV", "sites"])
            writer.writerows([el, f"{v:.4f}", n] for el, (v, n) in sorted(maps[role].items()))

    truth = {}
    for split in ("val", "test"):
        truth.update({r["id"]: float(r["heat_all"]) for r in csv.DictReader(open(data[split]))})
    ids = sorted(set(a_of) & set(b_of))
    stable = [truth[i] / 5 < 0.2 for i in ids]
    a_sites, b_sites = [a_of[i] for i in ids], [b_of[i] for i in ids]
    report["enrichment: paper's rule (A groups 13-15, B groups 4-6)"] = enrichment(a_sites, b_sites, stable,
                                                                                 group_rule())
    best_a = _lowest_third(maps["A"])
    best_b = _lowest_third(maps["B"])
    report["enrichment: site-map rule (lowest third of A and B contributions)"] = dict(
        enrichment(a_sites, b_sites, stable, lambda a, b: a in best_a and b in best_b),
        A=sorted(best_a), B=sorted(best_b))
    labelled = [r for split in ("val", "test") for r in csv.DictReader(open(data[split]))]
    known = [(a_of[r["id"]], b_of[r["id"]], _anion_set(r["formula"]), _cell_length(r["cif"]))
             for r in labelled if r["id"] in a_of and r["id"] in b_of]
    ranked = screen(linear, sorted(maps["A"]), sorted(maps["B"]), out_path=results / "perovskite-screen.csv",
                    exclude=[r["formula"] for r in labelled], lattice_constant=lattice_constants_from(known))
    report["screening"] = {"candidates": len(ranked), "predicted_stable": int(sum(r[-1] for r in ranked)),
                           "top_10": [r[2] for r in ranked[:10]]}
    (results / "perovskites.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


def _cell_length(cif: str) -> float:
    return float(next(ln.split()[1] for ln in cif.splitlines() if ln.startswith("_cell_length_a")))


def _anion_set(formula: str) -> str:
    from pymatgen.core import Composition

    c = Composition(formula)
    return "".join(f"{el}{int(c[el]) if c[el] > 1 else ''}" for el in ANIONS if c[el] > 0)


def _lowest_third(site_map) -> set:
    frequent = {el: v for el, (v, n) in site_map.items() if n >= 10}
    cut = np.quantile(list(frequent.values()), 1 / 3)
    return {el for el, v in frequent.items() if v <= cut}


if __name__ == "__main__":
    main()
