"""Speed benchmark: featurisation and training throughput of cgcnn vs the original algorithm and cgcnn2.

    .venv/bin/python benchmarks/speed.py            # or: make benchmark

Measured side by side in one run on the same 2,000 CIFs of mp-cgcnn-37k (extracted from
../shared/data/mp-cgcnn-37k.tar.gz into a temporary folder):
  (a) CIF → graph throughput: cgcnn with 1 worker and with all cores; the original algorithm
      (pymatgen Structure.from_file + get_all_neighbors + per-atom sort + padding + Gaussian expansion,
      written out below); cgcnn2==0.6.0 in its own virtual environment;
  (b) training crystals/s for one epoch at the original's default size (atom 64, h 128, 3 convs,
      batch 256, SGD): cgcnn eager, cgcnn with torch.compile (the second epoch; the first compiles),
      cgcnn with bf16 autocast, the original model (dense N×12 tensors, per-crystal pooling loop;
      written out below) and cgcnn2's model;
  (c) peak RSS of each measurement (each runs in its own process);
  (d) time and peak RSS (all processes together) to featurise all 36,737 crystals with 2 workers;
  (e) whole commands as a user times them, on every core, start-up and imports included: `cgcnn
      featurize` (fresh store), `cgcnn predict --model formation-energy` (4 members) and `cgcnn train
      --epochs 5` on the same 2,000 CIFs. The original code's whole commands are not here (only its
      algorithm is, rows a-b): their ratios use its in-process time, which flatters the original.
Single thread (torch and BLAS) unless a row says otherwise. Records the CPU's model and its bf16 and AMX
flags. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))
from _measure import peak_while, run_measured  # noqa: E402
N_CRYSTALS = 2000


# ---------------------------------------------------------------- phases (each in its own process)


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def featurize_ours(folder, workers):
    from cgcnn.graphs.featurize import build_graphs
    from cgcnn.config import GraphConfig
    from cgcnn.io.datasets import load_dataset

    data = load_dataset(folder)
    start = time.perf_counter()
    graphs = build_graphs(data.items, data.sources, GraphConfig(), workers=workers, progress=False)
    seconds = time.perf_counter() - start
    return {"crystals": len(graphs), "seconds": seconds}


def original_item(path, table, radius=8.0, max_nbr=12):
    """The original CIFData.__getitem__: parse, neighbours, sort, pad, Gaussian expansion."""
    import numpy as np
    import torch
    from pymatgen.core import Structure

    crystal = Structure.from_file(str(path))
    atom_fea = np.vstack([table[crystal[i].specie.number] for i in range(len(crystal))])
    all_nbrs = [sorted(n, key=lambda x: x[1]) for n in crystal.get_all_neighbors(radius, include_index=True)]
    idx, dist = [], []
    for nbr in all_nbrs:
        pad = max(0, max_nbr - len(nbr))
        idx.append([x[2] for x in nbr[:max_nbr]] + [0] * pad)
        dist.append([x[1] for x in nbr[:max_nbr]] + [radius + 1.0] * pad)
    centers = np.arange(0, radius + 0.2, 0.2)
    nbr_fea = np.exp(-((np.array(dist)[..., None] - centers) ** 2) / 0.2**2)
    return torch.Tensor(atom_fea), torch.Tensor(nbr_fea), torch.LongTensor(np.array(idx))


def featurize_original(folder):
    from cgcnn.graphs.elements import default_table

    table = {z: row for z, row in default_table().items()}
    files = sorted(Path(folder).glob("*.cif"))
    start = time.perf_counter()
    for path in files:
        original_item(path, table)
    return {"crystals": len(files), "seconds": time.perf_counter() - start}


CGCNN2_FEATURIZE = r"""
import json, sys, time, resource, warnings
warnings.filterwarnings("ignore")
from cgcnn2.data import CIFData
data = CIFData(sys.argv[1], cache_size=0)
start = time.perf_counter()
for k in range(len(data)):
    data[k]
print(json.dumps({"crystals": len(data), "seconds": time.perf_counter() - start}))
"""

CGCNN2_TRAIN = r"""
import json, sys, time, warnings, torch
warnings.filterwarnings("ignore")
torch.set_num_threads(1)
from cgcnn2.data import CIFData, collate_pool
from cgcnn2.model import CrystalGraphConvNet
data = CIFData(sys.argv[1], cache_size=None)
items = [data[k] for k in range(len(data))]
torch.manual_seed(0)
model = CrystalGraphConvNet(items[0][0][0].shape[1], items[0][0][1].shape[2], 64, 3, 128, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
model.train()
start = time.perf_counter()
for b in range(0, len(items), 256):
    (atom, nbr, idx, crys), target, _ = collate_pool(items[b:b + 256])
    out, _ = model(atom, nbr, idx, crys)
    loss = torch.nn.functional.mse_loss(out, target)
    opt.zero_grad(); loss.backward(); opt.step()
print(json.dumps({"crystals": len(items), "seconds": time.perf_counter() - start}))
"""


def train_ours(folder, autocast=False, compiled=False):
    import torch

    from cgcnn.graphs.batching import GraphDataset, loader
    from cgcnn.graphs.elements import default_table, table_to_tensor
    from cgcnn.graphs.featurize import build_graphs
    from cgcnn.config import GraphConfig
    from cgcnn.model import CrystalGraphConvNet, ModelConfig
    from cgcnn.training.loop import train_epoch

    data = load(folder)
    graphs = build_graphs(data.items, data.sources, GraphConfig(), workers=1, progress=False)
    targets = torch.tensor(data.targets, dtype=torch.float32)
    torch.manual_seed(0)
    model = CrystalGraphConvNet(ModelConfig(), table_to_tensor(default_table()))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batches = loader(GraphDataset(graphs, targets), 256, shuffle=True, generator=torch.Generator().manual_seed(0))
    net = torch.compile(model, dynamic=True) if compiled else model
    result, cpu = {"crystals": len(graphs)}, torch.device("cpu")
    if compiled:  # the first epoch compiles; the timed one is the second
        start = time.perf_counter()
        train_epoch(model, batches, optimizer, torch.nn.functional.mse_loss, cpu, False, net)
        result["compile_epoch_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    train_epoch(model, batches, optimizer, torch.nn.functional.mse_loss, cpu, False, net, bf16=autocast)
    result["seconds"] = time.perf_counter() - start
    return result


def load(folder):
    from cgcnn.io.datasets import load_dataset

    return load_dataset(folder)


class OriginalConv:
    """Marker namespace for the original model (built in `original_model`)."""


def original_model(orig_len=92, nbr_len=41, a=64, h=128, n_conv=3):
    """The original CrystalGraphConvNet: dense (N, 12) neighbour tensors, per-crystal pooling loop."""
    import torch
    from torch import nn

    class ConvLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc_full = nn.Linear(2 * a + nbr_len, 2 * a)
            self.bn1, self.bn2 = nn.BatchNorm1d(2 * a), nn.BatchNorm1d(a)

        def forward(self, x, nbr_fea, idx):
            n, m = idx.shape
            z = torch.cat([x.unsqueeze(1).expand(n, m, a), x[idx, :], nbr_fea], dim=2)
            z = self.bn1(self.fc_full(z).view(-1, 2 * a)).view(n, m, 2 * a)
            gate, core = z.chunk(2, dim=2)
            summed = self.bn2(torch.sum(torch.sigmoid(gate) * nn.functional.softplus(core), dim=1))
            return nn.functional.softplus(x + summed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Linear(orig_len, a)
            self.convs = nn.ModuleList([ConvLayer() for _ in range(n_conv)])
            self.conv_to_fc, self.fc_out = nn.Linear(a, h), nn.Linear(h, 1)

        def forward(self, atom, nbr, idx, crystal_atom_idx):
            x = self.embedding(atom)
            for conv in self.convs:
                x = conv(x, nbr, idx)
            crys = torch.cat([torch.mean(x[i], dim=0, keepdim=True) for i in crystal_atom_idx], dim=0)
            crys = nn.functional.softplus(self.conv_to_fc(nn.functional.softplus(crys)))
            return self.fc_out(crys)

    return Net()


def train_original(folder):
    import torch

    from cgcnn.graphs.elements import default_table

    table = default_table()
    data = load(folder)
    items = [original_item(p, table) for p in data.items]
    targets = torch.tensor(data.targets, dtype=torch.float32)
    torch.manual_seed(0)
    model = original_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(0)).tolist()
    start = time.perf_counter()
    for b in range(0, len(order), 256):
        chunk = order[b : b + 256]
        atoms, nbrs, idxs, crystal_idx, base = [], [], [], [], 0
        for k in chunk:  # the original collate_pool
            atom, nbr, idx = items[k]
            atoms.append(atom), nbrs.append(nbr), idxs.append(idx + base)
            crystal_idx.append(torch.arange(base, base + len(atom)))
            base += len(atom)
        out = model(torch.cat(atoms), torch.cat(nbrs), torch.cat(idxs), crystal_idx)
        loss = torch.nn.functional.mse_loss(out, targets[chunk])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"crystals": len(items), "seconds": time.perf_counter() - start}


def featurize_all(folder, workers, cache):
    import threading

    from cgcnn.graphs.featurize import featurize

    peak, done = [0.0], threading.Event()

    # the whole process tree (this process, the fork server, the workers), summed
    sampler = threading.Thread(target=peak_while, args=(os.getpid(), done, peak), daemon=True)
    sampler.start()
    report = featurize(folder, workers=workers, cache=cache, progress=False)
    done.set()
    sampler.join()
    report["tree_peak_rss_mb"] = peak[0]
    return report


PHASES = {"featurize_ours": featurize_ours, "featurize_original": featurize_original, "train_ours": train_ours,
          "train_original": train_original, "featurize_all": featurize_all}


# ---------------------------------------------------------------- driver


def run_phase(name, *args, python=sys.executable, script=None, threads=1):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if script is None:
        command = [python, __file__, "--phase", name, "--phase-args", json.dumps(args)]
    else:
        command = [python, "-c", script, *map(str, args)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    before = _rss_mb(resource.RUSAGE_CHILDREN)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.setdefault("peak_rss_mb", before)
    result["crystals_per_s"] = result["crystals"] / result["seconds"]
    return result


def run_command(argv: list, crystals: int, work: Path) -> dict:
    """A whole `cgcnn` command in a fresh process on every core (no thread limit), its store in a fresh
    folder: wall time and the peak memory of its process tree."""
    cache, out = work / "command-cache", work / "command-out"
    for folder in (cache, out):
        shutil.rmtree(folder, ignore_errors=True)
    out.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["CGCNN_CACHE_DIR"] = str(cache)
    command = [sys.executable, "-m", "cgcnn", "--no-progress", *[a.replace("OUT", str(out)) for a in argv]]
    result = run_measured(command, env)
    result.pop("stdout")
    return {**result, "crystals": crystals, "crystals_per_s": crystals / result["seconds"],
            "tree_peak_rss_mb": result["peak_rss_mb"]}


def child_main(name, args):
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    warnings.filterwarnings("ignore")
    result = PHASES[name](*args)
    result["peak_rss_mb"] = _rss_mb()
    print(json.dumps(result))


def prepare_data(archive: Path, work: Path):
    root = work / "mp-cgcnn-37k" / "structures"
    if not root.is_dir():
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
    ids = [line.split(",")[0] for line in (root / "id_prop.csv").read_text().splitlines()]
    chosen = random.Random(0).sample(ids, N_CRYSTALS)
    subset = work / "subset-2000"
    subset.mkdir(exist_ok=True)
    props = dict(line.split(",", 1) for line in (root / "id_prop.csv").read_text().splitlines())
    for i in chosen:
        if not (subset / f"{i}.cif").exists():
            os.symlink(root / f"{i}.cif", subset / f"{i}.cif")
    (subset / "id_prop.csv").write_text("".join(f"{i},{props[i]}\n" for i in chosen))
    if not (subset / "atom_init.json").exists():  # cgcnn2 requires one; its content does not change timings
        os.symlink(ROOT / "src" / "cgcnn" / "data" / "original_atom_init.json", subset / "atom_init.json")
    return root, subset


def ensure_cgcnn2(venv: Path) -> Path | None:
    python = venv / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, "torch==2.13.0"], check=True)
            subprocess.run([*pip, "cgcnn2==0.6.0", "-c", str(ROOT / "constraints.txt")], check=True)
        except subprocess.CalledProcessError:
            print("cgcnn2 could not be installed; its rows are skipped", file=sys.stderr)
            return None
    return python


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--phase-args", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("--archive", default=str(ROOT.parent / "shared" / "data" / "mp-cgcnn-37k.tar.gz"))
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "cgcnn-benchmark"))
    parser.add_argument("--cgcnn2-venv", default=str(HERE / ".cgcnn2-venv"))
    parser.add_argument("--out", default=str(HERE / "results" / "speed.json"))
    parser.add_argument("--skip-full", action="store_true", help="skip (d), the 36,737-crystal featurisation")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; every row runs once per round, interleaved")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/speed.md")
    args = parser.parse_args()
    if args.phase:
        return child_main(args.phase, json.loads(args.phase_args))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    root, subset = prepare_data(Path(args.archive), work)
    cores = len(os.sched_getaffinity(0))
    cgcnn2 = ensure_cgcnn2(Path(args.cgcnn2_venv))
    measurements = phases(subset, root, work, cores, cgcnn2, args.skip_full)
    runs = {name: [] for name in measurements}
    for _ in range(args.repeat):  # interleaved, so that a slow spell of the machine hits every row alike
        for name, measure in measurements.items():
            runs[name].append(measure())
    rows = {name: summary(results) for name, results in runs.items()}
    report = {"machine": f"{cores} cores", "cpu": cpu_model(), "cpu_flags": cpu_flags(), "torch_threads": 1,
              "crystals": N_CRYSTALS,
              "repeat": args.repeat, "rows": rows,
              "ratios": ratios(rows, cores)}
    print_table(rows, report["ratios"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    if args.docs:
        write_docs_table(rows, args.repeat)


def cpu_flags() -> dict:
    """The flags that decide the arithmetic: native bf16 (AVX512-BF16, AMX) picks `--precision auto`'s bf16."""
    import torch

    capabilities = torch.cpu.get_capabilities()
    return {flag: bool(capabilities.get(flag)) for flag in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_f")}


def cpu_model() -> str:
    """The processor the figures were measured on (they move with it: record it beside them)."""
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or "unknown"


def phases(subset: Path, root: Path, work: Path, cores: int, cgcnn2, skip_full: bool) -> dict:
    """{row: a function that measures it once, in a fresh process}."""
    rows = {
        "featurize: cgcnn, 1 worker": lambda: run_phase("featurize_ours", str(subset), 1),
        f"featurize: cgcnn, {cores} workers": lambda: run_phase("featurize_ours", str(subset), cores),
        "featurize: original algorithm": lambda: run_phase("featurize_original", str(subset)),
        "train epoch: cgcnn": lambda: run_phase("train_ours", str(subset)),
        "train epoch: cgcnn, torch.compile (2nd epoch)": lambda: run_phase("train_ours", str(subset), False, True),
        "train epoch: cgcnn, bf16 autocast": lambda: run_phase("train_ours", str(subset), True),
        "train epoch: original model": lambda: run_phase("train_original", str(subset)),
    }
    whole = "whole process, all cores:"
    rows[f"{whole} cgcnn featurize"] = lambda: run_command(["featurize", str(subset)], N_CRYSTALS, work)
    rows[f"{whole} cgcnn featurize --workers 1"] = lambda: run_command(["featurize", str(subset), "--workers", "1"],
                                                                        N_CRYSTALS, work)
    rows[f"{whole} cgcnn predict --model formation-energy"] = lambda: run_command(
        ["predict", "--model", "formation-energy", "--out", "OUT/p.csv", str(subset)], N_CRYSTALS, work)
    rows[f"{whole} cgcnn train --epochs 5 (crystals of the data set)"] = lambda: run_command(
        ["train", str(subset), "--epochs", "5", "--out", "OUT/run"], N_CRYSTALS, work)
    if cgcnn2:
        rows["featurize: cgcnn2 0.6.0"] = lambda: run_phase("cgcnn2", subset, python=cgcnn2, script=CGCNN2_FEATURIZE)
        rows["train epoch: cgcnn2 0.6.0"] = lambda: run_phase("cgcnn2", subset, python=cgcnn2, script=CGCNN2_TRAIN)
    if not skip_full:
        cache = work / "store-cache"

        def featurize_all_fresh():
            for old in cache.glob("graphs-*"):
                old.unlink()
            return run_phase("featurize_all", str(root), 2, str(cache), threads=1)

        rows["featurize all 36,737: cgcnn, 2 workers"] = featurize_all_fresh
    return rows


def summary(results: list) -> dict:
    """The median run of a row (by crystals/s), with the range over runs."""
    rates = sorted(r["crystals_per_s"] for r in results)
    median = sorted(results, key=lambda r: r["crystals_per_s"])[len(results) // 2]
    return {**median, "runs": len(results), "crystals_per_s_range": [rates[0], rates[-1]],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}


def write_docs_table(rows: dict, repeat: int) -> None:
    """The table of docs/speed.md, replaced by this run's (between its markers)."""
    start, end = "<!-- speed table: benchmarks/speed.py --docs -->", "<!-- /speed table -->"
    lines = [start, f"| measurement (median of {repeat}, one thread unless stated) | crystals/s | range | seconds | "
             "peak RSS MB |", "|---|---:|---:|---:|---:|"]
    for name, r in rows.items():
        low, high = r["crystals_per_s_range"]
        rss = r.get("tree_peak_rss_mb") or r["peak_rss_mb"]
        lines.append(f"| {name} | {r['crystals_per_s']:.0f} | {low:.0f}–{high:.0f} | {r['seconds']:.2f} | {rss:.0f} |")
    lines.append(end)
    readme = ROOT / "docs" / "speed.md"
    text = readme.read_text()
    head, rest = text.split(start, 1) if start in text else (text, end)
    readme.write_text(head + "\n".join(lines) + rest.split(end, 1)[1])


def ratios(rows, cores) -> dict:
    def rate(name):
        return rows[name]["crystals_per_s"] if name in rows else None

    out = {}
    ours1, orig = rate("featurize: cgcnn, 1 worker"), rate("featurize: original algorithm")
    out["featurize 1 worker vs original algorithm"] = ours1 / orig
    if rate("featurize: cgcnn2 0.6.0"):
        out["featurize 1 worker vs cgcnn2"] = ours1 / rate("featurize: cgcnn2 0.6.0")
    out["train vs original model"] = rate("train epoch: cgcnn") / rate("train epoch: original model")
    out["train, compiled, vs original model"] = (rate("train epoch: cgcnn, torch.compile (2nd epoch)")
                                                 / rate("train epoch: original model"))
    out["train, bf16, vs original model"] = rate("train epoch: cgcnn, bf16 autocast") / rate("train epoch: original model")
    whole = rate("whole process, all cores: cgcnn featurize")
    if whole:
        out["featurize, whole process, all cores, vs original algorithm in-process"] = whole / orig
    if rate("train epoch: cgcnn2 0.6.0"):
        out["train vs cgcnn2"] = rate("train epoch: cgcnn") / rate("train epoch: cgcnn2 0.6.0")
    return out


def print_table(rows, ratio):
    print(f"{'measurement':45s} {'crystals/s':>11s} {'seconds':>9s} {'peak RSS MB':>12s} {'all processes':>14s}")
    for name, r in rows.items():
        worker = f"{r['tree_peak_rss_mb']:.0f}" if r.get("tree_peak_rss_mb") else ""
        low, high = r.get("crystals_per_s_range", (r["crystals_per_s"],) * 2)
        print(f"{name:45s} {r['crystals_per_s']:11.1f} {r['seconds']:9.2f} {r['peak_rss_mb']:12.0f} {worker:>14s}"
              f"   range {low:.1f}–{high:.1f}")
    for name, value in ratio.items():
        print(f"ratio {name:39s} {value:8.1f}×")


if __name__ == "__main__":
    main()
