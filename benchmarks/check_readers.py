"""Check the fast CIF path against pymatgen on every CIF of a folder: same atomic numbers, bit-identical
lattice and Cartesian positions. Usage: python benchmarks/check_readers.py FOLDER [--workers N] [--limit K]"""

import argparse
import json
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from cgcnn.io.cif import read_cif_arrays  # noqa: E402
from cgcnn.io.crystal import Crystal  # noqa: E402


def compare(path):
    from pymatgen.core import Structure

    arrays = read_cif_arrays(path)
    if arrays is None:
        return "fallback"
    fast = Crystal(*arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Crystal.from_structure(Structure.from_file(str(path)))
    same = (np.array_equal(fast.atomic_numbers, ref.atomic_numbers) and np.array_equal(fast.lattice, ref.lattice)
            and np.array_equal(fast.cart_coords, ref.cart_coords))
    if same:
        return "identical"
    close = fast.cart_coords.shape == ref.cart_coords.shape and np.allclose(fast.cart_coords, ref.cart_coords,
                                                                            atol=1e-6)
    return "within 1e-6 Å" if close and np.array_equal(fast.atomic_numbers, ref.atomic_numbers) else f"differs:{path.name}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", default="benchmarks/results/check_readers.json")
    args = parser.parse_args()
    files = sorted(Path(args.folder).glob("*.cif"))[: args.limit]
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        results = pool.map(compare, files, chunksize=64)
    counts = {}
    for r in results:
        key = r.split(":")[0]
        counts[key] = counts.get(key, 0) + 1
    report = {"files": len(files), "counts": counts, "differing": [r for r in results if r.startswith("differs")][:50],
              "seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(report, indent=1))
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
