"""The accuracy benchmark's tasks: what each predicts, from which table, the paper's figure, and its
training recipe (recipes/TASK.yaml, read by `cgcnn train --config`). Shared by accuracy.py (runs) and
accuracy_report.py (RESULTS.md), which import from here and never from each other."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPLITS = HERE / "splits"
RECIPES = ROOT / "recipes"
MODELS = ROOT / "src" / "cgcnn" / "data" / "models"  # the shipped models, loadable by name
RECORDED = HERE / "results" / "accuracy.json"  # the accuracy benchmark's committed results

TASKS = {
    "formation-energy": {"table": "mp37k", "target": "formation_energy_per_atom", "unit": "eV/atom", "paper": 0.039},
    # the paper's band-gap set is 98.6 % non-metals: the all-crystals model sits beside Matbench's figure
    "band-gap": {"table": "mp37k", "target": "band_gap", "unit": "eV", "paper": 0.388,
                 "reference": "Matbench CGCNN MAE 0.297 (all crystals, ~85k training)"},
    "band-gap-nonmetal": {"table": "mp37k-nonmetal", "target": "band_gap", "unit": "eV", "paper": 0.388,
                          "reference": "paper MAE 0.388 (non-metals)", "crystals": "non-metals"},
    "metal-classifier": {"table": "mp37k", "target": "is_metal", "unit": "P(metal)", "paper": 0.95},
    "fermi-energy": {"table": "mp37k", "target": "fermi_energy", "unit": "eV", "paper": 0.363},
    "bulk-modulus": {"table": "elasticity", "target": "log10_K_VRH", "unit": "log10(GPa)", "paper": 0.054},
    "shear-modulus": {"table": "elasticity", "target": "log10_G_VRH", "unit": "log10(GPa)", "paper": 0.087},
}

LC_CRYSTAL_PASSES = 200_000  # learning-curve budget per point: epochs = passes / size, within 25..300
LC_VAL = 1000  # validation crystals per point (the first of the fixed split), test = the whole test split


def recipe_path(task: str) -> Path:
    return RECIPES / f"{task}.yaml"


def recipe(task: str) -> dict:
    """The task's settings, as `cgcnn train --config` reads them."""
    return yaml.safe_load(recipe_path(task).read_text())


def lc_epochs(size: int) -> int:
    return max(25, min(300, round(LC_CRYSTAL_PASSES / size)))


def options_not_in(options: dict, extra: list) -> list:
    """`options` ({name: value}) as command-line words, less those that `extra` gives again (cgcnn refuses
    an option given twice, so a later setting replaces a recipe's)."""
    given = {arg for arg in extra if arg.startswith("--")}
    return [part for name, value in options.items() if name not in given for part in (name, value)]


def portable(text: str, work: Path | None = None) -> str:
    """A command as anyone can re-run it: the data folder as $WORK, repository paths relative."""
    if work is not None:
        text = text.replace(str(work), "$WORK")
    return text.replace(str(ROOT) + "/", "")


def recorded() -> dict:
    """The accuracy benchmark's committed results: {"tasks": {task: run summary}, "learning_curve": [...]}."""
    earlier = json.loads(RECORDED.read_text()) if RECORDED.is_file() else {"tasks": {}, "learning_curve": []}
    for task, summary in earlier["tasks"].items():  # files written before "epochs" was recorded
        summary.setdefault("epochs", recipe(task)["epochs"])
    return earlier


def run_summary(task: str, folder: Path) -> dict:
    """Metrics, epochs and training time of a finished run folder (single model or ensemble)."""
    metrics = json.loads((folder / "test_metrics.json").read_text())
    logs = sorted(folder.glob("member-*/log.csv")) or [p for p in [folder / "log.csv"] if p.is_file()]
    seconds = sum(float(row.split(",")[-1]) for log in logs for row in log.read_text().splitlines()[1:])
    timings = sorted(folder.glob("member-*/benchmark_runs.json")) + [folder / "benchmark_runs.json"]
    history = [h for path in timings if path.is_file() for h in json.loads(path.read_text())]
    # members unpacked from a shipped model (accuracy.py restore) bring the record of the runs that made them
    earlier = json.loads((folder / "restored.json").read_text()) if (folder / "restored.json").is_file() else {}
    spec = TASKS.get(task, {})
    return {"task": task, "target": spec.get("target"), "unit": spec.get("unit"), "paper": spec.get("paper"),
            "epochs": recipe(task)["epochs"] if task in TASKS else None,
            "metrics": metrics, "epoch_seconds_total": round(seconds + earlier.get("epoch_seconds_total", 0), 1),
            "wall_seconds_total": round(sum(h["wall_seconds"] for h in history)
                                        + earlier.get("wall_seconds_total", 0), 1),
            "commands": earlier.get("commands", []) + [portable(h["command"]) for h in history]}


# the reading order of the other benchmarks' sections in docs/RESULTS.md (any other comes after them)
RESULTS_MD = ROOT / "docs" / "RESULTS.md"


def fill_results_table(lines: list[str], path: Path = RESULTS_MD) -> None:
    """Put a generated block (its first and last lines are its HTML-comment markers; between them tables,
    nothing else) into docs/RESULTS.md in place of the earlier one. The prose around it is written by hand:
    a block without its markers in the file is an error, not a new section."""
    start, end = lines[0], lines[-1]
    text = path.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{path} has no {start} … {end} block: write the section by hand and put the markers "
                         "where its table goes")
    path.write_text(text[: text.index(start)] + "\n".join(lines) + text[text.index(end) + len(end):])


def generated_block(start: str, end: str, path: Path = RESULTS_MD) -> list[str]:
    """The lines of a generated block as docs/RESULTS.md holds it, markers included (tests compare it with a
    fresh rendering of the committed results)."""
    text = path.read_text()
    return text[text.index(start): text.index(end) + len(end)].split("\n")


def data_arguments(description: str) -> argparse.ArgumentParser:
    """The options every benchmark on the prepared tables takes: where they are, and how many workers."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("CGCNN_BENCHMARK_WORK",
                                                                          "/tmp/cgcnn-accuracy")))
    parser.add_argument("--workers", type=int, default=2, help="processes that build graphs")
    return parser


def earlier_results(path: Path, only: list | None, key: str | None = None) -> dict:
    """What a partial re-run keeps: `path`'s saved results (its `key` part) when only some models are re-scored;
    nothing when all are, or when nothing was saved (then every model is scored)."""
    if not only or not path.is_file():
        return {}
    saved = json.loads(path.read_text())
    return saved.get(key, {}) if key else saved


def rescored(names, only: list | None, earlier: dict, score) -> dict:
    """`score(name)` for each of `names` that is in `only` (all of them without it) or has no earlier result,
    `earlier[name]` for the rest; in `names`' order, so a table keeps its row order."""
    return {name: score(name) if not only or name in only or name not in earlier else earlier[name]
            for name in names}
