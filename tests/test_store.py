"""The graph store: built once, reused, rebuilt when damaged; parallel featurisation gives the same graphs."""

import json
import logging

import numpy as np
import pytest
import torch

from cgcnn.cli import main
from cgcnn.graphs.batching import CappedBatches
from cgcnn.config import GraphConfig
from cgcnn.graphs.graph import build_graph
from cgcnn.graphs.featurize import graph_store
from cgcnn.graphs.store import GraphStore, StoreCorrupt
from cgcnn.io.datasets import load_dataset
from conftest import read_cif
from test_cli import small_dataset


@pytest.fixture
def dataset(tiny100, tmp_path):
    return load_dataset(small_dataset(tiny100, tmp_path / "data", n=80))


def same_graphs(a, b):
    return (torch.equal(a.atomic_numbers, b.atomic_numbers) and torch.equal(a.edge_index, b.edge_index)
            and torch.equal(a.distances, b.distances))


def test_store_holds_the_graphs_and_is_reused(dataset, tmp_path, caplog):
    params = GraphConfig()
    store = graph_store(dataset, params, tmp_path / "cache", workers=2, progress=False)
    assert len(store) == 80
    for k in (0, 17, 79):
        assert same_graphs(store[k], build_graph(read_cif(dataset.items[k]), params))
    with caplog.at_level(logging.INFO, logger="cgcnn.graphs.store"):
        again = graph_store(dataset, params, tmp_path / "cache", workers=2, progress=False)
    assert "reused" in caplog.text and again.path == store.path
    other = graph_store(dataset, GraphConfig(radius=6.0), tmp_path / "cache", workers=1, progress=False)
    assert other.path != store.path  # parameters are part of the key


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "garbage"])
def test_damaged_store_is_detected_and_rebuilt(dataset, tmp_path, caplog, damage):
    params = GraphConfig()
    store = graph_store(dataset, params, tmp_path / "cache", workers=1, progress=False)
    path, reference = store.path, store[5]
    del store
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 1000]
    elif damage == "flip a byte":
        data[-5000] ^= 0xFF
    else:
        data = bytearray(b"not a store at all")
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupt):
        GraphStore(path)
    with caplog.at_level(logging.WARNING, logger="cgcnn.graphs.store"):
        rebuilt = graph_store(dataset, params, tmp_path / "cache", workers=1, progress=False)
    assert "damaged" in caplog.text and "rebuilding" in caplog.text
    assert same_graphs(rebuilt[5], reference)


def test_featurize_command(dataset, tmp_path, capsys):
    folder = tmp_path / "data"
    assert main(["--no-progress", "featurize", str(folder), "--workers", "2", "--cache-dir", str(tmp_path / "c")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["crystals"] == 80 and report["edges"] == 12 * report["atoms"]
    assert (tmp_path / "c").glob("graphs-*.cgs")


def test_featurize_forks_its_workers_without_torch_and_stores_the_same_bytes(dataset, tmp_path):
    """`cgcnn featurize` never imports torch, so its workers are forked (no fresh interpreter to start);
    its store is byte for byte the one a single in-process worker builds."""
    import subprocess
    import sys

    probe = ("import sys; from cgcnn.graphs.featurize import worker_context; "
             "print(worker_context().get_start_method(), 'torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.split() == \
        ["fork", "False"]
    done = subprocess.run([sys.executable, "-m", "cgcnn", "--no-progress", "featurize", str(tmp_path / "data"),
                           "--workers", "2", "--cache-dir", str(tmp_path / "forked")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    single = graph_store(dataset, GraphConfig(), tmp_path / "single", workers=1, progress=False)
    (forked,) = (tmp_path / "forked").glob("graphs-*.cgs")
    assert forked.read_bytes() == single.path.read_bytes()


def test_batches_respect_the_atom_cap():
    n_atoms = np.array([5, 40, 7, 300, 2, 2, 9, 60])
    batches = list(CappedBatches(n_atoms, batch_size=3, max_atoms=64))
    assert sorted(k for b in batches for k in b) == list(range(8))
    for batch in batches:
        assert len(batch) <= 3
        assert n_atoms[batch].sum() <= 64 or len(batch) == 1  # a crystal over the cap goes alone
    assert len(CappedBatches(n_atoms, 3, 64)) == len(batches)


def test_abandoned_build_folders_are_removed(dataset, tmp_path):
    import os

    cache = tmp_path / "cache"
    old, fresh = cache / ".build-old", cache / ".build-fresh"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "atomic_numbers").write_bytes(b"\0" * 10)
    for p in (old / "atomic_numbers", old):
        os.utime(p, (0, 0))  # written long ago: its featurisation was killed
    graph_store(dataset, GraphConfig(), cache, workers=1, progress=False)
    assert not old.exists() and fresh.exists()


def test_a_store_truncated_in_place_while_read_is_one_clear_error(dataset, tmp_path):
    """Another program cuts the mapped file short: the next page read would die with a bare "Bus error"."""
    import subprocess
    import sys

    store = graph_store(dataset, GraphConfig(), tmp_path / "cache", workers=1, progress=False)
    reader = ("import os, sys\nfrom cgcnn.graphs.store import GraphStore\n"
              "store = GraphStore(sys.argv[1])\nos.truncate(sys.argv[1], 100)\n"
              "[store[k] for k in range(len(store))]\nprint('read a truncated store')\n")
    done = subprocess.run([sys.executable, "-c", reader, str(store.path)], capture_output=True, text=True)
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [f"cgcnn: error: {store.path}: the graph store was cut short while "
                                                "it was read (truncated in place by another program?); run the "
                                                "command again to rebuild it"]
