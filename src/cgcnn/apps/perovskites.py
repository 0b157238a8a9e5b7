"""ABX3 cubic perovskites: A/B/X site roles, per-element site maps, candidate generation and a
screening-rule enrichment measure (the paper's Fig. 3 and Table S5 workflow)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..config import PathLike
from ..errors import CgcnnError, InputError

if TYPE_CHECKING:
    from pymatgen.core import Structure

ANIONS = ("O", "N", "S", "F")
ANION_MIXTURES = ("O3", "O2N", "ON2", "N3", "O2F", "ONF", "O2S")  # the X-site sets of Castelli's data
LatticeGuess = Callable[[str, str, str], "float | None"]  # (A, B, X set) → lattice constant or None
PER_CELL = "eV/cell"  # the unit screen's models predict: energy of the 5-atom cell
STABLE_BELOW = 0.2  # eV/atom: Castelli's heat-of-formation criterion for a stable perovskite


def site_roles(symbols: Sequence[str], frac_coords: ArrayLike, lattice: ArrayLike) -> list[str]:
    """'X' for anion sites; of the two cations, 'B' is the one nearest an anion (octahedral), 'A' the other."""
    frac = np.asarray(frac_coords, float)
    anions = [k for k, s in enumerate(symbols) if s in ANIONS]
    cations = [k for k in range(len(symbols)) if k not in anions]
    if len(cations) != 2 or len(anions) != 3:
        raise ValueError(f"not an ABX3 cell: {''.join(symbols)}")

    def nearest_anion(k: int) -> float:
        delta = frac[anions] - frac[k]
        delta -= np.round(delta)  # minimum image (the cells are cubic)
        return np.linalg.norm(delta @ np.asarray(lattice), axis=1).min()

    b = min(cations, key=nearest_anion)
    return ["X" if k in anions else "B" if k == b else "A" for k in range(len(symbols))]


def site_maps(rows: Iterable[dict]) -> dict:
    """{'A': {element: (mean contribution, count)}, 'B': {...}} from explain rows with a 'role' key."""
    values: dict[str, defaultdict[str, list[float]]] = {"A": defaultdict(list), "B": defaultdict(list)}
    for row in rows:
        if row["role"] in values:
            values[row["role"]][row["element"]].append(float(row["contribution"]))
    return {role: {el: (float(np.mean(v)), len(v)) for el, v in per.items()} for role, per in values.items()}


def anion_sites(mixture: str) -> list:
    """'O2N' → ['O', 'O', 'N']."""
    from pymatgen.core import Composition

    composition = Composition(mixture)
    return sorted(sum(([el.symbol] * int(composition[el]) for el in composition), []))


def cubic_cell(a_element: str, b_element: str, anions: list, lattice_constant: float | None = None) -> Structure:
    """Pm-3m ABX3: A at the corner, B at the body centre, X on the face centres. Without a lattice
    constant, a = 2 (r_B + r_X) with pymatgen's atomic radii (the B–X bond spans half the cell)."""
    from pymatgen.core import Element, Lattice, Structure

    if lattice_constant is None:
        r_x = np.mean([Element(x).atomic_radius for x in anions])
        r_b = Element(b_element).atomic_radius
        lattice_constant = 2 * (float(r_b) + float(r_x))  # type: ignore[arg-type]
    coords: list[list[float]] = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    species: list[str] = [a_element, b_element, *anions]
    return Structure(Lattice.cubic(lattice_constant), species, coords)


def candidates(a_elements: Iterable[str], b_elements: Iterable[str], mixtures: Iterable[str] = ANION_MIXTURES,
               exclude: Iterable[str] = (), lattice_constant: LatticeGuess | None = None) -> Iterator[tuple]:
    """(id, formula, A, B, X, Structure) for every combination not in `exclude` (reduced formulas);
    `lattice_constant(a, b, x)` gives the cell size (None: estimate from atomic radii)."""
    from pymatgen.core import Composition

    excluded = {Composition(f).reduced_formula for f in exclude}
    for a, b, x in itertools.product(a_elements, b_elements, mixtures):
        if a == b:
            continue
        formula = Composition(f"{a}{b}{x}").reduced_formula
        if formula in excluded:
            continue
        size = lattice_constant(a, b, x) if lattice_constant else None
        yield f"{a}{b}{x}", formula, a, b, x, cubic_cell(a, b, anion_sites(x), size)


def enrichment(a_sites: Sequence[str], b_sites: Sequence[str], stable: ArrayLike,
               rule: Callable[[str, str], bool]) -> dict:
    """How much more often a rule picks stable perovskites than picking at random.

    a_sites, b_sites: element of each labelled crystal on A and B; stable: booleans; rule(a, b) → bool."""
    stable = np.asarray(stable, bool)
    chosen = np.array([rule(a, b) for a, b in zip(a_sites, b_sites)])
    base = stable.mean()
    hit = stable[chosen].mean() if chosen.any() else float("nan")
    return {"chosen": int(chosen.sum()), "stable_among_chosen": float(hit), "stable_overall": float(base),
            "enrichment": float(hit / base) if base > 0 else float("nan")}


def group_rule(a_groups: Sequence[int] = (13, 14, 15),
               b_groups: Sequence[int] = (4, 5, 6)) -> Callable[[str, str], bool]:
    """The paper's design rule: A from groups 13–15, B from groups 4–6."""
    from pymatgen.core import Element

    return lambda a, b: Element(a).group in a_groups and Element(b).group in b_groups


def element_symbols(option: str, symbols: Iterable[str]) -> list[str]:
    """The symbols, each checked to be an element's (as written: Sr, not sr), or one error naming it."""
    from pymatgen.core import Element

    checked = []
    for symbol in symbols:
        if not Element.is_valid_symbol(symbol):
            hint = f" (did you mean {symbol.capitalize()!r}?)" if Element.is_valid_symbol(symbol.capitalize()) else ""
            raise CgcnnError(f"{option}: {symbol!r} is not an element symbol{hint}")
        checked.append(symbol)
    return checked


def screen(model_path: PathLike, a_elements: Iterable[str], b_elements: Iterable[str],
           mixtures: Iterable[str] = ANION_MIXTURES, out_path: PathLike | None = None, exclude: Iterable[str] = (),
           lattice_constant: LatticeGuess | None = None) -> list:
    """Predict every candidate ABX3 and rank them, most stable (lowest formation energy) first.

    The model's target is taken per cell (5 atoms), as Castelli's heat_all; `stable` marks candidates
    predicted below STABLE_BELOW eV/atom. Written to `out_path` (CSV) when given. An ensemble model adds
    its members' standard deviation (eV/cell) before `stable`."""
    from ..io.write import output_file, table_metadata, write_csv, write_table_metadata
    from ..model.catalogue import resolve_model
    from .predict import load_model

    a_elements, b_elements = element_symbols("--a", a_elements), element_symbols("--b", b_elements)
    if out_path is not None:
        out_path = output_file(out_path, [resolve_model(model_path)])
    predictor = load_model(model_path)
    if predictor.units[0] != PER_CELL or predictor.is_classifier:
        what = f"{predictor.target_names[0]} [{predictor.units[0] or 'unit unknown'}]"
        raise InputError(model_path, f"predicts {what}; screen ranks by the heat of formation of the 5-atom ABX3 "
                         f"cell in {PER_CELL} (Castelli's heat_all), so it needs a model of that target, trained "
                         "as in docs/perovskites.md")
    found = list(candidates(a_elements, b_elements, mixtures, exclude, lattice_constant))
    if not found:
        return []
    values, spread = (v[:, 0] for v in predictor.predict_spread([c[-1] for c in found]))
    ranked = sorted(zip(found, values, spread), key=lambda row: row[1])
    spread_column = ["std"] if predictor.is_ensemble else []
    rows = [[rank + 1, cid, formula, a, b, x, f"{s.lattice.a:.3f}", f"{v:.4f}", f"{v / 5:.4f}",
             *([f"{sd:.4f}"] if spread_column else []), int(v / 5 < STABLE_BELOW)]
            for rank, ((cid, formula, a, b, x, s), v, sd) in enumerate(ranked)]
    if out_path is not None:
        header = ["rank", "id", "formula", "A", "B", "X", "lattice_a", "prediction", "prediction_per_atom",
                  *spread_column, "stable"]
        write_csv(out_path, header, rows)
        write_table_metadata(out_path, table_metadata(
            header, f"ABX3 candidates ranked by predicted {predictor.target_names[0]} (prediction, per 5-atom cell; "
            f"prediction_per_atom = prediction / 5); stable = 1 where prediction_per_atom < {STABLE_BELOW} eV/atom; "
            "lattice_a: the cubic cell's edge used (Å)",
            {"prediction": PER_CELL, "std": PER_CELL, "prediction_per_atom": "eV/atom", "lattice_a": "Å"},
            {"rank": "integer", "formula": "string", "A": "string", "B": "string", "X": "string",
             "stable": "integer"}, model=str(model_path), stable_below_eV_per_atom=STABLE_BELOW))
    return rows


def lattice_constants_from(known: Iterable[tuple[str, str, str, float]]) -> LatticeGuess:
    """A lattice-constant guess from known cells [(A, B, X, a)]: the median over cells with the same B and
    X set, else the same B, else the atomic-radius estimate."""
    by_bx, by_b = defaultdict(list), defaultdict(list)
    for _, b, x, a in known:
        by_bx[b, x].append(a)
        by_b[b].append(a)

    def guess(a_element: str, b_element: str, x: str) -> float | None:
        seen = by_bx.get((b_element, x)) or by_b.get(b_element)
        return float(np.median(seen)) if seen else None

    return guess
