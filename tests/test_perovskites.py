"""Perovskite tools: site roles, candidate cells, the enrichment measure and `cgcnn screen`."""

import csv

import numpy as np
import pytest
import torch

from cgcnn.model import save_model
from cgcnn.cli import main
from cgcnn.graphs.elements import default_table, table_to_tensor
from cgcnn.model import CrystalGraphConvNet, ModelConfig
from cgcnn.apps.perovskites import anion_sites, candidates, cubic_cell, enrichment, group_rule, site_maps, site_roles


def test_site_roles_find_the_octahedral_b_site():
    cell = cubic_cell("Sr", "Ti", ["O", "O", "O"], 3.905)
    symbols = [s.specie.symbol for s in cell]
    assert site_roles(symbols, cell.frac_coords, cell.lattice.matrix) == ["A", "B", "X", "X", "X"]
    shuffled = [1, 4, 0, 2, 3]
    roles = site_roles([symbols[k] for k in shuffled], cell.frac_coords[shuffled], cell.lattice.matrix)
    assert roles == ["B", "X", "A", "X", "X"]
    with pytest.raises(ValueError, match="not an ABX3 cell"):
        site_roles(["Sr", "Ti", "Ti", "O", "O"], cell.frac_coords, cell.lattice.matrix)


def test_candidates_and_cells():
    assert anion_sites("O2N") == ["N", "O", "O"]
    cell = cubic_cell("Ba", "Zr", ["O", "O", "O"])
    assert 3.5 < cell.lattice.a < 5.5 and cell.composition.reduced_formula == "BaZrO3"
    found = list(candidates(["Ba", "Sr"], ["Ti", "Sr"], ["O3", "N3"], exclude=["SrTiO3"]))
    formulas = {f for _, f, *_ in found}
    assert "SrTiO3" not in formulas and "BaTiO3" in formulas and "SrSrO3" not in formulas
    assert len(found) == 5  # Ba×{Ti,Sr}×2 + Sr×Ti×N3


def test_enrichment_counts():
    a, b = ["Ga", "Sr", "Bi", "Na"], ["Ti", "Ti", "Nb", "Fe"]
    stable = [True, False, True, False]
    result = enrichment(a, b, stable, group_rule())
    assert result["chosen"] == 2 and result["stable_among_chosen"] == 1.0
    assert result["enrichment"] == pytest.approx(2.0)


def test_site_maps_average_by_role():
    rows = [{"role": "A", "element": "Sr", "contribution": "1.0"}, {"role": "A", "element": "Sr", "contribution": "3.0"},
            {"role": "B", "element": "Ti", "contribution": "-1.0"}, {"role": "X", "element": "O", "contribution": "9"}]
    assert site_maps(rows) == {"A": {"Sr": (2.0, 2)}, "B": {"Ti": (-1.0, 1)}}


def test_screen_command_ranks_candidates(tmp_path, capsys):
    model = CrystalGraphConvNet(ModelConfig(n_conv=1, conv="shared", pooling="linear", site_reduction="sum"),
                                table_to_tensor(default_table())).eval()
    save_model(model, tmp_path / "m.pt", ["heat_all"])
    code = main(["screen", "--model", str(tmp_path / "m.pt"), "--a", "Sr,Ba", "--b", "Ti,Zr", "--x", "O3,O2N",
                 "--out", str(tmp_path / "ranked.csv")])
    assert code == 0
    rows = list(csv.DictReader(open(tmp_path / "ranked.csv")))
    assert len(rows) == 8 and [int(r["rank"]) for r in rows] == list(range(1, 9))
    values = [float(r["prediction"]) for r in rows]
    assert values == sorted(values) and np.isfinite(values).all()


def test_periodic_table_heatmap(tmp_path):
    from cgcnn.apps.plots import periodic_table_heatmap

    periodic_table_heatmap({"Sr": -0.4, "Ti": 0.3, "La": 0.1}, tmp_path / "map.png", "test", "eV")
    assert (tmp_path / "map.png").stat().st_size > 20_000


def test_screen_with_an_ensemble_reports_its_spread(tmp_path):
    from cgcnn.model import save_ensemble
    from cgcnn.apps.perovskites import screen

    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = CrystalGraphConvNet(ModelConfig(n_conv=1), table_to_tensor(default_table())).eval()
        paths.append(tmp_path / f"m{seed}.pt")
        save_model(model, paths[-1], ["heat_all"])
    save_ensemble(paths, tmp_path / "e.pt")
    screen(tmp_path / "e.pt", ["Sr"], ["Ti", "Zr"], ["O3"], tmp_path / "ranked.csv")
    rows = list(csv.DictReader(open(tmp_path / "ranked.csv")))
    assert list(rows[0])[-2:] == ["std", "stable"]
    # the spread is the members' population standard deviation, recomputed here member by member
    from cgcnn.apps.perovskites import candidates
    from cgcnn.apps.predict import load_model

    cells = {c[0]: c[-1] for c in candidates(["Sr"], ["Ti", "Zr"], ["O3"])}
    for row in rows:
        members = [load_model(p).predict([cells[row["id"]]])[0, 0] for p in paths]
        assert float(row["std"]) == pytest.approx(np.std(members), abs=1e-4)


@pytest.mark.slow
def test_the_perovskite_example_runs(tmp_path):
    """examples/perovskites.py end to end on 300 crystals of each table for two epochs (its own outputs)."""
    import json
    import subprocess
    import sys

    from conftest import ROOT, SHARED, need

    archive = need(SHARED / "perovskites-castelli.tar.gz")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "perovskites.py"), "--epochs", "2", "--limit", "300",
                           "--archive", str(archive), "--work", str(tmp_path / "work"), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "results" / "perovskites.json").read_text())
    assert report["screening"]["candidates"] > 0
    assert all(report[name]["test_mae_eV_per_cell"] > 0 for name in ("linear pooling, Eq. 4", "full pooling, Eq. 5"))
    assert (tmp_path / "figures" / "perovskite-A-site.png").stat().st_size > 0
