"""Crystal embeddings (`cgcnn embed`, `Predictor.embed`): the model's own pooled vector, invariant to the
order of atoms and to supercells, in CSV, .npy and .parquet alike."""

import numpy as np
import pytest
import torch
from conftest import embedded_rows, write_table
from pymatgen.core import Structure
from test_cli import run_cli

from cgcnn import load_model
from cgcnn.graphs.batching import GraphDataset, collate

MODEL = "formation-energy"


@pytest.fixture(scope="module")
def structures():
    return [Structure.from_str(r["cif"], fmt="cif") for r in embedded_rows(12)]


def test_embedding_is_the_vector_that_feeds_the_head(structures):
    predictor = load_model(MODEL)
    vectors = predictor.embed(structures, member=2)
    assert vectors.shape == (12, 64)
    model = predictor.models[2]
    graphs = predictor.graphs_for(structures, [str(k) for k in range(12)])
    batch = collate([GraphDataset(graphs)[k] for k in range(12)])
    with torch.no_grad():
        outputs, crystals = model.forward_with_vectors(batch)
        np.testing.assert_allclose(vectors, crystals.numpy(), atol=1e-6)
        # under full pooling the head applied to the embedding gives the prediction
        np.testing.assert_allclose(model.head(torch.from_numpy(vectors)).numpy(), outputs.numpy(), atol=1e-5)


def test_embedding_ignores_atom_order_and_supercells(structures):
    predictor = load_model(MODEL)
    reference = predictor.embed(structures[:4])
    shuffled = []
    for k, s in enumerate(structures[:4]):
        order = np.random.default_rng(k).permutation(len(s))
        shuffled.append(Structure.from_sites([s[int(i)] for i in order]))
    np.testing.assert_allclose(predictor.embed(shuffled), reference, atol=1e-5)
    supercells = [s.copy().make_supercell([2, 1, 1]) for s in structures[:4]]
    np.testing.assert_allclose(predictor.embed(supercells), reference, atol=1e-4)
    sites = predictor.embed(structures[:2], sites=True)
    assert sites.shape == (len(structures[0]) + len(structures[1]), 64)
    np.testing.assert_allclose(sites[: len(structures[0])].mean(0), reference[0], atol=1e-5)


def test_cli_writes_the_same_vectors_in_every_format(tmp_path, capsys):
    import pandas as pd

    rows = embedded_rows(8)
    table = write_table(tmp_path / "crystals.csv", rows, ["id", "cif"])
    expected = load_model(MODEL).embed([Structure.from_str(r["cif"], fmt="cif") for r in rows])
    for name in ("e.csv", "e.parquet", "e.npy"):
        code, out, err = run_cli(["--no-progress", "embed", "--model", MODEL, "--out", tmp_path / name, table], capsys)
        assert code == 0, err
        assert out.strip() == f"wrote 64-dimensional vectors of 8 crystals to {tmp_path / name}"
    csv_frame = pd.read_csv(tmp_path / "e.csv")
    parquet = pd.read_parquet(tmp_path / "e.parquet")
    assert list(csv_frame["id"]) == list(parquet["id"]) == [r["id"] for r in rows]
    assert list(pd.read_csv(tmp_path / "e.ids.csv")["id"]) == [r["id"] for r in rows]
    np.testing.assert_allclose(csv_frame.iloc[:, 1:].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(parquet.iloc[:, 1:].to_numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), expected, atol=1e-6)

    code, out, _ = run_cli(["--no-progress", "embed", "--model", MODEL, "--sites", "--out", tmp_path / "s.csv", table],
                           capsys)
    sites = pd.read_csv(tmp_path / "s.csv")
    assert code == 0 and list(sites.columns[:3]) == ["id", "site", "element"] and len(sites) > 8
    assert f"of {len(sites)} sites of 8 crystals" in out


def test_bad_requests_get_one_clear_error(tmp_path, capsys):
    rows = embedded_rows(3)
    table = write_table(tmp_path / "crystals.csv", rows, ["id", "cif"])
    code, _, err = run_cli(["embed", "--model", MODEL, "--out", tmp_path / "e.txt", table], capsys)
    assert code == 2 and "name the file .csv, .npy or .parquet" in err
    members = len(load_model(MODEL).models)  # one past the last member
    code, _, err = run_cli(["embed", "--model", MODEL, "--member", str(members), "--out", tmp_path / "e.csv", table],
                           capsys)
    assert code == 2 and f"{members} member(s)" in err
    code, _, err = run_cli(["embed", "--model", MODEL, "--out", table, table], capsys)
    assert code == 2 and "is an input" in err
    (tmp_path / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    code, out, err = run_cli(["--no-progress", "embed", "--model", MODEL, "--skip-bad", "--out", tmp_path / "k.csv",
                              table, tmp_path / "broken.cif"], capsys)
    assert code == 0 and "3 crystals" in out and "1 skipped" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.cif", "crystals.csv", "k.csv", "k.csv-metadata.json", "k.skipped.csv"]
