"""Screening at scale: `cgcnn predict` resumes a killed run without a lost or doubled row, predicts one block
of the inputs (--shard), and under torchrun splits them over processes with the same output as one."""

import io
import os
import subprocess
import sys

import pytest
from conftest import ROOT, assert_same_predictions, embedded_rows, read_predictions, write_table

from cgcnn.apps.predict import Predictor
from cgcnn.apps.chunked_predict import predict_files

MODEL = "formation-energy"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_table(tmp_path_factory.mktemp("screen") / "crystals.csv", embedded_rows(120), ["id", "cif"])


@pytest.fixture(scope="module")
def reference(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "all.csv"
    predict_files(MODEL, [table], out, chunk=25, progress=False)
    return out.read_text()


def test_a_killed_run_resumes_with_no_row_lost_or_doubled(table, reference, tmp_path, monkeypatch):
    out = tmp_path / "p.csv"
    real, calls = Predictor.predict_graphs_full, []

    def dies_on_the_third_chunk(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill would, mid-run
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict_graphs_full", dies_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        predict_files(MODEL, [table], out, chunk=25, progress=False)
    partial = tmp_path / "p.csv.partial"
    assert not out.exists() and len(partial.read_text().splitlines()) == 1 + 50
    with open(partial, "a") as handle:  # a line cut short by the kill
        handle.write("mp-cut,-1.2")
    monkeypatch.setattr(Predictor, "predict_graphs_full", real)
    report = predict_files(MODEL, [table], out, chunk=25, progress=False)  # the same command again
    assert report["resumed"] == 50 and report["predicted"] == 120
    assert out.read_text() == reference and not partial.exists()
    # resuming a finished run finds nothing to do; another model's partial file is refused when insisting
    assert predict_files(MODEL, [table], out, chunk=25, progress=False, resume=True)["resumed"] == 120
    assert out.read_text() == reference
    (tmp_path / "q.csv.partial").write_text("id,prediction\nmp-1,0.5\n")  # a row, and no metadata
    with pytest.raises(Exception, match="holds rows of another run"):
        predict_files(MODEL, [table], tmp_path / "q.csv", progress=False, resume=True)


def test_shards_joined_in_order_are_the_whole_run(table, reference, tmp_path):
    parts = []
    for index in range(3):
        predict_files(MODEL, [table], tmp_path / f"part{index}.csv", progress=False, shard=(index, 3))
        parts.append((tmp_path / f"part{index}.csv").read_text().splitlines(keepends=True))
    joined = "".join(parts[0] + parts[1][1:] + parts[2][1:])
    assert_same_predictions(joined, reference)
    with pytest.raises(Exception, match="index runs from 0 to 2"):
        predict_files(MODEL, [table], tmp_path / "x.csv", progress=False, shard=(3, 3))
    from cgcnn.apps.jobs import shard_option

    with pytest.raises(Exception, match="N, the number of blocks, is at least 1"):
        shard_option("1/0")


@pytest.mark.slow
def test_two_torchrun_processes_write_what_one_does(table, reference, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "cgcnn",
               "--no-progress", "predict", "--model", MODEL, "--out", str(tmp_path / "p.csv"), str(table)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_predictions((tmp_path / "p.csv").read_text(), reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.csv-metadata.json"]  # the parts are gone
    assert done.stdout.count("wrote 120 predictions") == 1  # said once, by the first process


def test_two_torchrun_processes_join_into_one_parquet_file(table, reference, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "cgcnn",
               "--no-progress", "predict", "--model", MODEL, "--out", str(tmp_path / "p.parquet"), str(table)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = pd.read_csv(io.StringIO(reference), dtype={"id": str})
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p.parquet"), expected, check_dtype=False, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet"]  # the parts and the joined CSV are gone


def test_many_frame_files_are_read_lazily_and_predict_as_structures_do(tmp_path):
    """An extxyz trajectory and an ASE database are listed without reading their structures; each frame is
    read when its graph is built, and predicts exactly what the same structure does."""
    import ase.db
    import ase.io
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    from cgcnn import load_model
    from cgcnn.io.streams import Frame
    from cgcnn.io.inputs import collect_structures

    structures = [Structure.from_str(r["cif"], fmt="cif") for r in embedded_rows(30)]
    frames = [AseAtomsAdaptor.get_atoms(s) for s in structures]
    ase.io.write(tmp_path / "many.extxyz", frames, format="extxyz")
    with ase.db.connect(tmp_path / "some.db") as db:
        for atoms in frames[:5]:
            db.write(atoms)
    listed = collect_structures([tmp_path / "many.extxyz", tmp_path / "some.db"])
    assert all(isinstance(item, Frame) for item in listed.items)  # nothing read yet
    assert listed.ids[:2] == ["many:0", "many:1"] and listed.ids[30:32] == ["some:1", "some:2"]
    (tmp_path / "again").mkdir()  # the same name in another folder: paths become the ids, frames kept apart
    ase.io.write(tmp_path / "again" / "many.extxyz", frames[:2], format="extxyz")
    clashing = collect_structures([tmp_path / "many.extxyz", tmp_path / "again" / "many.extxyz"]).ids
    assert clashing[0].endswith("many.extxyz:0") and clashing[-1].endswith("again/many.extxyz:1")

    report = predict_files(MODEL, [tmp_path / "many.extxyz", tmp_path / "some.db"], tmp_path / "p.csv",
                           progress=False, workers=2)
    assert report["predicted"] == 35
    rows = [line.split(",") for line in (tmp_path / "p.csv").read_text().splitlines()[1:]]
    expected = load_model(MODEL).predict(structures)[:, 0]
    got = [float(r[1]) for r in rows]
    assert got[30:] == pytest.approx(expected[:5], abs=2e-5)
    assert got[:30] == pytest.approx(expected, abs=1e-3)  # extxyz keeps 8 decimals of each coordinate


def test_a_table_of_structures_is_listed_record_by_record(table, reference, tmp_path, capsys):
    """A CSV of embedded CIFs keeps only where each record is; predicting from it is predicting the
    structures; a broken table is one clear error."""
    from test_cli import run_cli

    from cgcnn.io.streams import Frame
    from cgcnn.io.inputs import collect_structures

    listed = collect_structures([table])
    assert len(listed.ids) == 120 and all(isinstance(item, Frame) for item in listed.items)
    import pandas as pd

    pd.read_csv(table).to_parquet(tmp_path / "crystals.parquet", row_group_size=50)  # three row groups
    assert all(isinstance(item, Frame) for item in collect_structures([tmp_path / "crystals.parquet"]).items)
    predict_files(MODEL, [tmp_path / "crystals.parquet"], tmp_path / "from-parquet.csv", progress=False, workers=2)
    assert_same_predictions((tmp_path / "from-parquet.csv").read_text(), reference)
    lines = table.read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "utf16.csv").write_text("".join(lines), encoding="utf-16")
    code, _, err = run_cli(["predict", "--model", MODEL, "--out", tmp_path / "p.csv", tmp_path / "utf16.csv"], capsys)
    assert code == 2 and "is UTF-16 text" in err
    (tmp_path / "ragged.csv").write_text("id,cif\nx,1,2\n")
    code, _, err = run_cli(["predict", "--model", MODEL, "--out", tmp_path / "p.csv", tmp_path / "ragged.csv"], capsys)
    assert code == 2 and "ragged.csv: id 'x': 3 cells where the header has 2" in err


def _interrupted(table, out, monkeypatch, model=MODEL, chunks=2):
    """A run of `model` killed after `chunks` chunks of 25 crystals, leaving OUT.partial."""
    real, calls = Predictor.predict_graphs_full, []

    def dies(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > chunks:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict_graphs_full", dies)
    with pytest.raises(KeyboardInterrupt):
        predict_files(model, [table], out, chunk=25, progress=False)
    monkeypatch.setattr(Predictor, "predict_graphs_full", real)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """A second model with the same target names (the shipped one, one weight changed)."""
    import torch

    from cgcnn.io.write import save_torch
    from cgcnn.model import safe_load
    from cgcnn.model.catalogue import resolve_model

    stored = safe_load(resolve_model(MODEL))
    members = stored["members"] if "members" in stored else [stored]
    weights = members[0]["state_dict"]
    name = next(k for k, v in weights.items() if v.is_floating_point() and v.ndim == 2)
    weights[name] = weights[name] + torch.full_like(weights[name], 1e-3)
    path = tmp_path_factory.mktemp("other") / "other.pt"
    save_torch(stored, path)
    return path


def test_rows_of_another_model_or_other_inputs_are_never_mixed(table, other_model, tmp_path, monkeypatch):
    out = tmp_path / "p.csv"
    _interrupted(table, out, monkeypatch)
    before = (tmp_path / "p.csv.partial").read_text()
    for resume in (None, True):  # the plain command and --resume: refused, the partial file kept
        with pytest.raises(Exception, match="holds rows of another run \\(different model file\\)"):
            predict_files(other_model, [table], out, chunk=25, progress=False, resume=resume)
        assert (tmp_path / "p.csv.partial").read_text() == before
    fewer = write_table(tmp_path / "fewer.csv", embedded_rows(60), ["id", "cif"])
    with pytest.raises(Exception, match="different input list"):
        predict_files(MODEL, [fewer], out, chunk=25, progress=False)
    assert predict_files(MODEL, [table], out, chunk=25, progress=False)["predicted"] == 120
    # a finished file of another model is not continued either
    with pytest.raises(Exception, match="different model file"):
        predict_files(other_model, [table], out, progress=False, resume=True)
    assert len(read_predictions(out)) == 120


def test_the_output_is_plain_csv_with_its_metadata_beside_it(table, reference, tmp_path):
    import csv
    import json

    import pandas as pd

    out = tmp_path / "p.csv"
    out.write_text(reference)
    frame = pd.read_csv(out)  # no options needed
    assert list(frame.columns[:2]) == ["id", "prediction"] and len(frame) == 120
    assert next(csv.reader(open(out))) == list(frame.columns)
    predict_files(MODEL, [table], out, progress=False, interval=0.9)
    meta = json.loads((tmp_path / "p.csv-metadata.json").read_text())
    assert meta["url"] == "p.csv" and meta["@context"] == "http://www.w3.org/ns/csvw"
    assert [c["name"] for c in meta["tableSchema"]["columns"]] == list(pd.read_csv(out).columns)
    assert meta["tableSchema"]["columns"][1]["unit"] == "eV/atom" and meta["interval_level"] == 0.9
    assert len(meta["fingerprint"]["model_sha256"]) == 64 and meta["fingerprint"]["n_inputs"] == 120


def test_a_second_writer_of_the_same_output_is_refused(table, tmp_path):
    from cgcnn.io.write import ChunkedCsv

    out = tmp_path / "p.csv"
    holder = ChunkedCsv(out, ["id", "prediction"], {"fingerprint": {}})
    holder.open()
    try:
        with pytest.raises(Exception, match="p.csv: another command is writing this file"):
            predict_files(MODEL, [table], out, progress=False)
    finally:
        holder.close()
    assert predict_files(MODEL, [table], out, progress=False, resume=False)["predicted"] == 120


def test_the_ood_warning_counts_the_rows_of_the_run_resumed(table, tmp_path, monkeypatch):
    whole = predict_files(MODEL, [table], tmp_path / "whole.csv", chunk=25, progress=False)
    out = tmp_path / "p.csv"
    _interrupted(table, out, monkeypatch, chunks=4)
    resumed = predict_files(MODEL, [table], out, chunk=25, progress=False)
    assert resumed["resumed"] == 100 and resumed["out_of_domain"] == whole["out_of_domain"]
    flagged = sum(row["ood"] == "1" for row in read_predictions(out))
    assert resumed["out_of_domain"] == flagged


def test_no_inputs_is_an_error_not_an_empty_file(tmp_path):
    with pytest.raises(Exception, match="no inputs"):
        predict_files(MODEL, [], tmp_path / "p.csv", progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_bad_crystal_in_one_torchrun_process_is_one_clear_error_in_each(table, tmp_path):
    text = table.read_text()
    broken = tmp_path / "broken.csv"
    last_cif = text.rindex("_cell_length_a")  # the last crystal, in the second process's block
    broken.write_text(text[:last_cif] + "_cell_length_q" + text[last_cif + len("_cell_length_a"):])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "cgcnn",
               "--no-progress", "predict", "--model", MODEL, "--out", str(tmp_path / "p.csv"), str(broken)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    # each process says one line; the only traceback left is torchrun's launcher reporting failed children
    assert done.returncode != 0 and "src/cgcnn" not in done.stderr and "gloo" not in done.stderr.lower()
    assert "another torchrun process stopped with an error" in done.stderr, done.stderr[-3000:]
    assert "cannot parse the embedded structure" in done.stderr and not (tmp_path / "p.csv").exists()


def test_an_output_folder_that_cannot_be_written_is_one_clear_error(table, tmp_path, monkeypatch):
    import builtins

    real_open = builtins.open

    def refused(path, *args, **kwargs):  # as a read-only folder refuses a non-root user
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refused)
    with pytest.raises(Exception, match="cannot write in this folder \\(permission denied\\)"):
        predict_files(MODEL, [table], tmp_path / "p.csv", progress=False)
