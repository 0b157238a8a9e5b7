"""Screening throughput: `cgcnn predict --model formation-energy` over the 36,737 mp37k crystals (a folder of
CIFs) and over a 200,000-crystal stream (an extxyz trajectory: mp37k repeated with every position moved by
a random 0.01 Å), with one process (one graph worker) and with two (two graph workers); crystals per second
and the peak resident memory of all the processes, then the time 10⁶ crystals would take.

    python benchmarks/screen.py            # prints the table, writes benchmarks/results/screen.json and .txt

Needs the accuracy benchmark's data (`python benchmarks/accuracy.py prepare`, in /tmp/cgcnn-accuracy).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = Path(os.environ.get("CGCNN_SCREEN_WORK", "/tmp/cgcnn-screen"))
MP37K = Path("/tmp/cgcnn-accuracy/mp-cgcnn-37k/structures")
STREAM_SIZE = 200_000
SEED = 0


def write_stream(path: Path, size: int) -> Path:
    """An extxyz of `size` frames: the mp37k crystals in turn, each time with positions moved at random."""
    if path.is_file():
        return path
    from cgcnn.io.crystal import load_crystal
    from pymatgen.core.periodic_table import Element

    files = sorted(MP37K.glob("*.cif"), key=lambda p: int(p.stem))
    crystals = [load_crystal(p, p) for p in files]
    symbols = {z: Element.from_Z(z).symbol for z in range(1, 119)}
    rng = np.random.default_rng(SEED)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        for k in range(size):
            c = crystals[k % len(crystals)]
            positions = c.cart_coords + rng.normal(0, 0.01, c.cart_coords.shape)
            lattice = " ".join(f"{v:.8f}" for v in np.asarray(c.lattice).ravel())
            out.write(f"{len(positions)}\nLattice=\"{lattice}\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n")
            out.writelines(f"{symbols[int(z)]} {x:.8f} {y:.8f} {w:.8f}\n"
                           for z, (x, y, w) in zip(c.atomic_numbers, positions))
    tmp.replace(path)
    return path


def measure(inputs: list[Path], workers: int, label: str) -> dict:
    """One `cgcnn predict` run: wall time and the peak RSS of all its processes (summed, sampled)."""
    from _measure import run_measured

    out = WORK / f"{label.split()[0]}-{workers}.csv"
    for stale in (out, out.with_name(out.name + ".partial")):
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", "cgcnn", "--no-progress", "predict", "--model", "formation-energy",
               "--workers", str(workers), "--out", str(out), *map(str, inputs)]
    done = run_measured(command, {**os.environ, "OMP_NUM_THREADS": str(workers)})
    crystals = int(done["stdout"].split()[1].replace(",", ""))
    return {"input": label, "workers": workers, "crystals": crystals, "seconds": round(done["seconds"], 1),
            "crystals_per_s": round(crystals / done["seconds"], 1), "peak_rss_mb": round(done["peak_rss_mb"])}


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    stream = write_stream(WORK / "mp37k-x200k.extxyz", STREAM_SIZE)
    rows = [measure([MP37K], w, "mp37k CIFs") for w in (1, 2)]
    rows += [measure([stream], w, "200k extxyz stream") for w in (1, 2)]
    best = max(r["crystals_per_s"] for r in rows if r["input"].startswith("200k"))
    result = {"machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}", "rows": rows,
              "hours_per_million_one_machine": round(1e6 / best / 3600, 2)}
    (HERE / "results" / "screen.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["| input | graph workers | crystals | seconds | crystals/s | peak RSS, all processes (MB) |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['input']} | {r['workers']} | {r['crystals']:,} | {r['seconds']} | {r['crystals_per_s']} | "
              f"{r['peak_rss_mb']} |" for r in rows]
    lines.append(f"\n10⁶ crystals at the stream's best rate: {result['hours_per_million_one_machine']} h on this "
                 f"machine; N such machines (--shard or torchrun) take 1/N of it.")
    (HERE / "results" / "screen.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
