"""Transfer benchmark: learning curves of small-data properties, trained from scratch, fine-tuned from the
shipped formation-energy model (`cgcnn train --init-from`), and a frozen-embedding baseline (`cgcnn embed`
+ ridge or gradient boosting); the phonon peak in 5-fold cross-validation as Matbench scores it.

    python benchmarks/transfer.py prepare              # tables + CIFs in $WORK, fixed splits committed
    python benchmarks/transfer.py run --worker 0/2     # this worker's share of the trainings (resumable)
    python benchmarks/transfer.py cv --worker 0/2      # phonon 5-fold cross-validation
    python benchmarks/transfer.py poisson --worker 0/2 # Poisson ratio: scratch vs fine-tuned from bulk-modulus
    python benchmarks/transfer.py multitask --worker 0/2   # several targets with sparse labels on mp37k
    python benchmarks/transfer.py ship --worker 0/2 --properties phonon-peak refractive-index   # ensembles of 3
    python benchmarks/transfer_report.py               # embeddings baseline, table, docs/TRANSFER.md
    python benchmarks/transfer_report.py table         # the learning-curve table from the committed results

Every run uses one thread (two workers share a 2-core machine). Data: ../shared/data (see its README).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tasks import options_not_in

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
SPLITS = HERE / "splits"
WORK = Path(os.environ.get("CGCNN_TRANSFER_WORK", "/tmp/cgcnn-transfer"))
RUNS = ROOT / "runs" / "transfer"
SEED = 0
SOURCE = "formation-energy"  # the shipped model every fine-tuning starts from

# property → table, target column, unit, training sizes (the last, None, is every training crystal)
PROPERTIES = {
    "bulk-modulus": {"table": "elasticity", "target": "log10_K_VRH", "unit": "log10(GPa)"},
    "shear-modulus": {"table": "elasticity", "target": "log10_G_VRH", "unit": "log10(GPa)"},
    "refractive-index": {"table": "dielectric", "target": "n", "unit": ""},
    "phonon-peak": {"table": "phonons", "target": "last_phdos_peak", "unit": "cm⁻¹"},
    "perovskite-heat": {"table": "perovskites", "target": "heat_all", "unit": "eV/cell"},
    "energy-above-hull": {"table": "hull", "target": "e_above_hull", "unit": "eV/atom"},
}
SIZES = [100, 300, 1000, None]
METHODS = {"scratch": [], "fine-tuned": ["--init-from", SOURCE]}
# other ways to fine-tune, tried against the documented one (chosen on validation, never on the test split)
VARIANTS = {"fine-tuned-backbone-0.1": ["--init-from", SOURCE, "--backbone-lr-scale", "0.1"],
            "fine-tuned-frozen-convs": ["--init-from", SOURCE, "--freeze", "convs"],
            # the 500-epoch recipe overfits 300 crystals within 2-18 epochs: shorter and gentler
            "fine-tuned-100-epochs-lr-5e-4": ["--init-from", SOURCE, "--epochs", "100", "--lr", "5e-4"],
            "scratch-100-epochs-lr-5e-4": ["--epochs", "100", "--lr", "5e-4"],
            "fine-tuned-frozen-convs-100-epochs": ["--init-from", SOURCE, "--freeze", "convs", "--epochs", "100"]}
# one recipe for every point (AdamW, warm-up then cosine, L1), its epochs scaled to the training size
RECIPE = {"--optim": "adamw", "--lr": "2e-3", "--weight-decay": "1e-5", "--scheduler": "cosine",
          "--warmup-epochs": "3", "--loss": "l1"}
CRYSTAL_PASSES = 200_000  # per point: epochs = passes / size, within 50..500
SEEDS = [0, 1, 2]  # points of up to SEEDED_UP_TO crystals are trained from three seeds (weights and shuffling;
SEEDED_UP_TO = 300  # the split is fixed): the smallest sets vary most; larger points get seed 0 alone
CV_FOLDS = 5


def epochs_for(size: int) -> int:
    return max(50, min(500, round(CRYSTAL_PASSES / size)))


def batch_for(size: int) -> int:
    return 32 if size <= 300 else 64


# ---------------------------------------------------------------- prepare


def _write_cif(folder: Path, crystal_id: str, structure) -> str:
    path = folder / f"{crystal_id}.cif"
    if not path.is_file():
        structure.to(filename=str(path))
    return f"{folder.name}/{path.name}"


def _elasticity_rows() -> list:
    table = Path("/tmp/cgcnn-accuracy/elasticity.csv")
    if not table.is_file():
        subprocess.run([sys.executable, str(HERE / "accuracy.py"), "prepare"], check=True)
    lines = table.read_text().splitlines()[1:]
    return [[f.split(",")[0], str(Path("/tmp/cgcnn-accuracy") / f.split(",")[1]), *f.split(",")[2:]]
            for f in lines]


def _dielectric_rows(folder: Path) -> list:
    import pandas as pd
    from cgcnn.io.structures import structure_from_text

    frame = pd.read_csv(SHARED / "matminer-2018" / "dielectric_constant.csv.gz", skiprows=1)
    rows = []
    for _, row in frame.iterrows():
        structure = structure_from_text(row["structure"], row["material_id"])
        rows.append([row["material_id"], _write_cif(folder, row["material_id"], structure), f"{row['n']:.6g}"])
    return rows


def _phonon_rows(folder: Path) -> list:
    import pandas as pd
    from cgcnn.io.structures import structure_from_text

    frame = pd.read_csv(SHARED / "mp-phonons-1521" / "phonon_dielectric_mp.csv.gz")
    rows = []
    for _, row in frame.iterrows():
        if not isinstance(row["structure"], str):
            continue  # 10 rows have no structure
        structure = structure_from_text(row["structure"], row["mpid"])
        rows.append([row["mpid"], _write_cif(folder, row["mpid"], structure), f"{row['last phdos peak']:.6g}"])
    return rows


def _perovskite_rows(folder: Path) -> list:
    import pandas as pd
    from pymatgen.core import Structure

    with tarfile.open(SHARED / "perovskites-castelli.tar.gz") as archive:
        frames = [pd.read_csv(io.BytesIO(archive.extractfile(f"perovskites-castelli/labelled-{part}.csv").read()))
                  for part in ("val", "test")]
    rows = []
    for _, row in pd.concat(frames).iterrows():
        crystal_id = f"castelli-{row['material_id']}"
        structure = Structure.from_str(row["cif"], fmt="cif")
        rows.append([crystal_id, _write_cif(folder, crystal_id, structure), f"{row['heat_all']:.6g}"])
    return rows


def _hull_rows(folder: Path) -> list:
    """matminer's flla_2015 crystals with their energy above the convex hull (a property no shipped model
    predicts; the formation-energy model never saw it)."""
    import pandas as pd
    from cgcnn.io.structures import structure_from_text

    frame = pd.read_csv(SHARED / "matminer-2018" / "flla_2015.csv.gz", skiprows=1)
    rows = []
    for _, row in frame.iterrows():
        structure = structure_from_text(row["structure"], row["material_id"])
        rows.append([row["material_id"], _write_cif(folder, row["material_id"], structure),
                     f"{row['e_above_hull']:.6g}"])
    return rows


def _write_table(path: Path, header: list, rows: list) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    tmp.replace(path)


def _split(name: str, ids: list) -> Path:
    """A fixed seeded 60/20/20 split, committed (elasticity keeps the accuracy benchmark's)."""
    path = SPLITS / (f"{name}.json" if name == "elasticity" else f"transfer-{name}.json")
    if not path.is_file():
        order = sorted(ids)
        random.Random(SEED).shuffle(order)
        n_val = n_test = round(0.2 * len(order))
        n_train = len(order) - n_val - n_test
        split = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
        path.write_text(json.dumps(split, separators=(",", ":")) + "\n")
    return path


def prepare() -> None:
    tables = {"elasticity": (["id", "structure", "log10_K_VRH", "log10_G_VRH"], _elasticity_rows)}
    readers = {"dielectric": ("n", _dielectric_rows), "phonons": ("last_phdos_peak", _phonon_rows),
               "perovskites": ("heat_all", _perovskite_rows), "hull": ("e_above_hull", _hull_rows)}
    WORK.mkdir(parents=True, exist_ok=True)
    for name, (header, reader) in tables.items():
        rows = reader()
        _write_table(WORK / f"{name}.csv", header, rows)
        print(f"{name}: {len(rows)} crystals, split {_split(name, [r[0] for r in rows]).name}")
    for name, (target, reader) in readers.items():
        folder = WORK / name
        folder.mkdir(exist_ok=True)
        rows = reader(folder)
        _write_table(WORK / f"{name}.csv", ["id", "structure", target], rows)
        print(f"{name}: {len(rows)} crystals, split {_split(name, [r[0] for r in rows]).name}")


def split_file(table: str) -> Path:
    return SPLITS / (f"{table}.json" if table == "elasticity" else f"transfer-{table}.json")


def point_split(table: str, size: int | None) -> tuple[Path, int]:
    """The split of one learning-curve point: the first `size` training crystals, the first quarter as
    many validation crystals (at least 50), the whole test split; (its file, the training size)."""
    split = json.loads(split_file(table).read_text())
    train = split["train"][:size] if size else split["train"]
    val = split["val"][: max(50, len(train) // 4)] if size else split["val"]
    path = WORK / "splits" / f"{table}-{len(train)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"train": train, "val": val, "test": split["test"]}) + "\n")
    return path, len(train)


# ---------------------------------------------------------------- run


def train(table_csv: Path, target: str, split: Path, out: Path, size: int, extra: list,
          epochs: int | None = None, batch_size: int | None = None) -> None:
    """One `cgcnn train` run, one thread, resumed if its folder holds a checkpoint; the command and its
    wall time are recorded in the run folder. Epochs and batch size follow the training size unless given."""
    if (out / "test_metrics.json").is_file():
        return
    recipe = {**RECIPE, "--epochs": str(epochs or epochs_for(size)),
              "--batch-size": str(batch_size or batch_for(size))}
    cmd = [sys.executable, "-m", "cgcnn", "--no-progress", "train", str(table_csv), "--structure-column",
           "structure", "--targets", target, "--split-file", str(split), "--out", str(out),
           *options_not_in(recipe, extra), *extra]
    if (out / "checkpoint.pt").is_file():
        cmd.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    printable = shlex.join(["OMP_NUM_THREADS=1", "python", *cmd[1:]]).replace(str(WORK), "$WORK")
    print(printable.replace(str(ROOT) + "/", ""), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    (out / "benchmark_run.json").write_text(json.dumps(
        {"command": printable.replace(str(ROOT) + "/", ""), "wall_seconds": round(time.perf_counter() - start, 1)}) + "\n")


def jobs(methods: list[str], properties: list[str], sizes: list | None = None) -> list[tuple]:
    """(property, size, method, seed): every point's first seed before any second one, smallest first."""
    found = []
    for seed in SEEDS:
        for size in sizes or SIZES:
            for name in properties:
                split = json.loads(split_file(PROPERTIES[name]["table"]).read_text())
                if size and size >= len(split["train"]):
                    continue  # the "all" point covers it
                if seed and not (size and size <= SEEDED_UP_TO):
                    continue
                found += [(name, size, method, seed) for method in methods]
    return found


def run(worker: int, workers: int, methods: list[str], properties: list[str], sizes: list | None = None) -> None:
    for k, (name, size, method, seed) in enumerate(jobs(methods, properties, sizes)):
        if k % workers != worker:
            continue
        spec = PROPERTIES[name]
        split, n = point_split(spec["table"], size)
        train(WORK / f"{spec['table']}.csv", spec["target"], split, RUNS / name / f"{method}-{n}-seed{seed}", n,
              [*{**METHODS, **VARIANTS}[method], "--init-seed", str(seed)])


def cv(worker: int, workers: int, methods: list[str], name: str = "phonon-peak") -> None:
    """K-fold cross-validation on every crystal of the property's table (Matbench's protocol: each fold
    tested once; here 10 % of each training part is held out for choosing the best epoch)."""
    spec = PROPERTIES[name]
    ids = [line.split(",")[0] for line in (WORK / f"{spec['table']}.csv").read_text().splitlines()[1:]]
    order = sorted(ids)
    random.Random(SEED).shuffle(order)
    folds = [order[k::CV_FOLDS] for k in range(CV_FOLDS)]
    tasks = [(fold, method) for fold in range(CV_FOLDS) for method in methods]
    for k, (fold, method) in enumerate(tasks):
        if k % workers != worker:
            continue
        rest = [i for j, f in enumerate(folds) if j != fold for i in f]
        n_val = len(rest) // 10
        path = WORK / "splits" / f"{name}-cv{fold}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"train": rest[n_val:], "val": rest[:n_val], "test": folds[fold]}) + "\n")
        train(WORK / f"{spec['table']}.csv", spec["target"], path, RUNS / f"{name}-cv" / f"{method}-fold{fold}",
              len(rest) - n_val, METHODS[method])


# ---------------------------------------------------------------- Poisson ratio


def poisson_table() -> Path:
    """The elasticity crystals with their Poisson ratio (the paper's Table I property no shipped model has)."""
    folder = Path("/tmp/cgcnn-accuracy/mp-cgcnn-37k/elasticity")
    mp_id = dict(line.split(",") for line in (folder / "material_id_hash.csv").read_text().split())
    kept = {line.split(",")[0] for line in (WORK / "elasticity.csv").read_text().splitlines()[1:]}
    rows = [[mp_id[k], str(folder / f"{k}.cif"), nu] for k, _, _, nu in
            (line.split(",") for line in (folder / "id_prop.csv").read_text().split()) if mp_id[k] in kept]
    path = WORK / "poisson.csv"
    _write_table(path, ["id", "structure", "poisson_ratio"], rows)
    return path


ENSEMBLE = ["--ensemble", "3"]  # shipped models: three members, seeds 0..2 (member k from member k)


def poisson(worker: int, workers: int) -> None:
    """Every training crystal of the elasticity split, ensembles of 3: from scratch, and fine-tuned from the
    shipped bulk-modulus ensemble (member k from its member k)."""
    table, split = poisson_table(), split_file("elasticity")
    n = len(json.loads(split.read_text())["train"])
    for k, method in enumerate(["scratch", "fine-tuned"]):
        if k % workers == worker:
            extra = ["--init-from", "bulk-modulus"] if method == "fine-tuned" else []
            train(table, "poisson_ratio", split, RUNS / "poisson-ratio" / f"{method}-{n}-ensemble", n, [*extra, *ENSEMBLE])


def ship(worker: int, workers: int, properties: list[str]) -> None:
    """Ensembles of 3 on every training crystal, from scratch and fine-tuned, for the models to ship."""
    tasks = [(name, method) for name in properties for method in METHODS]
    for k, (name, method) in enumerate(tasks):
        if k % workers == worker:
            spec = PROPERTIES[name]
            split, n = point_split(spec["table"], None)
            train(WORK / f"{spec['table']}.csv", spec["target"], split, RUNS / name / f"{method}-{n}-ensemble", n,
                  [*METHODS[method], *ENSEMBLE])


# ---------------------------------------------------------------- several targets, sparse labels

MULTITASK_EPOCHS = 10  # one budget for every run of this comparison (the shipped models had 200, ×3 members)
MP_TARGETS = ["formation_energy_per_atom", "band_gap", "fermi_energy"]
MODULI = ["log10_K_VRH", "log10_G_VRH"]


def multitask_table() -> Path:
    """mp37k with the elasticity set's moduli as sparse labels (empty cells where a crystal has none)."""
    moduli = {line.split(",")[0]: line.split(",")[2:] for line in (WORK / "elasticity.csv").read_text().splitlines()[1:]}
    lines = Path("/tmp/cgcnn-accuracy/mp37k.csv").read_text().splitlines()
    header = lines[0].split(",")
    at = [header.index(c) for c in ["id", "structure", *MP_TARGETS]]
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        crystal = [cells[k] for k in at]
        crystal[1] = str(Path("/tmp/cgcnn-accuracy") / crystal[1])
        rows.append(crystal + moduli.get(cells[0], ["", ""]))
    path = WORK / "mp37k-multitask.csv"
    _write_table(path, ["id", "structure", *MP_TARGETS, *MODULI], rows)
    return path


def multitask(worker: int, workers: int) -> None:
    """On mp37k's committed split, one budget: the three MP targets together, the same with the moduli as
    sparse labels, and each target alone."""
    table, split = multitask_table(), SPLITS / "mp37k.json"
    runs = {"three-targets": MP_TARGETS, "five-targets-sparse": MP_TARGETS + MODULI,
            **{f"single-{t}": [t] for t in MP_TARGETS + MODULI}}
    for k, (name, targets) in enumerate(runs.items()):
        if k % workers == worker:
            train(table, ",".join(targets), split, RUNS / "multitask" / name, 0, [], MULTITASK_EPOCHS, 128)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["prepare", "run", "cv", "poisson", "multitask", "ship"])
    parser.add_argument("--worker", default="0/1", help="I/N: run every N-th job from the I-th")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=[*METHODS, *VARIANTS])
    parser.add_argument("--sizes", nargs="+", type=int, help="training sizes of the learning curves (default: all)")
    parser.add_argument("--properties", nargs="+", default=list(PROPERTIES), choices=list(PROPERTIES))
    args = parser.parse_args(argv)
    worker, workers = map(int, args.worker.split("/"))
    if args.action == "prepare":
        prepare()
    elif args.action == "run":
        run(worker, workers, args.methods, args.properties, args.sizes)
    elif args.action == "cv":
        cv(worker, workers, args.methods)
    elif args.action == "poisson":
        poisson(worker, workers)
    elif args.action == "multitask":
        multitask(worker, workers)
    else:
        ship(worker, workers, args.properties)


if __name__ == "__main__":
    main()
