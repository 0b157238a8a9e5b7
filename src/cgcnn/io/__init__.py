"""Files in and out: structures and datasets read (pymatgen, ASE, gemmi), files written whole or not at all."""

from .structures import collect_structures, load_dataset, read_structures

__all__ = ["collect_structures", "load_dataset", "read_structures"]
