"""Files in and out: structures and datasets read (pymatgen, ASE, gemmi), files written whole or not at all.

formats (one row per file format) → structures (one crystal) → datasets (labelled) → inputs (what a
prediction is given); streams lists the structures of a file of many; write protects outputs."""

from .datasets import load_dataset
from .inputs import collect_structures
from .structures import read_structures

__all__ = ["collect_structures", "load_dataset", "read_structures"]
