"""Screening at scale: `cgcnn predict` resumes a killed run without a lost or doubled row, predicts one block
of the inputs (--shard), and under torchrun splits them over processes with the same output as one."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT, embedded_rows, write_table

from cgcnn.apps.predict import Predictor
from cgcnn.apps.screening import predict_files

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
    assert not out.exists() and len(partial.read_text().splitlines()) == 2 + 50
    with open(partial, "a") as handle:  # a line cut short by the kill
        handle.write("mp-cut,-1.2")
    monkeypatch.setattr(Predictor, "predict_graphs_full", real)
    report = predict_files(MODEL, [table], out, chunk=25, progress=False)  # the same command again
    assert report["resumed"] == 50 and report["predicted"] == 120
    assert out.read_text() == reference and not partial.exists()
    # resuming a finished run finds nothing to do; another model's partial file is refused when insisting
    assert predict_files(MODEL, [table], out, chunk=25, progress=False, resume=True)["resumed"] == 120
    assert out.read_text() == reference
    (tmp_path / "q.csv.partial").write_text("# another model\nid,prediction\n")
    with pytest.raises(Exception, match="written by another command"):
        predict_files(MODEL, [table], tmp_path / "q.csv", progress=False, resume=True)


def test_shards_joined_in_order_are_the_whole_run(table, reference, tmp_path):
    parts = []
    for index in range(3):
        predict_files(MODEL, [table], tmp_path / f"part{index}.csv", progress=False, shard=(index, 3))
        parts.append((tmp_path / f"part{index}.csv").read_text().splitlines(keepends=True))
    joined = "".join(parts[0] + parts[1][2:] + parts[2][2:])
    assert joined == reference
    with pytest.raises(Exception, match="index runs from 0 to 2"):
        predict_files(MODEL, [table], tmp_path / "x.csv", progress=False, shard=(3, 3))


@pytest.mark.slow
def test_two_torchrun_processes_write_what_one_does(table, reference, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "cgcnn",
               "--no-progress", "predict", "--model", MODEL, "--out", str(tmp_path / "p.csv"), str(table)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "p.csv").read_text() == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]  # the parts are gone
    assert done.stdout.count("wrote 120 predictions") == 1  # said once, by the first process
