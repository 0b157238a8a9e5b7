"""Trained models shipped with the package, loadable by name (`cgcnn predict --model formation-energy`).

Each is a model or ensemble file in cgcnn/data/models/, described in models.json there: its target and
unit, the data it was trained on and their licence, the command that trained it and its test metrics."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

from ..config import PathLike
from ..errors import InputError
from .files import BEST, CHECKPOINT, ENSEMBLE

CATALOGUE = "models.json"
log = logging.getLogger(__name__)


def _folder():
    return resources.files("cgcnn") / "data" / "models"


# Units of the targets of this project's data and shipped models, by target name (a model file stores its
# target names; a shipped model's entry in models.json says its unit too)
TARGET_UNITS = {"formation_energy_per_atom": "eV/atom", "band_gap": "eV", "fermi_energy": "eV",
                "log10_K_VRH": "log10(GPa)", "log10_G_VRH": "log10(GPa)", "is_metal": "P(metal)",
                "heat_all": "eV/cell", "last_phdos_peak": "cm^-1", "n": "1", "poisson_ratio": "1"}


def target_units(model: PathLike, target_names: list[str]) -> list[str | None]:
    """The unit of each target, where it is known: a shipped model's catalogue entry, else TARGET_UNITS."""
    entry = shipped_models().get(str(model)) if not Path(model).exists() else None
    return [entry["unit"] if entry and k == 0 else TARGET_UNITS.get(name) for k, name in enumerate(target_names)]


def shipped_models() -> dict:
    """{name: description} of every shipped model."""
    catalogue = _folder() / CATALOGUE
    return json.loads(catalogue.read_text()) if catalogue.is_file() else {}


def resolve_model(name_or_path: PathLike) -> Path:
    """A model file path: the path itself if it exists, else the shipped model of that name. A training
    run folder, or its checkpoint.pt (the state for --resume), stands for the run's model: ensemble.pt,
    else best.pt."""
    path = Path(name_or_path)
    if path.is_dir() or (path.name == CHECKPOINT and path.is_file()):
        folder = path if path.is_dir() else path.parent
        found = next((folder / name for name in (ENSEMBLE, BEST) if (folder / name).is_file()), None)
        if found is None:
            raise InputError(path, f"is not a model file, and its run folder holds no {BEST} or {ENSEMBLE}")
        log.info("model of the run %s: %s", folder, found)
        return found
    if path.exists():
        return path
    models = shipped_models()
    if str(name_or_path) in models:
        return Path(str(_folder() / models[str(name_or_path)]["file"]))
    import difflib

    close = difflib.get_close_matches(str(name_or_path).lower().replace("_", "-"), list(models), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    names = ", ".join(sorted(models)) or "none"
    raise InputError(path, f"no such model file, nor a shipped model name ({hint}shipped: {names})")
