"""Prediction intervals: split-conformal calibration on the validation split, stored in the model file."""

import json

import numpy as np
import pytest
from conftest import read_predictions

from cgcnn.model.calibration import calibrate, coverage, interval, quantile
from test_cli import run_cli, small_dataset


@pytest.mark.parametrize("ensemble", [False, True])
def test_intervals_cover_as_promised_on_data_with_known_noise(ensemble):
    rng = np.random.default_rng(0)

    def crystals(n):
        sigma = rng.uniform(0.05, 1.0, size=(n, 1)) if ensemble else np.full((n, 1), 0.3)
        prediction = rng.normal(size=(n, 1))
        spread = sigma * rng.uniform(0.8, 1.2, size=(n, 1)) if ensemble else None  # σ, as members estimate it
        return prediction + rng.normal(size=(n, 1)) * sigma, prediction, spread

    calibration = calibrate(*crystals(2000))
    found = coverage(calibration, *crystals(20000))
    for level in ("0.68", "0.9", "0.95"):
        assert found[level]["coverage"][0] == pytest.approx(float(level), abs=0.02)
    if ensemble:  # normalised by σ: wider where the members disagree (at one predicted value: one group)
        _, prediction, spread = crystals(5)
        prediction = np.zeros_like(prediction)
        lower, upper = interval(calibration, prediction, spread, 0.9)
        assert np.argsort((upper - lower)[:, 0]).tolist() == np.argsort(spread[:, 0]).tolist()


def test_groups_of_predicted_value_are_each_covered():
    """Mondrian calibration: where the noise depends on the predicted value (small for predicted metals,
    large for wide gaps), each group is covered at the level, not only the whole."""
    rng = np.random.default_rng(1)

    def crystals(n):
        prediction = rng.uniform(0, 5, size=(n, 1))
        return prediction + rng.normal(size=(n, 1)) * (0.05 + 0.3 * prediction), prediction

    calibration = calibrate(*crystals(10000), None)
    truth, prediction = crystals(20000)
    lower, upper = interval(calibration, prediction, None, 0.9)
    inside = (truth >= lower) & (truth <= upper)
    for low, high in ((0, 1), (2, 3), (4, 5)):
        chosen = (prediction >= low) & (prediction < high)
        assert inside[chosen].mean() == pytest.approx(0.9, abs=0.03)


def test_intervals_widen_with_the_distance_from_training_where_errors_do():
    rng = np.random.default_rng(2)

    def crystals(n):
        distance = rng.uniform(2, 12, size=n)
        prediction = np.zeros((n, 1))
        return prediction + rng.normal(size=(n, 1)) * 0.05 * distance[:, None], prediction, distance

    truth, prediction, distance = crystals(3000)
    calibration = calibrate(truth, prediction, None, distance)
    assert calibration["distance"]["power"] == 1.0  # errors grow as d: the power that covers evenly
    truth, prediction, distance = crystals(20000)
    lower, upper = interval(calibration, prediction, None, 0.9, distance)
    inside = (truth >= lower) & (truth <= upper)
    for low, high in ((2, 4), (10, 12)):  # near and far crystals alike
        chosen = (distance >= low) & (distance < high)
        assert inside[chosen].mean() == pytest.approx(0.9, abs=0.03)
    with pytest.raises(ValueError, match="give distance"):
        interval(calibration, prediction, None, 0.9)
    # where errors do not grow with distance, no power is used
    flat = calibrate(rng.normal(size=(3000, 1)), np.zeros((3000, 1)), None, rng.uniform(2, 12, size=3000))
    assert flat["distance"]["power"] == 0.0


def test_a_calibration_written_before_groups_still_gives_intervals():
    old = {"method": "split-conformal on the validation split", "normalised_by": "none", "beta": [0.0],
           "scores": [list(np.arange(9.0))], "n": 9}
    lower, upper = interval(old, np.zeros((2, 1)), None, 0.5)
    assert upper[:, 0].tolist() == [4.0, 4.0] and lower[:, 0].tolist() == [-4.0, -4.0]


def test_the_ood_score_is_the_share_of_validation_crystals_closer():
    from cgcnn.model.domain import score

    domain = {"validation_distances": [1.0, 2.0, 3.0, 4.0]}
    assert score(domain, np.array([0.5, 2.5, 9.0])).tolist() == [0.0, 0.5, 1.0]
    assert score({}, np.array([1.0])) is None


def test_the_quantile_is_the_conformal_rank():
    calibration = calibrate(np.arange(9.0)[:, None], np.zeros((9, 1)), None)  # scores 0..8
    assert quantile(calibration, 0.5)[0] == 4.0  # ⌈10 · 0.5⌉ = 5th smallest
    assert quantile(calibration, 0.95)[0] == np.inf  # 9 crystals cannot support 95 %
    with pytest.raises(ValueError):
        quantile(calibration, 1.5)


def test_training_stores_the_calibration_and_predict_uses_it(tiny100, tmp_path, capsys):
    data = small_dataset(tiny100, tmp_path / "data", n=40)
    run = tmp_path / "run"
    args = ["train", data, "--out", run, "--epochs", "2", "--n-conv", "1", "--batch-size", "8", "--workers", "1"]
    assert run_cli(["--no-progress", *args], capsys)[0] == 0
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert set(metrics["test_interval_coverage"]) == {"0.68", "0.9", "0.95"}
    from cgcnn import load_model

    model = load_model(run / "best.pt")
    assert model.metadata["calibration"]["n"] == 8  # the validation split
    out = tmp_path / "p.csv"
    cifs = sorted(data.glob("*.cif"))[:5]
    assert run_cli(["predict", "--model", run, "--out", out, "--interval", "0.8", *cifs, "--no-progress"],
                   capsys)[0] == 0
    rows = read_predictions(out)
    assert list(rows[0]) == ["id", "prediction", "lower", "upper", "ood", "ood_score"]
    assert all(0 <= float(r["ood_score"]) <= 1 for r in rows)
    assert all(float(r["lower"]) <= float(r["prediction"]) <= float(r["upper"]) for r in rows)
    from cgcnn.io.structures import read_structures

    values, lower, upper = model.predict_interval([read_structures(c)[0][1] for c in cifs], 0.8)
    assert [float(r["upper"]) for r in rows] == pytest.approx(upper[:, 0].tolist(), rel=1e-5)


def test_an_interval_needs_a_calibrated_model_and_a_level_between_0_and_1(tmp_path, capsys):
    from test_mistakes import random_model

    model = random_model(tmp_path / "m.pt")
    cif = tmp_path / "x.cif"
    from pymatgen.core import Lattice, Structure

    Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(cif))
    code, _, err = run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", "--interval", "0.9", cif],
                           capsys)
    assert code == 2 and "has no interval calibration" in err
    code, _, err = run_cli(["predict", "--model", model, "--out", tmp_path / "p.csv", "--interval", "90", cif],
                           capsys)
    assert code == 2 and "interval (--interval) is a level between 0 and 1" in err
