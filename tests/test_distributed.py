"""torchrun with 2 CPU processes (gloo) trains as one process does at the same global batch size."""

import csv
import os
import subprocess
import sys

import pytest

from test_cli import small_dataset

pytestmark = pytest.mark.slow
# fp32: the tolerances below are those of float32 summation order (bf16 rounds 8 bits of mantissa)
ARGS = ["--no-progress", "train", "--epochs", "4", "--batch-size", "20", "--optim", "adam", "--lr", "3e-3",
        "--scheduler", "none", "--workers", "1", "--precision", "fp32"]


def log_of(run):
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(open(run / "log.csv"))]


def test_two_gloo_processes_match_one_process(tiny100, tmp_path):
    data = small_dataset(tiny100, tmp_path / "data", n=100)  # 60 training crystals = 3 batches of 20
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = [sys.executable, "-m", "cgcnn", *ARGS[:2], str(data), "--out", str(tmp_path / "one"), *ARGS[2:]]
    subprocess.run(single, check=True, env=env, capture_output=True)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                "-m", "cgcnn", *ARGS[:2], str(data), "--out", str(tmp_path / "two"), *ARGS[2:]]
    proc = subprocess.run(torchrun, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one, two = log_of(tmp_path / "one"), log_of(tmp_path / "two")
    assert len(one) == len(two) == 4
    # stated tolerance: the same up to float summation order, amplified over 12 Adam steps. The training loss
    # agrees to ~1e-5; the validation MAE of this barely trained model (3.5 → 0.77 → 0.92 → 0.73 eV/atom) is
    # chaotic at the 0.5 % level: computing the batch-norm statistics in float64 arithmetic instead, a change
    # of a few ulps, moved the one-process figure at epoch 3 from 0.9166 to 0.9147 and the gap between the
    # two runs from 0.64 % to 0.31 % (measured on an AMD EPYC, torch 2.13.0)
    for a, b in zip(one, two):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
        assert b["val_mae"] == pytest.approx(a["val_mae"], rel=1e-2)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
