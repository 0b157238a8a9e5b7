"""The accuracy benchmark's committed splits: fixed, disjoint, 60/20/20, Materials Project ids."""

import json
from pathlib import Path

import pytest

SPLITS = Path(__file__).resolve().parents[1] / "benchmarks" / "splits"


@pytest.mark.parametrize("name, total", [("mp37k", 36737), ("elasticity", 3191)])
def test_committed_split_is_a_disjoint_60_20_20_partition(name, total):
    split = json.loads((SPLITS / f"{name}.json").read_text())
    parts = [set(split[k]) for k in ("train", "val", "test")]
    assert sum(map(len, parts)) == len(set().union(*parts)) == total
    assert [round(len(p) / total, 2) for p in parts] == [0.6, 0.2, 0.2]
    assert all(i.startswith("mp-") for p in parts for i in p)


def test_learning_curve_subsets_nest_inside_the_training_split(tmp_path):
    import sys

    sys.path.insert(0, str(SPLITS.parent))
    from accuracy import lc_epochs, lc_split

    small, large = (json.loads(lc_split(tmp_path, n).read_text()) for n in (500, 2000))
    assert set(small["train"]) < set(large["train"]) and small["test"] == large["test"]
    assert len(small["val"]) == len(large["val"]) == 1000
    assert lc_epochs(500) == 300 and lc_epochs(100_000) == 25
