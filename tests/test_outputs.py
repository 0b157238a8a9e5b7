"""Every table a command writes is plain CSV, header first, read by pandas as it is; beside it a W3C CSV on
the Web sidecar (OUT-metadata.json) names each column, its datatype and unit, the model and the command."""

import json

import pandas as pd
import pytest

from cgcnn.cli import main
from cgcnn.graphs.elements import default_table, table_to_tensor
from cgcnn.model import CrystalGraphConvNet, ModelConfig, save_model


def described(path):
    """The table at `path` read by pandas, and its sidecar; their columns agree."""
    table = pd.read_csv(path)
    metadata = json.loads(path.with_name(path.name + "-metadata.json").read_text())
    assert [c["name"] for c in metadata["tableSchema"]["columns"]] == list(table.columns)
    assert metadata["url"] == path.name and metadata["dc:source"].startswith("cgcnn ")
    return table, {c["name"]: c for c in metadata["tableSchema"]["columns"]}, metadata


@pytest.fixture
def cifs(tiny100):
    return [str(tiny100 / f"{k}.cif") for k in range(5)]


def test_predict_evaluate_explain_and_embed_describe_their_tables(tiny100, cifs, tmp_path):
    out = {name: tmp_path / f"{name}.csv" for name in ("predict", "evaluate", "explain", "embed")}
    model = ["--model", "formation-energy"]
    assert main(["--no-progress", "predict", *model, "--interval", "0.9", "--out", str(out["predict"]), *cifs]) == 0
    assert main(["--no-progress", "evaluate", *model, str(tiny100), "--targets", "1", "--out", str(out["evaluate"])]) == 0
    assert main(["--no-progress", "explain", *model, "--out", str(out["explain"]), *cifs]) == 0
    assert main(["--no-progress", "embed", *model, "--out", str(out["embed"]), *cifs]) == 0

    table, columns, metadata = described(out["predict"])
    assert len(table) == 5 and metadata["units"] == ["eV/atom"]
    assert {name: columns[name].get("unit") for name in ("prediction", "std", "lower", "upper", "ood")} == {
        "prediction": "eV/atom", "std": "eV/atom", "lower": "eV/atom", "upper": "eV/atom", "ood": None}
    table, columns, _ = described(out["evaluate"])
    assert len(table) == 100 and columns["target"]["unit"] == columns["prediction"]["unit"] == "eV/atom"
    table, columns, _ = described(out["explain"])
    assert columns["contribution"]["unit"] == "eV/atom" and columns["element"]["datatype"] == "string"
    table, columns, metadata = described(out["embed"])
    assert table.shape == (5, 65) and "crystal's vector" in metadata["dc:description"]


def test_screen_describes_its_table(tmp_path):
    model = CrystalGraphConvNet(ModelConfig(n_conv=1, conv="shared", pooling="linear", site_reduction="sum"),
                                table_to_tensor(default_table())).eval()
    save_model(model, tmp_path / "m.pt", ["heat_all"])
    out = tmp_path / "ranked.csv"
    assert main(["screen", "--model", str(tmp_path / "m.pt"), "--a", "Sr,Ba", "--b", "Ti", "--x", "O3",
                 "--out", str(out)]) == 0
    table, columns, metadata = described(out)
    assert len(table) == 2 and columns["prediction"]["unit"] == "eV/cell"
    assert columns["prediction_per_atom"]["unit"] == "eV/atom" and metadata["stable_below_eV_per_atom"] == 0.2


def test_embed_parquet_carries_its_description(cifs, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "vectors.parquet"
    assert main(["--no-progress", "embed", "--model", "formation-energy", "--out", str(out), *cifs]) == 0
    metadata = json.loads(pq.read_schema(out).metadata[b"cgcnn"])
    assert [c["name"] for c in metadata["tableSchema"]["columns"]] == pq.read_schema(out).names


def test_the_version_is_the_one_pyproject_names():
    import tomllib
    from pathlib import Path

    from cgcnn import __version__

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert project["project"]["version"] == __version__


def test_predict_to_parquet_holds_the_csv_rows_and_the_description(cifs, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    csv_out, parquet_out = tmp_path / "p.csv", tmp_path / "p.parquet"
    for out in (csv_out, parquet_out):
        assert main(["--no-progress", "predict", "--model", "formation-energy", "--interval", "0.9",
                     "--out", str(out), *cifs]) == 0
    table, written = pd.read_csv(csv_out, dtype={"id": str}), pd.read_parquet(parquet_out)
    pd.testing.assert_frame_equal(table, written, check_dtype=False)
    metadata = json.loads(pq.read_schema(parquet_out).metadata[b"cgcnn"])
    assert metadata["units"] == ["eV/atom"] and metadata["url"] == "p.parquet"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.csv-metadata.json", "p.parquet"]
    code = main(["--no-progress", "predict", "--model", "formation-energy", "--interval", "0.9", "--resume",
                 "--out", str(parquet_out), *cifs])
    assert code == 2 and pd.read_parquet(parquet_out).equals(written)
