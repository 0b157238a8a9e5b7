"""Accuracy benchmark: the paper's properties on its own Materials Project crystals.

    .venv/bin/python benchmarks/accuracy.py prepare            # tables + splits from ../shared/data
    .venv/bin/python benchmarks/accuracy.py run [--threads 1] formation-energy   # options before the task
    .venv/bin/python benchmarks/accuracy.py learning-curve     # Eq. 4 vs Eq. 5 at 500 … 8,000 crystals
    .venv/bin/python benchmarks/accuracy.py report             # docs/RESULTS.md, figures, shipped models

`prepare` extracts ../shared/data/mp-cgcnn-37k.tar.gz (36,737 of the paper's crystals, 3,191 with
elastic moduli) into --work and writes two tables (id = Materials Project id, structure = CIF path):
  mp37k.csv       formation_energy_per_atom, band_gap, is_metal (band gap = 0), fermi_energy
  elasticity.csv  log10_K_VRH, log10_G_VRH (crystals with a modulus ≤ 0 are left out: no logarithm)
The 60/20/20 splits are fixed (seed 2018) and committed in benchmarks/splits/, so anyone re-runs the same
crystals. `run TASK` trains with `cgcnn train TABLE --config recipes/TASK.yaml --split-file` (the exact command is printed and stored
in the run folder), resuming where a checkpoint exists; the run folder keeps best.pt, log.csv,
test_metrics.json and test_predictions.csv. `run TASK --member K` trains one member of an ensemble task
alone, so members can train at once (one process each); `run TASK` then bundles the finished members.
`restore TASK` puts a finished task's members back into its run folder (from a single-model run folder, or
unpacked from the shipped model), so that raising the recipe's `ensemble` and `run TASK --member K` add members.
`report` gathers every finished run into docs/RESULTS.md and copies
the models into src/cgcnn/data/models/ (loadable by name). Set CGCNN_BENCHMARK_WORK or --work for the data.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tasks import LC_VAL, MODELS, ROOT, SPLITS, TASKS, lc_epochs, options_not_in, portable, recipe_path, recorded

SHARED = ROOT.parent / "shared" / "data" / "mp-cgcnn-37k.tar.gz"
DEFAULT_WORK = Path(os.environ.get("CGCNN_BENCHMARK_WORK", "/tmp/cgcnn-accuracy"))
SEED = 2018


# ---------------------------------------------------------------- prepare


def extract(work: Path) -> Path:
    data = work / "mp-cgcnn-37k"
    if not (data / "elasticity" / "id_prop.csv").is_file():
        work.mkdir(parents=True, exist_ok=True)
        with tarfile.open(SHARED) as archive:
            archive.extractall(work, filter="data")
    return data


def _rows(path: Path) -> list:
    return [line.strip().split(",") for line in path.read_text().splitlines() if line.strip()]


def write_table(path: Path, header: list, rows: list) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    tmp.replace(path)


def mp37k_rows(data: Path) -> list:
    folder = data / "structures"
    mp_id = dict(_rows(folder / "material_id_hash.csv"))
    rows = []
    for k, e_form, gap, fermi, *_ in _rows(folder / "megnetfork_id_prop.csv"):
        metal = int(float(gap) == 0.0)
        rows.append([mp_id[k], f"mp-cgcnn-37k/structures/{k}.cif", e_form, gap, metal, fermi])
    return rows


def elasticity_rows(data: Path) -> list:
    folder = data / "elasticity"
    mp_id = dict(_rows(folder / "material_id_hash.csv"))
    rows = []
    for k, bulk, shear, *_ in _rows(folder / "id_prop.csv"):
        if float(bulk) > 0 and float(shear) > 0:
            rows.append([mp_id[k], f"mp-cgcnn-37k/elasticity/{k}.cif",
                         f"{math.log10(float(bulk)):.6f}", f"{math.log10(float(shear)):.6f}"])
    return rows


def write_split(name: str, ids: list) -> Path:
    """Fixed seeded 60/20/20 split of `ids`; kept if already committed (so the numbers stay comparable)."""
    path = SPLITS / f"{name}.json"
    if path.is_file():
        return path
    order = sorted(ids)
    random.Random(SEED).shuffle(order)
    n_val = n_test = round(0.2 * len(order))
    n_train = len(order) - n_val - n_test
    split = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    SPLITS.mkdir(exist_ok=True)
    path.write_text(json.dumps(split, separators=(",", ":")) + "\n")
    return path


def write_subset_split(name: str, parent: str, ids: list) -> Path:
    """The parent table's committed split restricted to `ids` (each crystal stays in its split)."""
    path = SPLITS / f"{name}.json"
    if path.is_file():
        return path
    keep = set(ids)
    split = {k: [i for i in v if i in keep] for k, v in json.loads((SPLITS / f"{parent}.json").read_text()).items()}
    path.write_text(json.dumps(split, separators=(",", ":")) + "\n")
    return path


def prepare(work: Path) -> None:
    data = extract(work)
    tables = {
        "mp37k": (["id", "structure", "formation_energy_per_atom", "band_gap", "is_metal", "fermi_energy"],
                  mp37k_rows(data)),
        "elasticity": (["id", "structure", "log10_K_VRH", "log10_G_VRH"], elasticity_rows(data)),
    }
    # the paper's band-gap protocol: non-metals only (its set is 98.6 % non-metals); the split is the
    # non-metal part of mp37k's, so both band-gap models are tested on the same crystals
    tables["mp37k-nonmetal"] = (tables["mp37k"][0], [r for r in tables["mp37k"][1] if float(r[3]) > 0])
    for name, (header, rows) in tables.items():
        write_table(work / f"{name}.csv", header, rows)
        parent = name.split("-")[0]
        ids = [r[0] for r in rows]
        split = write_split(name, ids) if parent == name else write_subset_split(name, parent, ids)
        print(f"{name}: {len(rows)} crystals → {work / (name + '.csv')}, split {split.relative_to(ROOT)}")


# ---------------------------------------------------------------- run


def command(task: str, work: Path, runs: Path, extra: list, member: int | None = None) -> list:
    """The task's `cgcnn train` command (its settings from recipes/TASK.yaml); with `member`, that one
    ensemble member alone (seed k, member-k). An option in `extra` replaces the task's (cgcnn refuses an
    option given twice)."""
    spec, out = TASKS[task], runs / task
    options = {"--config": str(recipe_path(task))}
    if member is not None:
        options.update({"--ensemble": "1", "--init-seed": str(member)})
        out = out / f"member-{member}"
    options.update({"--split-file": str(SPLITS / f"{spec['table']}.json"), "--out": str(out)})
    return [sys.executable, "-m", "cgcnn", "--no-progress", "train", str(work / f"{spec['table']}.csv"),
            *options_not_in(options, extra), *extra]


def run(task: str, work: Path, runs: Path, threads: int, extra: list, member: int | None = None) -> None:
    """Train TASK (later options override the task's), resuming a run folder that holds a checkpoint."""
    from cgcnn.training.ensemble import ensemble_started

    cmd = command(task, work, runs, extra, member)
    out = Path(cmd[cmd.index("--out") + 1])
    if (out / "checkpoint.pt").is_file() or ensemble_started(out):  # the rule `cgcnn train --resume` applies
        cmd.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    printable = shlex.join(["OMP_NUM_THREADS=" + str(threads), "python", *cmd[1:]])
    printable = portable(printable, work)
    print(printable, flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    wall = time.perf_counter() - start
    timings = out / "benchmark_runs.json"
    history = json.loads(timings.read_text()) if timings.is_file() else []
    history.append({"command": printable, "wall_seconds": round(wall, 1), "threads": threads,
                    "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    timings.write_text(json.dumps(history, indent=1) + "\n")


# ---------------------------------------------------------------- restore


def restore(task: str, runs: Path) -> Path:
    """Make a finished task's run folder hold its members again, so `run TASK --member K` can add members:
    a single-model run folder becomes member-0 (it is the seed-0 member); with no run folder, the shipped
    model (src/cgcnn/data/models/TASK.pt) is unpacked into member folders, and restored.json keeps the
    recorded commands and times of the runs that made it (benchmarks/results/accuracy.json)."""
    folder = runs / task
    if (folder / "best.pt").is_file():
        return _single_run_to_member(folder)
    if folder.exists() and any(folder.glob("member-*/test_metrics.json")):
        raise SystemExit(f"{folder} already holds finished members: nothing to restore")
    return _unpack_shipped(task, folder)


def _member_command(command: str, folder: Path) -> str:
    """A single model's recorded command, as the member-0 run it now is (seed 0 is member 0's init seed)."""
    out = portable(str(folder))
    if f"--out {out}/" in command:
        return command
    return command.replace(f"--out {out}", f"--out {out}/member-0 --ensemble 1 --init-seed 0")


def _single_run_to_member(folder: Path) -> Path:
    member = folder / "member-0"
    member.mkdir()
    for path in [p for p in folder.iterdir() if p.is_file()]:
        path.replace(member / path.name)
    timings = member / "benchmark_runs.json"
    if timings.is_file():
        history = json.loads(timings.read_text())
        timings.write_text(json.dumps([{**h, "command": _member_command(h["command"], folder)} for h in history],
                                      indent=1) + "\n")
    return member


def _unpack_shipped(task: str, folder: Path) -> Path:
    from cgcnn.io.write import save_torch
    from cgcnn.model.files import ENSEMBLE_FORMAT, safe_load

    shipped, record = MODELS / f"{task}.pt", recorded()["tasks"][task]
    obj = safe_load(shipped)
    members = obj["members"] if obj.get("format") == ENSEMBLE_FORMAT else [obj]
    metrics = record["metrics"]
    split = (SPLITS / f"{TASKS[task]['table']}.json").read_text()
    for k, member in enumerate(members):
        out = folder / f"member-{k}"
        out.mkdir(parents=True, exist_ok=True)
        save_torch(member, out / "best.pt")
        (out / "split.json").write_text(split)
        member_metrics = metrics["members_test"][k] if "members_test" in metrics else metrics["test"]
        (out / "test_metrics.json").write_text(json.dumps({"restored": True, "test": member_metrics}, indent=1))
    commands = record["commands"] if len(members) > 1 else [_member_command(c, folder) for c in record["commands"]]
    (folder / "restored.json").write_text(json.dumps({
        "from": portable(str(shipped)), "members": len(members), "commands": commands,
        "epoch_seconds_total": record["epoch_seconds_total"],
        "wall_seconds_total": record["wall_seconds_total"]}, indent=1) + "\n")
    return folder


# ---------------------------------------------------------------- learning curve

LC_SIZES = [500, 2000, 8000]


def lc_split(work: Path, size: int) -> Path:
    split = json.loads((SPLITS / "mp37k.json").read_text())
    path = work / "splits" / f"mp37k-train{size}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"train": split["train"][:size], "val": split["val"][:LC_VAL],
                                "test": split["test"]}) + "\n")
    return path


# The original code's defaults (SGD, MSE, lr 0.01, batch 256, no warm-up), for one same-budget comparison.
ORIGINAL_RECIPE = ["--optim", "sgd", "--lr", "0.01", "--momentum", "0.9", "--weight-decay", "0",
                   "--scheduler", "step", "--lr-milestones", "100", "--warmup-epochs", "0", "--loss", "mse",
                   "--batch-size", "256"]
VARIANTS = {"gated": ["--conv", "gated"], "shared": ["--conv", "shared"],
            "gated+original-recipe": ["--conv", "gated", *ORIGINAL_RECIPE]}


def learning_curve(work: Path, runs: Path, threads: int, sizes: list, recipe_size: int = 2000) -> None:
    """Formation energy test MAE vs training size for Eq. 5 (gated) and Eq. 4 (shared) convolutions, and
    at `recipe_size` the original code's training recipe for comparison."""
    points = [(size, conv) for size in sizes for conv in ("gated", "shared")]
    for size, variant in points + [(recipe_size, "gated+original-recipe")]:
        out = runs / "learning-curve" / f"{variant}-{size}"
        if (out / "test_metrics.json").is_file():
            continue
        # one model per point: "--ensemble 1" overrides the formation-energy task's ensemble of 3
        extra = [*VARIANTS[variant], "--ensemble", "1", "--split-file", str(lc_split(work, size)), "--out", str(out),
                 "--epochs", str(lc_epochs(size))]
        run("formation-energy", work, runs, threads, extra)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="extracted data and tables")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "accuracy", help="run folders")
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("prepare")
    p = sub.add_parser("run")
    p.add_argument("task", choices=list(TASKS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--member", type=int, metavar="K", help="train ensemble member K alone (to run members at once)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="further `cgcnn train` options (after --)")
    p = sub.add_parser("restore", help="a finished task's members back into its run folder, to add members")
    p.add_argument("task", choices=list(TASKS))
    p = sub.add_parser("learning-curve")
    p.add_argument("--sizes", type=int, nargs="+", default=LC_SIZES)
    p.add_argument("--threads", type=int, default=1)
    sub.add_parser("report", help="docs/RESULTS.md, figures, results JSON and the shipped models")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.work)
    elif args.step == "run":
        run(args.task, args.work, args.runs, args.threads, [a for a in args.extra if a != "--"], args.member)
    elif args.step == "restore":
        print(f"{args.task}: members restored in {restore(args.task, args.runs)}")
    elif args.step == "learning-curve":
        learning_curve(args.work, args.runs, args.threads, args.sizes)
    else:
        from accuracy_report import report

        report(args.runs)


if __name__ == "__main__":
    main()
