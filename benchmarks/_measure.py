"""Peak resident memory of a command and all its descendants, sampled from /proc."""

import os
import subprocess
import threading
import time
from pathlib import Path


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and every process below it, summed, in MiB."""
    parents, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
                rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(rss.get(pid, 0.0) for pid in tree)


def peak_while(pid: int, done: threading.Event, out: list, interval=0.1) -> None:
    while not done.wait(interval):
        out[0] = max(out[0], tree_rss_mb(pid))


def run_measured(command, env=None) -> dict:
    """Run `command`; return its wall time and the peak RSS of its process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, done = [0.0], threading.Event()
    sampler = threading.Thread(target=peak_while, args=(proc.pid, done, peak), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{err[-2000:]}")
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": peak[0], "stdout": out}
