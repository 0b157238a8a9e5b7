"""Record in each shipped model of the accuracy benchmark which crystals it was trained on.

    .venv/bin/python benchmarks/accuracy.py prepare      # the tables, once
    .venv/bin/python benchmarks/training_sets.py         # ids and structure fingerprints into the model files

Models trained now record this themselves (`training_set` in the model file's metadata); the shipped ones
were trained before, so their training split (benchmarks/splits/) is read back: the Materials Project ids,
and each crystal's structure fingerprint (cgcnn.graphs.graph.fingerprint), with which `cgcnn evaluate` and
`cgcnn predict` say how many inputs the model has seen, whatever their ids.
"""

from __future__ import annotations

import csv
import json

from tasks import MODELS, SPLITS, TASKS, data_arguments


def main() -> None:
    from cgcnn.config import GraphConfig
    from cgcnn.graphs.featurize import build_graphs
    from cgcnn.graphs.graph import fingerprint
    from cgcnn.io.write import save_torch
    from cgcnn.model import safe_load

    args = data_arguments(__doc__.splitlines()[0]).parse_args()
    fingerprints: dict[str, dict[str, str]] = {}
    for task, spec in TASKS.items():
        path = MODELS / f"{task}.pt"
        if not path.is_file():
            continue
        table = args.work / f"{spec['table']}.csv"
        rows = {r["id"]: r for r in csv.DictReader(open(table))}
        ids = [i for i in json.loads((SPLITS / f"{spec['table']}.json").read_text())["train"] if i in rows]
        known = fingerprints.setdefault(spec["table"], {})
        todo = [i for i in ids if i not in known]
        graphs = build_graphs([table.parent / rows[i]["structure"] for i in todo], todo, GraphConfig(), args.workers,
                              progress=False)
        known.update({i: fingerprint(g) for i, g in zip(todo, graphs)})
        stored = safe_load(path)
        stored["metadata"] = {**stored.get("metadata", {}), "training_set": {
            "ids": ids, "fingerprints": sorted({known[i] for i in ids})}}
        save_torch(stored, path)
        print(f"{task}: {len(ids):,} training crystals, {len({known[i] for i in ids}):,} distinct structures")


if __name__ == "__main__":
    main()
