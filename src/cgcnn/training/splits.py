"""Train/validation/test splits: seeded from ratios or sizes, or read from a file of ids."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from pathlib import Path

import torch

from ..config import PathLike
from ..errors import CgcnnError, InputError


def split_sizes(n: int, split: Sequence[float]) -> tuple[int, int, int]:
    """(train, val, test) sizes from ratios (summing to at most 1) or absolute sizes."""
    if len(split) != 3 or any(s < 0 for s in split):
        raise CgcnnError("--split takes three non-negative numbers: train val test")
    if all(s <= 1 for s in split):
        if sum(split) > 1 + 1e-9:
            raise CgcnnError(f"split ratios {list(split)} add up to more than 1")
        n_val, n_test = round(split[1] * n), round(split[2] * n)
        n_train = n - n_val - n_test if math.isclose(sum(split), 1) else round(split[0] * n)
    else:
        n_train, n_val, n_test = (int(s) for s in split)
    if n_train < 1 or n_val < 1 or n_train + n_val + n_test > n:
        raise CgcnnError(f"cannot split {n} crystals into train/val/test = {n_train}/{n_val}/{n_test}")
    return n_train, n_val, n_test


def split_indices(n: int, split: Sequence[float], seed: int) -> dict[str, list[int]]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_train, n_val, n_test = split_sizes(n, split)
    return {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val : n_train + n_val + n_test],
    }


def split_from_file(path: PathLike, ids: Sequence, usable: Sequence[int], skip_bad: bool = False,
                    unlabelled: Collection[int] = ()) -> dict[str, list[int]]:
    """Dataset indices of the train/val/test ids listed in a JSON file (the run folder's split.json).
    Unlabelled crystals are left out quietly (they are listed as skipped): one split serves every target of
    a table with sparse labels."""
    try:
        listed = json.loads(Path(path).read_text())
        if not all(isinstance(listed.get(k), list) for k in ("train", "val", "test")):
            raise ValueError("needs lists of ids under 'train', 'val' and 'test'")
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(path, f"not a split file: {exc}") from None
    where = {str(crystal): k for k, crystal in enumerate(ids)}
    ok = set(usable)
    split = {}
    for name in ("train", "val", "test"):
        found = [k for k in (where.get(str(crystal)) for crystal in listed[name]) if k not in unlabelled]
        bad = [c for c, k in zip(listed[name], found) if k is None or k not in ok]
        if bad and not skip_bad:
            raise InputError(path, f"{len(bad)} {name} ids are not usable crystals of the data, e.g. {bad[0]!r}")
        split[name] = [k for k in found if k is not None and k in ok]
    if not split["train"] or not split["val"]:
        raise InputError(path, "the split leaves no training or no validation crystal")
    return split
