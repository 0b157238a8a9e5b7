"""Out-of-domain flags: fitted when training ends, stored in the model file, given by `cgcnn predict`."""

import numpy as np
from conftest import read_predictions
from pymatgen.core import Lattice, Structure

from cgcnn.model.domain import fit_domain, flags
from test_cli import run_cli


def test_the_flag_catches_far_vectors_and_rare_elements():
    rng = np.random.default_rng(0)
    train, val = rng.normal(size=(2000, 8)), rng.normal(size=(500, 8))
    domain = fit_domain(train, val, [[8, 14]] * 1995 + [[94]] * 5)  # Pu in 5 training crystals: rare
    near, far = np.zeros((1, 8)), np.full((1, 8), 6.0)
    assert flags(domain, near, [[8, 14]]).tolist() == [0]
    assert flags(domain, far, [[8, 14]]).tolist() == [1]  # far from every training vector
    assert flags(domain, near, [[8, 94]]).tolist() == [1]  # an element seen in too few training crystals
    assert flags(domain, near, [[8, 10]]).tolist() == [1]  # an element never seen
    assert 0.005 < flags(domain, rng.normal(size=(4000, 8)), [[8]] * 4000).mean() < 0.02  # ~1 % by design


def test_predict_flags_a_crystal_unlike_the_training_ones(tiny100, tmp_path, capsys):
    polonium = Structure(Lattice.cubic(3.35), ["Po"], [[0, 0, 0]])  # no training crystal holds Po
    polonium.to(filename=str(tmp_path / "Po.cif"))
    out = tmp_path / "p.csv"
    code, _, err = run_cli(["predict", "--model", "formation-energy", "--out", out, tiny100, tmp_path / "Po.cif",
                            "--no-progress"], capsys)
    rows = {r["id"]: r for r in read_predictions(out)}
    assert code == 0 and rows["Po"]["ood"] == "1"
    flagged = sum(r["ood"] == "1" for r in rows.values())
    assert flagged <= 5  # the 100 Materials Project crystals of mp-tiny100 are the model's kind
    assert f"warning: {flagged} of 101 crystals are unlike the model's training crystals" in err
