import os
import pickle
import subprocess
import sys

import pytest
import torch

from cgcnn.model import safe_load, save_model
from cgcnn.errors import InputError
from cgcnn.apps.predict import load_model
from test_model import random_predictor


class RunsCommand:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("writer", ["torch.save", "plain pickle"])
def test_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    payload = {"state_dict": RunsCommand(marker), "args": {}, "normalizer": {}}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(InputError, match="evil.pth.tar") as err:
        load_model(path)
    assert "refused" in str(err.value) or "not a readable model file" in str(err.value)
    assert not marker.exists()


def test_cli_refuses_malicious_model(tmp_path, tiny100):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "cgcnn-model", "config": RunsCommand(marker)}, path)
    proc = subprocess.run([sys.executable, "-m", "cgcnn", "predict", "--model", str(path), "--out",
                           str(tmp_path / "p.csv"), str(tiny100 / "0.cif")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "evil.pt: refused to load" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists() and not (tmp_path / "p.csv").exists()


def test_save_and_load_round_trip(tmp_path, tiny100):
    from conftest import read_cif

    predictor = random_predictor(conv="shared", n_outputs=2)
    save_model(predictor.model, tmp_path / "m.pt", ["a", "b"], {"note": "test"})
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.target_names == ["a", "b"] and loaded.metadata == {"note": "test"}
    structure = read_cif(tiny100 / "3.cif")
    torch.testing.assert_close(torch.tensor(loaded.predict(structure)), torch.tensor(predictor.predict(structure)))
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temp file


def test_not_a_model_file(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(300))
    with pytest.raises(InputError, match="junk.pt: not a (readable )?model file"):
        safe_load(junk)
    text = tmp_path / "notes.pt"
    text.write_text("this is not a model\n")  # torch.load itself says only "KeyError: 101"
    with pytest.raises(InputError, match="notes.pt: not a model file: it holds text, not a PyTorch file"):
        safe_load(text)
    with pytest.raises(InputError, match="no such model file"):
        safe_load(tmp_path / "missing.pt")
