"""SIGKILL in the middle of training, then --resume: nothing partial is left, training continues from the
last complete epoch, and ends with exactly the weights of an uninterrupted run (one thread, fixed seed)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from cgcnn.model import safe_load
from test_cli import small_dataset

pytestmark = pytest.mark.slow
EPOCHS = 10


def command(data, out, *extra):
    return [sys.executable, "-m", "cgcnn", "--no-progress", "train", str(data), "--out", str(out), "--epochs",
            str(EPOCHS), "--batch-size", "4", "--optim", "adam", "--lr", "3e-3", "--scheduler", "step",
            "--lr-milestones", "6", "--n-conv", "2", "--workers", "1", *extra]


def epochs_logged(run):
    try:
        return len(list(csv.DictReader(open(run / "log.csv"))))
    except (OSError, csv.Error):
        return 0


def test_sigkill_then_resume_matches_an_uninterrupted_run(tiny100, tmp_path):
    data = small_dataset(tiny100, tmp_path / "data", n=60)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command(data, tmp_path / "straight"), env=env, check=True, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen(command(data, run), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while epochs_logged(run) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.07)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = epochs_logged(run)
    assert 3 <= done < EPOCHS, "the run was not killed mid-training"

    # every file in the run folder is whole: each one loads. The checkpoint is written before the log, so a
    # kill between the two leaves the log one epoch behind; --resume rewrites it from the checkpoint.
    state = safe_load(run / "checkpoint.pt")
    assert state["state"]["epoch"] in (done, done + 1)
    assert len(state["state"]["history"]) == state["state"]["epoch"]
    assert safe_load(run / "best.pt")["format"] == "cgcnn-model"
    json.loads((run / "split.json").read_text())

    subprocess.run(command(data, run, "--resume"), env=env, check=True, capture_output=True)
    assert not list(run.glob(".*.tmp"))  # temporaries of the killed write are gone
    assert epochs_logged(run) == EPOCHS
    resumed, straight = safe_load(run / "checkpoint.pt")["model"], safe_load(tmp_path / "straight" / "checkpoint.pt")["model"]
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, equal_nan=True, msg=key)
    assert (run / "test_metrics.json").read_text() == (tmp_path / "straight" / "test_metrics.json").read_text()


def test_two_processes_rebuilding_a_damaged_store_at_once(tiny100, tmp_path):
    """Both see the damage, both rebuild under their own temporary name; the last rename wins, both finish
    and leave one intact store (before: the second crashed with FileNotFoundError)."""
    data = small_dataset(tiny100, tmp_path / "data", n=40)
    cache = tmp_path / "cache"
    featurize = [sys.executable, "-m", "cgcnn", "--no-progress", "featurize", str(data), "--cache-dir", str(cache),
                 "--workers", "1"]
    subprocess.run(featurize, check=True, capture_output=True)
    (store,) = cache.glob("graphs-*.cgs")
    store.write_bytes(store.read_bytes()[:-100])  # truncated
    procs = [subprocess.Popen(featurize, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate() + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    assert [json.loads(out)["crystals"] for out, _, _ in results] == [40, 40]
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no temporaries left
