"""Training recipes (`cgcnn train --config recipes/TASK.yaml`): the committed recipes are exactly the
commands that produced docs/RESULTS.md, and the benchmark's commands read them."""

import re
import sys
from pathlib import Path

import pytest

from cgcnn.cli import flat_settings, parse
from cgcnn.config import ModelConfig, TrainConfig, pick
from cgcnn.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from accuracy import command  # noqa: E402
from tasks import TASKS  # noqa: E402

IGNORED = {"out", "resume", "split_file"}  # where a run writes, and a split file named relative or absolute


def parsed(argv: list) -> dict:
    """The settings a `cgcnn ... train ARGS` command line stands for."""
    return flat_settings(parse(argv[argv.index("train"):]).job)


def recorded_command(task: str) -> list:
    """The command RESULTS.md reports for the task's whole run (not one ensemble member)."""
    text = (ROOT / "docs" / "RESULTS.md").read_text().split("\n## Commands", 1)[1]
    lines = [ln for ln in text.splitlines() if "python -m cgcnn" in ln and re.search(rf"--out \S+/{task}( |$)", ln)]
    return lines[-1].split()  # the latest: earlier ones may have made members of a smaller ensemble


@pytest.mark.parametrize("task", list(TASKS))
def test_recipe_is_the_command_behind_the_results(task):
    recorded = parsed(recorded_command(task))
    ours = parsed(command(task, Path("$WORK"), Path("runs/accuracy"), []))
    assert {k: v for k, v in ours.items() if k not in IGNORED} == {
        k: v for k, v in recorded.items() if k not in IGNORED}
    pick(ModelConfig, ours), pick(TrainConfig, ours)  # and both configs accept the values


def test_a_member_command_trains_one_seed_of_the_ensemble_into_its_folder(tmp_path):
    whole = parsed(command("bulk-modulus", tmp_path / "work", tmp_path / "runs", []))
    member = parsed(command("bulk-modulus", tmp_path / "work", tmp_path / "runs", [], member=2))
    assert whole["ensemble"] == 3 and member["ensemble"] == 1 and member["init_seed"] == 2
    assert member["out"] == str(tmp_path / "runs" / "bulk-modulus" / "member-2")
    differ = {k for k in whole if whole[k] != member[k]}
    assert differ == {"ensemble", "init_seed", "out"}  # otherwise the same recipe


def test_options_on_the_command_line_win_over_the_recipe(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("optim: adamw\nlr: 2e-3\nsplit: [0.8, 0.1, 0.1]\ncompile: true\ntargets: [a, b]\n")
    values = parsed(["train", "data", "--config", str(recipe), "--out", "o", "--lr", "0.5"])
    assert values["lr"] == 0.5 and values["optimizer"] == "adamw" and values["compile"] is True
    assert values["split"] == [0.8, 0.1, 0.1] and values["targets"] == ["a", "b"]


@pytest.mark.parametrize("text, message", [
    ("optimiser: adam\n", "unknown setting 'optimiser'"),
    ("- lr\n", "a recipe is a mapping"),
    ("lr: [\n", "not valid YAML"),
])
def test_a_bad_recipe_is_one_clear_error_naming_the_file(tmp_path, text, message):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    with pytest.raises(InputError, match=message) as caught:
        parsed(["train", "data", "--config", str(recipe), "--out", "o"])
    assert str(recipe) in str(caught.value)
