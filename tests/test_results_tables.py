"""The tables of docs/RESULTS.md are the benchmarks' own renderings of the committed results
(benchmarks/results/*.json): a number changed by hand there, or a result re-measured without regenerating
its table, fails here. The prose around the tables is written by hand."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))


def rendered() -> list:
    """(name, the block as the script renders it now) for every generated block of docs/RESULTS.md."""
    import accuracy_report
    import band_gap
    import calibrate
    import domain
    import ensemble_size
    import precision
    import shift

    read = lambda name: json.loads((RESULTS / name).read_text())  # noqa: E731
    found = [("shift", shift.markdown(read("shift.json"))),
             ("band gap", band_gap.markdown(read("band-gap-like-for-like.json"))),
             ("ensemble size", ensemble_size.markdown(read("ensemble-size.json"))),
             ("calibration", calibrate.markdown(read("calibration.json"))),
             ("domain", domain.markdown(read("domain.json"))),
             ("precision", precision.markdown(read("precision.json")))]
    recorded = read("accuracy.json")
    names = ["accuracy", "ensembles", "learning curve", "commands"]
    return found + list(zip(names, accuracy_report.blocks(recorded["tasks"], recorded["learning_curve"])))


@pytest.mark.parametrize("name, lines", rendered(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_generated_table_is_the_scripts_rendering_of_the_committed_results(name, lines):
    from tasks import generated_block

    assert generated_block(lines[0], lines[-1]) == lines


def test_a_generated_block_holds_tables_only():
    from tasks import generated_block

    for name, lines in rendered():
        body = [line for line in generated_block(lines[0], lines[-1])[1:-1] if line]
        assert all(line.startswith("|") for line in body) or name == "commands", name


def test_filling_a_table_keeps_the_prose_and_refuses_a_block_that_is_not_there(tmp_path):
    from tasks import fill_results_table

    page = tmp_path / "RESULTS.md"
    page.write_text("# R\n\nprose before\n\n<!-- t: s.py -->\n| a |\n|---|\n| 1 |\n<!-- /t -->\n\nprose after\n")
    fill_results_table(["<!-- t: s.py -->", "| a |", "|---|", "| 2 |", "<!-- /t -->"], page)
    assert page.read_text() == "# R\n\nprose before\n\n<!-- t: s.py -->\n| a |\n|---|\n| 2 |\n<!-- /t -->\n\nprose after\n"
    with pytest.raises(SystemExit, match="write the section by hand"):
        fill_results_table(["<!-- u: s.py -->", "| b |", "<!-- /u -->"], page)


def test_a_partial_rerun_rescores_the_named_models_and_keeps_the_rest_in_order(tmp_path):
    from tasks import earlier_results, rescored

    saved = tmp_path / "results.json"
    assert earlier_results(saved, ["b"], "models") == {}  # nothing saved yet: every model will be scored
    saved.write_text(json.dumps({"models": {"a": 1, "b": 2}, "seconds": 3}))
    assert earlier_results(saved, None, "models") == {}  # a full run keeps nothing
    earlier = earlier_results(saved, ["b"], "models")
    scored = []
    result = rescored(["a", "b", "c"], ["b"], earlier, lambda name: scored.append(name) or name.upper())
    assert result == {"a": 1, "b": "B", "c": "C"} and list(result) == ["a", "b", "c"]
    assert scored == ["b", "c"]  # "c" had no earlier result, so it is scored rather than lost
    assert rescored(["a", "b"], None, earlier, str.upper) == {"a": "A", "b": "B"}
