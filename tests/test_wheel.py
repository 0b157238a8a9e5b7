"""The wheel installs into a clean virtual environment outside the repository, and `cgcnn predict` with a
shipped model works from it; `twine check` accepts the distribution."""

import subprocess
import sys

import pytest
from conftest import ROOT, embedded_rows

pytestmark = pytest.mark.slow


def run(*command, cwd=None):
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def test_the_wheel_installs_and_predicts_outside_the_repository(tmp_path):
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dist, ROOT)
    wheel = next(dist.glob("cgcnn-*.whl"))
    run(sys.executable, "-m", "twine", "check", "--strict", wheel)
    venv = tmp_path / "clean-venv"
    run(sys.executable, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "torch==2.13.0")  # the CPU build on this disk, before anything asks for torch
    run(*pip, "-c", ROOT / "constraints.txt", wheel)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "crystal.cif").write_text(embedded_rows(1)[0]["cif"])
    out = run(venv / "bin" / "cgcnn", "--no-progress", "predict", "--model", "formation-energy", "--out", "p.csv",
              "crystal.cif", cwd=tmp_path / "work")
    assert out.startswith("wrote 1 prediction to p.csv")
    where = run(venv / "bin" / "python", "-c", "import cgcnn; print(cgcnn.__file__)", cwd=tmp_path / "work")
    assert str(venv) in where and str(ROOT) not in where  # the installed copy, not the repository's
