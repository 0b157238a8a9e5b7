"""Element feature tables: one feature vector per atomic number.

The default table repeats the original CGCNN encoding (9 properties, one-hot over fixed bins, 92 dims) but
is generated from `mendeleev`, a maintained element database, instead of being copied. Regenerate the
shipped file with `python -m cgcnn.graphs.elements`; the table travels inside every model file, so predictions
never depend on the installed library version.
"""

from __future__ import annotations

import json
import logging
import math
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
import torch

from ..config import PathLike
from ..errors import InputError

log = logging.getLogger(__name__)
DEFAULT_TABLE = "element_features.json"
MAX_Z = 100

# (name, number of bins, low, high, log scale); categorical properties use low=1/0 and width 1.
BINS = [
    ("group", 19, 0, 19, False),  # 0 = lanthanide/actinide (no group), 1..18
    ("period", 7, 1, 8, False),
    ("electronegativity", 10, 0.5, 4.0, False),  # Pauling
    ("covalent_radius", 10, 25.0, 250.0, False),  # pm, Pyykkö single-bond radii
    ("valence_electrons", 12, 1, 13, False),
    ("first_ionization_energy", 10, 1.3, 3.3, True),  # ln(eV)
    ("electron_affinity", 10, -3.0, 3.7, False),  # eV
    ("block", 4, 0, 4, False),  # s p d f
    ("atomic_volume", 10, 1.5, 4.3, True),  # ln(cm³/mol)
]
FEATURE_LENGTH = sum(b[1] for b in BINS)


def _one_hot(value, n_bins, low, high, log):
    """One-hot of `value` in n_bins equal bins over [low, high); zeros when missing or out of range."""
    out = [0] * n_bins
    if value is None or (log and value <= 0):
        return out
    value = math.log(value) if log else value
    k = math.floor((value - low) / (high - low) * n_bins)
    if 0 <= k < n_bins:
        out[k] = 1
    return out


def _properties(el) -> list:
    block = "spdf".index(el.block) if el.block in "spdf" else None
    return [
        el.group_id or 0,
        el.period,
        el.en_pauling,
        el.covalent_radius_pyykko,
        el.nvalence(),
        el.ionenergies.get(1),
        el.electron_affinity,
        block,
        el.atomic_volume,
    ]


def generate_default_table(max_z: int = MAX_Z) -> dict:
    """Build the 92-dim one-hot table from mendeleev (needs the optional `mendeleev` package)."""
    from mendeleev import element

    table: dict[int, list[int]] = {}
    for z in range(1, max_z + 1):
        values = _properties(element(z))
        table[z] = sum((_one_hot(v, *spec[1:]) for v, spec in zip(values, BINS)), [])
    return table


def load_table_file(path: PathLike) -> dict:
    """An original-style atom_init.json: {"Z": [features...]} with equal-length rows."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        table = {int(k): [float(x) for x in v] for k, v in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(path, f"not a valid element table ({type(exc).__name__}: {exc})") from None
    lengths = {len(v) for v in table.values()}
    if not table or len(lengths) != 1:
        raise InputError(path, "element table rows must be non-empty lists of equal length")
    return table


def default_table() -> dict:
    with resources.as_file(resources.files("cgcnn") / "data" / DEFAULT_TABLE) as path:
        return load_table_file(path)


def table_to_tensor(table: dict) -> torch.Tensor:
    """Dense (max Z + 1, F) tensor; rows of elements absent from the table are NaN (caught on lookup)."""
    width = len(next(iter(table.values())))
    dense = torch.full((max(table) + 1, width), float("nan"))
    for z, row in table.items():
        dense[z] = torch.tensor(row, dtype=torch.float32)
    return dense


def missing_elements(atomic_numbers: ArrayLike, features: torch.Tensor) -> list[int]:
    """Atomic numbers that have no row in `features`."""
    known = ~torch.isnan(features[:, 0])
    return sorted({int(z) for z in np.unique(atomic_numbers) if z >= len(known) or not known[z]})


def require_elements(atomic_numbers: ArrayLike, features: torch.Tensor, source: PathLike,
                     skip_bad: bool = False) -> InputError | None:
    """The one check that a crystal's elements all have a row in the feature table (else the model would
    see NaN): raises naming `source`, or with skip_bad returns the error for the caller to list; None if fine."""
    missing = missing_elements(atomic_numbers, features)
    if not missing:
        return None
    error = InputError(source, f"element(s) with Z={missing} are not in the element feature table")
    if not skip_bad:
        raise error
    return error


def element_table_for(data_table: PathLike | None = None, atom_init: PathLike | None = None) -> torch.Tensor:
    """The element table a run uses: `atom_init` if given, else the data's own atom_init.json, else the
    built-in table."""
    path = atom_init or data_table
    if path is not None:
        log.info("element features from %s", path)
        return table_to_tensor(load_table_file(path))
    return table_to_tensor(default_table())


def _write_default(path: Path) -> None:
    from ..io.write import write_text

    table = generate_default_table()
    write_text(path, json.dumps({str(z): row for z, row in table.items()}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    _write_default(Path(__file__).parent.parent / "data" / DEFAULT_TABLE)
