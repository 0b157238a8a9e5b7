"""Pictures of site contributions: one self-contained HTML page for a run of `cgcnn explain`, and a PNG per
crystal for papers.

The page needs no network: the crystals are drawn as SVG by a few lines of JavaScript written here (drag a
crystal to turn it), each atom coloured on a diverging scale (blue below zero, red above, white at zero; one
scale for the page, shown as a legend), with a tooltip naming the element, the site and its contribution;
each crystal's prediction (and interval, where the model is calibrated) heads it, and a table of every
site sorts by any column. PNGs use ASE's matplotlib renderer with the same colours.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import PathLike
from ..io.write import atomic_path, ensure_folder, write_text


def crystal_record(crystal_id: str, elements: Sequence[str], cartesian: np.ndarray, lattice: np.ndarray,
                   contributions: np.ndarray, prediction: float, interval: tuple[float, float] | None,
                   ood: bool = False) -> dict:
    """What the page shows of one crystal (the first target's contributions)."""
    return {"id": str(crystal_id), "elements": list(elements), "xyz": np.round(cartesian, 4).tolist(),
            "cell": np.round(lattice, 4).tolist(), "contributions": [float(c) for c in contributions],
            "prediction": float(prediction), "interval": _finite_pair(interval), "ood": bool(ood)}


def _finite_pair(interval: tuple[float, float] | None) -> list | None:
    """The interval as JSON allows it: an unbounded end (too few validation crystals for the level) is null."""
    if not interval:
        return None
    return [float(v) if np.isfinite(v) else None for v in interval]


def write_page(path: PathLike, records: list[dict], target: str, unit: str | None, model: str) -> None:
    """The HTML page of these crystals, written whole or not at all."""
    data = json.dumps({"crystals": records, "target": target, "unit": unit or "", "model": model}, allow_nan=False)
    # every <, > and & as a JSON escape: no id can close the script element or open a comment in it
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = PAGE.replace("__TITLE__", html.escape(f"{target} site contributions ({model})"))
    write_text(path, page.replace("__DATA__", data))


def colour(value: float, scale: float) -> tuple[float, float, float]:
    """The diverging colour of a contribution (also the page's, in JavaScript)."""
    t = max(-1.0, min(1.0, value / scale)) if scale > 0 else 0.0
    return (1.0, 1 - t, 1 - t) if t >= 0 else (1 + t, 1 + t, 1.0)


def png_name(crystal_id: str) -> str:
    """A file name for an id that may hold path separators or other characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", crystal_id).strip("._") or "crystal"


def unique_names(names: list[str]) -> list[str]:
    """Names made unique case-insensitively (ids that map to one file name get -2, -3, ...), so that no
    picture overwrites another, on case-insensitive file systems too."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        out.append(name if seen[key] == 1 else f"{name}-{seen[key]}")
    return out


def write_pngs(folder: PathLike, records: list[dict], target: str, unit: str | None) -> list[Path]:
    """One picture per crystal: its atoms coloured by contribution, with a colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ase import Atoms
    from ase.visualize.plot import plot_atoms
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    folder = Path(folder)
    ensure_folder(folder)
    scale = page_scale(records)
    cmap = LinearSegmentedColormap.from_list("contribution", [(0, 0, 1), (1, 1, 1), (1, 0, 0)])
    written: list[Path] = []
    names = unique_names([png_name(record["id"]) for record in records])
    for record, name in zip(records, names):
        atoms = Atoms(record["elements"], positions=record["xyz"], cell=record["cell"], pbc=True)
        fig, ax = plt.subplots(figsize=(4.2, 3.6))
        colours = [colour(c, scale) for c in record["contributions"]]
        plot_atoms(atoms, ax, rotation="10x,20y,0z", colors=colours, radii=0.5)
        ax.set_axis_off()
        ax.set_title(f"{record['id']}: {record['prediction']:.4g} {unit or ''}", fontsize=9)
        bar = fig.colorbar(plt.cm.ScalarMappable(Normalize(-scale, scale), cmap), ax=ax, shrink=0.8)
        bar.set_label(f"{target} contribution" + (f" ({unit})" if unit else ""), fontsize=8)
        path = folder / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
        plt.close(fig)
        written.append(path)
    return written


def page_scale(records: list[dict]) -> float:
    """The colour scale's end: the largest |contribution| on the page (one scale for all crystals)."""
    values = [abs(c) for r in records for c in r["contributions"]]
    return max(values) if values and max(values) > 0 else 1.0


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
.crystals{display:flex;flex-wrap:wrap;gap:1em}
.crystal{border:1px solid #ccc;border-radius:6px;padding:.5em}
.crystal h2{font-size:14px;margin:.2em 0}
svg.view{cursor:grab;background:#fafafa}
#legend{display:flex;align-items:center;gap:.5em;margin:1em 0}
#legend .bar{width:240px;height:14px;background:linear-gradient(90deg,#00f,#fff,#f00);border:1px solid #999}
table{border-collapse:collapse;margin-top:1em}
th,td{border:1px solid #ddd;padding:2px 8px;text-align:right}
th{cursor:pointer;background:#f0f0f0}
#tip{position:fixed;pointer-events:none;background:#333;color:#fff;padding:3px 6px;border-radius:3px;display:none}
</style></head><body>
<h1 id="title"></h1>
<div id="legend"><span id="low"></span><div class="bar"></div><span id="high"></span><span id="unit"></span></div>
<div class="crystals" id="crystals"></div>
<table id="sites"><thead><tr></tr></thead><tbody></tbody></table>
<div id="tip"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg";
const scale = Math.max(1e-12, ...data.crystals.flatMap(c => c.contributions.map(Math.abs)));
const fmt = v => Number(v).toPrecision(4);
function colour(v) {
  const t = Math.max(-1, Math.min(1, v / scale));
  const c = x => Math.round(255 * x);
  return t >= 0 ? `rgb(255,${c(1 - t)},${c(1 - t)})` : `rgb(${c(1 + t)},${c(1 + t)},255)`;
}
// a label readable on its atom: white on strong colours (dark blue, deep red), black on pale ones
const ink = v => Math.abs(v / scale) > 0.55 ? "#fff" : "#000";
document.getElementById("title").textContent = `${data.target}: contributions of each site (${data.model})`;
document.getElementById("low").textContent = fmt(-scale);
document.getElementById("high").textContent = fmt(scale);
document.getElementById("unit").textContent = data.unit;
const tip = document.getElementById("tip");
function rotate(p, a, b) {
  const [x, y, z] = p, ca = Math.cos(a), sa = Math.sin(a), cb = Math.cos(b), sb = Math.sin(b);
  const x1 = ca * x + sa * z, z1 = -sa * x + ca * z;
  return [x1, cb * y - sb * z1, sb * y + cb * z1];
}
function draw(svg, crystal, angles) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const [a, b, c] = crystal.cell;
  const centre = [0, 1, 2].map(k => (a[k] + b[k] + c[k]) / 2);
  const shift = p => p.map((v, k) => v - centre[k]);
  const corners = [];
  for (const i of [0, 1]) for (const j of [0, 1]) for (const k of [0, 1])
    corners.push([0, 1, 2].map(d => i * a[d] + j * b[d] + k * c[d]));
  const pts = crystal.xyz.map(p => rotate(shift(p), angles[0], angles[1]));
  const box = corners.map(p => rotate(shift(p), angles[0], angles[1]));
  const extent = Math.max(1, ...box.concat(pts).map(p => Math.max(Math.abs(p[0]), Math.abs(p[1]))));
  // atoms are drawn 0.45 Å in radius: the scale leaves room for them at the edges
  const size = 260, s = (size / 2 - 4) / (extent + 0.5), X = p => size / 2 + s * p[0], Y = p => size / 2 - s * p[1];
  for (let i = 0; i < 8; i++) for (let j = i + 1; j < 8; j++) {
    if ([1, 2, 4].includes(i ^ j)) {
      const line = document.createElementNS(NS, "line");
      line.setAttribute("x1", X(box[i])); line.setAttribute("y1", Y(box[i]));
      line.setAttribute("x2", X(box[j])); line.setAttribute("y2", Y(box[j]));
      line.setAttribute("stroke", "#999"); svg.appendChild(line);
    }
  }
  const order = pts.map((p, k) => k).sort((i, j) => pts[i][2] - pts[j][2]);  // far atoms first
  for (const k of order) {
    const atom = document.createElementNS(NS, "circle");
    atom.setAttribute("cx", X(pts[k])); atom.setAttribute("cy", Y(pts[k]));
    atom.setAttribute("r", 0.45 * s); atom.setAttribute("fill", colour(crystal.contributions[k]));
    atom.setAttribute("stroke", "#333"); atom.setAttribute("class", "atom");
    const text = `${crystal.elements[k]} (site ${k}): ${fmt(crystal.contributions[k])} ${data.unit}`;
    const title = document.createElementNS(NS, "title"); title.textContent = text; atom.appendChild(title);
    atom.addEventListener("mousemove", e => { tip.textContent = text; tip.style.display = "block";
      tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 12) + "px"; });
    atom.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    svg.appendChild(atom);
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", X(pts[k])); label.setAttribute("y", Y(pts[k]) + 4); label.textContent = crystal.elements[k];
    label.setAttribute("text-anchor", "middle"); label.setAttribute("font-size", Math.min(12, 0.4 * s));
    label.setAttribute("pointer-events", "none"); label.setAttribute("fill", ink(crystal.contributions[k]));
    svg.appendChild(label);
  }
}
for (const crystal of data.crystals) {
  const box = document.createElement("div"); box.className = "crystal";
  const head = document.createElement("h2");
  const end = (v, inf) => v === null ? inf : fmt(v);  // null: unbounded (too few calibration crystals)
  const range = crystal.interval ? `, 90 % interval [${end(crystal.interval[0], "−∞")}, ${end(crystal.interval[1], "∞")}]` : "";
  const flag = crystal.ood ? " — ood: unlike the training crystals" : "";
  head.textContent = `${crystal.id}: ${fmt(crystal.prediction)} ${data.unit}${range}${flag}`;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", 260); svg.setAttribute("height", 260); svg.setAttribute("class", "view");
  const angles = [0.5, 0.35];
  let drag = null;
  svg.addEventListener("mousedown", e => { drag = [e.clientX, e.clientY]; });
  window.addEventListener("mouseup", () => { drag = null; });
  svg.addEventListener("mousemove", e => { if (!drag) return;
    angles[0] += (e.clientX - drag[0]) / 80; angles[1] += (e.clientY - drag[1]) / 80;
    drag = [e.clientX, e.clientY]; draw(svg, crystal, angles); });
  box.appendChild(head); box.appendChild(svg);
  document.getElementById("crystals").appendChild(box);
  draw(svg, crystal, angles);
}
const rows = data.crystals.flatMap(c => c.elements.map((e, k) => [c.id, k, e, c.contributions[k]]));
const columns = ["id", "site", "element", `contribution (${data.unit})`];
const headRow = document.querySelector("#sites thead tr"), body = document.querySelector("#sites tbody");
let sortBy = 3, descending = true;
function fill() {
  rows.sort((p, q) => (p[sortBy] < q[sortBy] ? -1 : p[sortBy] > q[sortBy] ? 1 : 0) * (descending ? -1 : 1));
  body.innerHTML = "";
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const [k, v] of r.entries()) { const td = document.createElement("td");
      td.textContent = k === 3 ? fmt(v) : v; if (k === 3) td.style.background = colour(v); tr.appendChild(td); }
    body.appendChild(tr);
  }
}
columns.forEach((name, k) => { const th = document.createElement("th"); th.textContent = name;
  th.addEventListener("click", () => { descending = sortBy === k ? !descending : false; sortBy = k; fill(); });
  headRow.appendChild(th); });
fill();
</script></body></html>
"""
