"""Memory benchmark: peak RSS (all processes) of `cgcnn featurize` and `cgcnn predict` as the dataset grows
(1,000, 10,000 and all 36,737 crystals of mp-cgcnn-37k). Bounded memory means the peak barely grows.

    .venv/bin/python benchmarks/memory.py [--workers 2]

Prints a table and writes benchmarks/results/memory.json.
"""

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _measure import run_measured  # noqa: E402

SIZES = [1000, 10000, 36737]


def subset(root: Path, work: Path, n: int) -> Path:
    folder = work / f"first-{n}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    rows = (root / "id_prop.csv").read_text().splitlines()[:n]
    for row in rows:
        os.symlink(root / f"{row.split(',')[0]}.cif", folder / f"{row.split(',')[0]}.cif")
    (folder / "id_prop.csv").write_text("\n".join(rows) + "\n")
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", default=str(ROOT.parent / "shared" / "data" / "mp-cgcnn-37k.tar.gz"))
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "cgcnn-benchmark"))
    parser.add_argument("--model", default=str(ROOT.parent / "shared" / "data" / "original-cgcnn" / "pretrained"
                                               / "formation-energy-per-atom.pth.tar"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "memory.json"))
    args = parser.parse_args()
    work = Path(args.work)
    root = work / "mp-cgcnn-37k" / "structures"
    if not root.is_dir():
        work.mkdir(parents=True, exist_ok=True)
        with tarfile.open(args.archive) as tar:
            tar.extractall(work, filter="data")
    cgcnn = [sys.executable, "-m", "cgcnn", "--no-progress"]
    rows = {}
    for n in SIZES:
        folder = subset(root, work, n)
        cache = work / f"memory-cache-{n}"
        shutil.rmtree(cache, ignore_errors=True)
        featurize = run_measured([*cgcnn, "featurize", str(folder), "--workers", str(args.workers),
                                  "--cache-dir", str(cache)])
        predict = run_measured([*cgcnn, "predict", "--model", args.model, "--out", str(work / f"preds-{n}.csv"),
                                "--workers", str(args.workers), str(folder)])
        rows[n] = {"featurize": {k: featurize[k] for k in ("seconds", "peak_rss_mb")},
                   "predict": {k: predict[k] for k in ("seconds", "peak_rss_mb")}}
        shutil.rmtree(cache, ignore_errors=True)
    print(f"{'crystals':>9s} {'featurize s':>12s} {'featurize MB':>13s} {'predict s':>10s} {'predict MB':>11s}")
    for n, r in rows.items():
        print(f"{n:9d} {r['featurize']['seconds']:12.1f} {r['featurize']['peak_rss_mb']:13.0f} "
              f"{r['predict']['seconds']:10.1f} {r['predict']['peak_rss_mb']:11.0f}")
    Path(args.out).write_text(json.dumps({"workers": args.workers, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
