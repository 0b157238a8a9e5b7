"""How close a training step comes to this CPU's limit, and where the rest of its time goes.

    .venv/bin/python benchmarks/roofline.py [--crystals 1024] [--steps 6]

On the embedded demo crystals (Materials Project, 1,500; no ../shared needed) or a sample of a dataset
(`--data /tmp/cgcnn-accuracy/mp37k.csv`, after `benchmarks/accuracy.py prepare`), with the default network
(Eq. 5, 3 convolutions, 64/128) and batches of 256 crystals, one thread and then every core:
- FLOPs of one training step (forward, backward), counted by torch.utils.flop_counter (matrix products
  only, the usual convention), per crystal;
- the limit: FLOP/s of the very matrix products of that step (shapes recorded while it runs), each timed
  alone with torch.mm at the same threads, in fp32 and in bf16;
- the step measured (eager, fp32 and under bf16 autocast) and its share of that limit;
- the profile of one step: self time per operator, largest first (what the rest of the time is);
- the CPU (model, bf16 and AMX flags), the subnormal setting (torch.get_flush_denormal) and the share of
  edge features (Gaussian-expanded distances) that are subnormal in fp32.
Prints a table and writes benchmarks/results/roofline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "roofline.json"
GEMMS = {torch.ops.aten.mm.default: (0, 1), torch.ops.aten.addmm.default: (1, 2), torch.ops.aten.bmm.default: (0, 1)}
TINY = torch.finfo(torch.float32).tiny  # the smallest normal float32


def cpu_flags() -> dict:
    """The processor, and whether it computes bf16 natively."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "unknown")
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
    return {"model": model, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags, "torch": torch.__version__,
            "flush_denormal": "off (torch's default: cgcnn does not call torch.set_flush_denormal)"}


class GemmShapes(TorchDispatchMode):
    """Records the (m, k, n) of every matrix product run inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, int, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in GEMMS:
            a, b = (args[i] for i in GEMMS[func])
            self.shapes.append((a.shape[-2], a.shape[-1], b.shape[-1]))
        return func(*args, **(kwargs or {}))


def setup(data_path: str | None, n_crystals: int, batch_size: int):
    """(model, optimiser, batches) on `n_crystals` of a dataset (a seeded sample; default: the demo crystals),
    as training builds them."""
    import random

    from importlib import resources

    from cgcnn.apps.demo import DEMO_DATA
    from cgcnn.config import GraphConfig, ModelConfig
    from cgcnn.graphs.batching import GraphDataset, loader
    from cgcnn.graphs.elements import default_table, table_to_tensor
    from cgcnn.graphs.featurize import build_graphs
    from cgcnn.io.datasets import load_dataset
    from cgcnn.model import CrystalGraphConvNet

    if data_path is None:
        with resources.as_file(resources.files("cgcnn") / "data" / DEMO_DATA) as path:
            data = load_dataset(path)
    else:
        data = load_dataset(data_path, structure_column="structure" if data_path.endswith(".csv") else None)
    chosen = sorted(random.Random(0).sample(range(len(data.ids)), min(n_crystals, len(data.ids))))
    graphs = build_graphs([data.items[k] for k in chosen], [data.sources[k] for k in chosen], GraphConfig(), 1,
                          progress=False)
    targets = torch.tensor(data.targets[chosen][:, :1], dtype=torch.float32)
    torch.manual_seed(0)
    model = CrystalGraphConvNet(ModelConfig(), table_to_tensor(default_table()))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batches = list(loader(GraphDataset(graphs, targets), batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(0)))
    return model, optimizer, batches


def step(model, optimizer, batch, bf16: bool = False) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        outputs = model(batch)
    loss = torch.nn.functional.mse_loss(outputs.float(), batch.targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def counted_flops(model, optimizer, batch) -> tuple[int, list]:
    """FLOPs of one step and the shapes of its matrix products."""
    shapes = GemmShapes()
    with FlopCounterMode(display=False) as counter, shapes:
        step(model, optimizer, batch)
    return counter.get_total_flops(), shapes.shapes


def gemm_limit(shapes: list, dtype: torch.dtype, repeat: int = 15) -> float:
    """FLOP/s of the step's matrix products, each run alone (the fastest of `repeat` timings: a limit)."""
    flops, seconds = 0.0, 0.0
    for (m, k, n), count in _counted(shapes).items():
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        torch.mm(a, b)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        flops += 2.0 * m * k * n * count
        seconds += min(times) * count
    return flops / seconds


def _counted(shapes: list) -> dict:
    found: dict = defaultdict(int)
    for s in shapes:
        found[s] += 1
    return found


def timed_steps(model, optimizer, batches, steps: int, bf16: bool) -> float:
    """Crystals per second of the median step of `steps`, after one warm-up step."""
    step(model, optimizer, batches[0], bf16)
    rates = []
    for k in range(steps):
        batch = batches[k % len(batches)]
        start = time.perf_counter()
        step(model, optimizer, batch, bf16)
        rates.append(batch.n_crystals / (time.perf_counter() - start))
    return statistics.median(rates)


def profile(model, optimizer, batch, top: int = 10) -> list:
    """[(operator, share of the step's self CPU time)] of one fp32 step, largest first."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step(model, optimizer, batch)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    return [(e.key, round(e.self_cpu_time_total / total, 3)) for e in ranked]


def subnormal_share(model, batch) -> dict:
    """The share of subnormal edge features: the Gaussian formula's, and the network's (which cuts them)."""
    expansion = model.expansion
    with torch.no_grad():
        formula = torch.exp(-((batch.distances[:, None] - expansion.centers) ** 2) / expansion.width ** 2)
        ours = expansion(batch.distances)
    return {name: float(((x != 0) & (x.abs() < TINY)).float().mean()) for name, x in
            (("formula", formula), ("cgcnn", ours))}


def measure(threads: int, model, optimizer, batches, steps: int, flops_per_crystal: float, shapes: list) -> dict:
    torch.set_num_threads(threads)
    row = {"threads": threads}
    for name, dtype, bf16 in (("fp32", torch.float32, False), ("bf16", torch.bfloat16, True)):
        rate = timed_steps(model, optimizer, batches, steps, bf16)
        limit = gemm_limit(shapes, dtype)
        row[name] = {"crystals_per_s": round(rate, 1), "gemm_limit_gflops": round(limit / 1e9, 2),
                     "limit_crystals_per_s": round(limit / flops_per_crystal, 1),
                     "share_of_limit": round(rate * flops_per_crystal / limit, 4)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a dataset (folder or table with a structure column); default: the demo's")
    parser.add_argument("--crystals", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    model, optimizer, batches = setup(args.data, args.crystals, args.batch_size)
    flops, shapes = counted_flops(model, optimizer, batches[0])
    per_crystal = flops / batches[0].n_crystals
    atoms = sum(int(b.atomic_numbers.shape[0]) for b in batches) / sum(b.n_crystals for b in batches)
    where = args.data or "the demo's (Materials Project)"
    report = {"cpu": cpu_flags(), "data": f"{sum(b.n_crystals for b in batches)} crystals of {where}, "
              f"{atoms:.1f} atoms each on average, batches of {args.batch_size}", "network": "ModelConfig() default",
              "mflop_per_crystal_step": round(per_crystal / 1e6, 2), "gemm_shapes": sorted(_counted(shapes).items()),
              "edge_features_subnormal": subnormal_share(model, batches[0]),
              "rows": [measure(t, model, optimizer, batches, args.steps, per_crystal, shapes)
                       for t in sorted({1, os.cpu_count() or 1})]}
    torch.set_num_threads(1)
    report["profile_fp32_1_thread"] = profile(model, optimizer, batches[0])
    report["gemm_shapes"] = [[list(s), c] for s, c in report["gemm_shapes"]]
    print_report(report)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"written to {args.out}")


def print_report(report: dict) -> None:
    cpu = report["cpu"]
    print(f"CPU {cpu['model']} ({cpu['cores']} cores; avx512_bf16 {cpu['avx512_bf16']}, amx {cpu['amx_bf16']}; "
          f"flush_denormal {cpu['flush_denormal']}); torch {cpu['torch']}")
    print(f"{report['data']}; {report['mflop_per_crystal_step']} MFLOP per crystal per training step; "
          f"edge features subnormal: {report['edge_features_subnormal']['formula']:.1%} by the Gaussian formula, "
          f"{report['edge_features_subnormal']['cgcnn']:.1%} in cgcnn")
    print(f"{'threads':>7} {'precision':>9} {'crystals/s':>10} {'GEMM GFLOP/s':>12} {'limit/s':>8} {'share':>6}")
    for row in report["rows"]:
        for name in ("fp32", "bf16"):
            r = row[name]
            print(f"{row['threads']:>7} {name:>9} {r['crystals_per_s']:>10} {r['gemm_limit_gflops']:>12} "
                  f"{r['limit_crystals_per_s']:>8} {r['share_of_limit']:>6.1%}")
    print("one fp32 step, 1 thread, self time by operator:")
    for name, share in report["profile_fp32_1_thread"]:
        print(f"  {share:6.1%}  {name}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
