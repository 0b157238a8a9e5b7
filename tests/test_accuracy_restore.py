"""`benchmarks/accuracy.py restore`: a finished task's members back into a run folder, so members can be added
to a shipped ensemble without re-training the ones it has."""

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from accuracy import restore  # noqa: E402
from tasks import run_summary  # noqa: E402

from cgcnn.model.files import safe_load  # noqa: E402


def test_the_shipped_members_unpack_into_member_folders_with_their_record(tmp_path):
    folder = restore("formation-energy", tmp_path)
    shipped = safe_load(ROOT / "src" / "cgcnn" / "data" / "models" / "formation-energy.pt")["members"]
    assert sorted(p.name for p in folder.glob("member-*")) == [f"member-{k}" for k in range(len(shipped))]
    for k, member in enumerate(shipped):
        restored = safe_load(folder / f"member-{k}" / "best.pt")
        for key, value in member["state_dict"].items():
            assert torch.allclose(restored["state_dict"][key], value, rtol=0, atol=0, equal_nan=True), key
        assert json.loads((folder / f"member-{k}" / "split.json").read_text())["test"]
    recorded = json.loads((ROOT / "benchmarks" / "results" / "accuracy.json").read_text())["tasks"]["formation-energy"]
    (folder / "test_metrics.json").write_text(json.dumps(recorded["metrics"]))  # as the bundling run writes it
    summary = run_summary("formation-energy", folder)
    assert summary["commands"] == recorded["commands"]
    assert summary["epoch_seconds_total"] == recorded["epoch_seconds_total"]


def test_a_single_model_run_folder_becomes_member_0_with_its_command_rewritten(tmp_path):
    folder = tmp_path / "band-gap"
    folder.mkdir()
    (folder / "best.pt").write_bytes(b"weights")
    command = f"python -m cgcnn train data.csv --config recipes/band-gap.yaml --out {folder}"
    (folder / "benchmark_runs.json").write_text(json.dumps([{"command": command, "wall_seconds": 1.0}]))
    member = restore("band-gap", tmp_path)
    assert member == folder / "member-0" and (member / "best.pt").read_bytes() == b"weights"
    assert not (folder / "best.pt").exists()
    rewritten = json.loads((member / "benchmark_runs.json").read_text())[0]["command"]
    assert rewritten.endswith(f"--out {folder}/member-0 --ensemble 1 --init-seed 0")
