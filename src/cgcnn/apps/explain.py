"""Per-site contributions: which atoms drive a prediction.

With linear pooling (`--pooling linear`) the prediction *is* a sum of per-site terms, so the shares are
exact. With full pooling the prediction is f(mean of atom vectors); each site then gets f(mean)/N plus the
first-order term ∇f · (its vector − the mean)/N. These shares also add up to the prediction, but how it is
split between sites is a linearisation: approximate, and labelled so in the output.
"""

from __future__ import annotations

import numpy as np
import torch

from collections.abc import Sequence

from ..config import PathLike
from ..errors import InputError
from ..graphs.batching import Batch, collate
from ..graphs.elements import require_elements
from ..graphs.graph import CrystalGraph, build_graph
from ..io.crystal import Crystal, load_crystal
from ..io.inputs import collect_structures
from ..io.write import output_file, output_folder, table_metadata, write_csv, write_table_metadata
from ..model import CrystalGraphConvNet
from ..model.calibration import interval as calibrated_interval
from .explain_views import crystal_record, write_page, write_pngs
from .pipeline import files_read_by, protect_outputs
from .predict import Predictor, load_model

EXACT, APPROXIMATE = "exact (linear pooling)", "gradient x deviation (approximate)"


def gradient_contributions(model: CrystalGraphConvNet, batch: Batch) -> torch.Tensor:
    """Full pooling: f(h̄)/N + ∇f(h̄)·(h_i − h̄)/N per site, in target units (see the module docstring)."""
    with torch.no_grad():
        atoms = model.atom_features(batch)
    index = batch.crystal_index
    counts = torch.bincount(index, minlength=batch.n_crystals).clamp(min=1).to(atoms.dtype)
    mean = (atoms.new_zeros(batch.n_crystals, atoms.shape[1]).index_add_(0, index, atoms) / counts[:, None])
    mean.requires_grad_(True)
    outputs = model.head(mean)
    shares = []
    for t in range(outputs.shape[1]):
        (grad,) = torch.autograd.grad(outputs[:, t].sum(), mean, retain_graph=True)
        linear = ((atoms - mean.detach()[index]) * grad[index]).sum(1)
        value = outputs[:, t].detach()[index]
        shares.append((value + linear) * model.target_std[t] / counts[index] + model.target_mean[t] / counts[index])
    return torch.stack(shares, dim=1)


def contributions(model: CrystalGraphConvNet, graphs: list[CrystalGraph]) -> tuple[torch.Tensor, str]:
    """(per-site contributions (N, T), method) for a list of graphs."""
    model.eval()
    batch = collate([(k, g, None) for k, g in enumerate(graphs)])
    if model.config.pooling == "linear":
        with torch.no_grad():
            return model.site_contributions(batch), EXACT
    return gradient_contributions(model, batch), APPROXIMATE


def explain_files(model_path: PathLike, inputs: Sequence[PathLike], out_path: PathLike,
                  atom_init: PathLike | None = None, recursive: bool = False, html: PathLike | None = None,
                  png: PathLike | None = None) -> dict:
    """One CSV row per site: id, site, element, fractional x y z, contribution(s), method (an ensemble's
    contributions are its members' mean). `html`: also a page that shows them (apps.explain_views);
    `png`: a folder for a picture of each crystal."""
    from pymatgen.core import Element

    dataset = collect_structures(inputs, recursive=recursive)
    read = files_read_by(inputs, dataset, model_path, atom_init)
    out_path = protect_outputs(out_path, read, with_skipped=False)  # before any work
    html = output_file(html, read, "--html") if html is not None else None
    if html is not None and html.resolve() == out_path.resolve():
        raise InputError(html, "is also --out: the page would overwrite the sites CSV (nothing was written)")
    if png is not None:
        output_folder(png, "--png", "a folder for the pictures (nothing was written)")
    predictor = load_model(model_path, atom_init or dataset.atom_init)
    model = predictor.model
    if model.config.task != "regression":
        raise InputError(model_path, "site contributions are defined for regression models")
    names = ["contribution"] + [f"contribution_{n}" for n in predictor.target_names[1:]]
    rows, records = [], []
    for crystal_id, item, source in zip(dataset.ids, dataset.items, dataset.sources):
        crystal = load_crystal(item, source)
        graph = build_graph(crystal, predictor.params, source)
        require_elements(graph.atomic_numbers.numpy(), model.element_features, source)  # else NaN shares
        # an ensemble's prediction is its members' mean, so its contributions are their mean too
        found = [contributions(member, [graph]) for member in predictor.models]
        shares, method = torch.stack([f[0].detach() for f in found]).mean(0), found[0][1]
        frac = np.linalg.solve(np.asarray(crystal.lattice).T, np.asarray(crystal.cart_coords).T).T
        elements = [Element.from_Z(int(z)).symbol for z in crystal.atomic_numbers]
        for site, (element, xyz, share) in enumerate(zip(elements, frac, shares.numpy())):
            rows.append([crystal_id, site, element, *(f"{v:.6f}" for v in xyz), *(f"{v:.6g}" for v in share),
                         method])
        if html is not None or png is not None:
            records.append(_record(predictor, crystal_id, crystal, elements, graph, shares[:, 0].numpy()))
    header = ["id", "site", "element", "frac_x", "frac_y", "frac_z", *names, "method"]
    write_csv(out_path, header, rows)
    unit = predictor.units[0]
    write_table_metadata(out_path, table_metadata(
        header, "each site's contribution to the crystal's prediction: summed over its sites they give the "
        "prediction exactly for linear pooling (method exact), to first order otherwise (method gradient); "
        "frac_x/y/z: the site's fractional coordinates", dict(zip(names, predictor.units)),
        {"site": "integer", "element": "string", "method": "string"}, model=str(model_path),
        targets=predictor.target_names))
    if html is not None:
        write_page(html, records, predictor.target_names[0], unit, str(model_path))
    pictures = write_pngs(png, records, predictor.target_names[0], unit) if png is not None else []
    return {"crystals": len(dataset.ids), "sites": len(rows), "pictures": len(pictures)}


def _record(predictor: Predictor, crystal_id: str, crystal: Crystal, elements: list[str], graph: CrystalGraph,
            shares: np.ndarray) -> dict:
    """The page's record of a crystal: its sites and contributions, prediction and (if calibrated) 90 %
    interval."""
    values, spread, vectors = predictor.predict_graphs_full([graph])
    interval, distance = None, predictor.record.distance(vectors)
    if predictor.record.calibration:
        lower, upper = calibrated_interval(predictor.record.calibration, values, spread, 0.9, distance)
        interval = (float(lower[0, 0]), float(upper[0, 0]))
    ood = predictor.record.out_of_domain([graph], vectors, distance)
    return crystal_record(crystal_id, elements, np.asarray(crystal.cart_coords), np.asarray(crystal.lattice),
                          shares, float(values[0, 0]), interval, ood is not None and bool(ood[0]))
