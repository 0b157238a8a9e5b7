"""Model files: save ours, and load ours or the original CGCNN's `.pth.tar` files, never running code.

Loading uses `torch.load(weights_only=True)`: the unpickler only builds tensors, containers and
primitives, plus numpy scalars (which the original files hold), so a crafted file cannot run code.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from collections.abc import Sequence

from ..config import ModelConfig, PathLike
from ..errors import InputError
from ..graphs.elements import load_table_file, table_to_tensor
from ..io.write import save_torch
from .network import CrystalGraphConvNet

log = logging.getLogger(__name__)
FORMAT = "cgcnn-model"
ENSEMBLE_FORMAT = "cgcnn-ensemble"  # several models of one recipe, trained from different seeds
# numpy scalars are pickled by reference to this function; it only rebuilds a number from bytes.
SAFE_GLOBALS: list = [(np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),  # type: ignore[attr-defined]
                      np.dtype, np.dtypes.Float64DType]
ORIGINAL_ELEMENT_TABLE = "original_atom_init.json"
# a training run folder's files: the best single model, an ensemble of them, the state for --resume, ...
BEST, ENSEMBLE, CHECKPOINT = "best.pt", "ensemble.pt", "checkpoint.pt"
LOG, SPLIT = "log.csv", "split.json"
METRICS, TEST_PREDICTIONS, SKIPPED = "test_metrics.json", "test_predictions.csv", "skipped.csv"
LOCK = ".lock"
RUN_FILES = (BEST, CHECKPOINT, LOG, SPLIT, METRICS, TEST_PREDICTIONS, SKIPPED, ENSEMBLE)  # never an output
# Keys our network has that the original's state_dict lacks; they are filled from elsewhere.
FILLED_KEYS = {"element_features", "target_mean", "target_std", "expansion.centers"}


def safe_load(path: PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such model file")
    with open(path, "rb") as handle:
        start = handle.read(4)
    if not start.startswith((b"PK\x03\x04", b"\x80")):  # torch's zip format, or the legacy pickle one
        kind = "text" if start.isascii() and start.strip() else "something else"
        raise InputError(path, f"not a model file: it holds {kind}, not a PyTorch file")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        reason = _load_failure(exc)
        if "GLOBAL" in reason or "global" in reason:  # a reference to a function or class it does not allow
            raise InputError(path, f"refused to load: the file asks for code outside the safe allow-list ({reason})") from None
        raise InputError(path, f"not a readable model file ({type(exc).__name__}: {reason})") from None
    if not isinstance(obj, dict):
        raise InputError(path, "not a model file (expected a dictionary)")
    return obj


def _load_failure(exc) -> str:
    """The informative line of torch.load's long error message."""
    text = str(exc)
    text = text.split("WeightsUnpickler error:", 1)[1] if "WeightsUnpickler error:" in text else text
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "Weights only load failed" not in ln]
    return next((ln for ln in lines if "GLOBAL" in ln), lines[0] if lines else "")[:300]


def save_model(model: CrystalGraphConvNet, path: PathLike, target_names: Sequence[str],
               metadata: dict | None = None) -> None:
    save_torch(
        {
            "format": FORMAT,
            "version": 1,
            "config": model.config.to_dict(),
            "state_dict": model.state_dict(),
            "target_names": list(target_names),
            "metadata": metadata or {},
        },
        path,
    )


def save_ensemble(member_paths: Sequence[PathLike], path: PathLike, metadata: dict | None = None) -> None:
    """One file holding the members' model files (each as saved by `save_model`)."""
    members = [safe_load(p) for p in member_paths]
    if any(m.get("format") != FORMAT for m in members) or len({str(m["config"]) for m in members}) != 1:
        raise InputError(path, "ensemble members must be cgcnn model files with the same settings")
    save_torch({"format": ENSEMBLE_FORMAT, "version": 1, "members": members,
                "target_names": members[0]["target_names"], "metadata": metadata or {}}, path)


def models_from_file(path: PathLike, atom_init: PathLike | None = None,
                     ) -> tuple[list[CrystalGraphConvNet], list[str], dict]:
    """([models in eval mode], target names, metadata): one model, or every member of an ensemble."""
    obj = safe_load(path)
    if obj.get("format") == ENSEMBLE_FORMAT:
        members = obj.get("members")
        if not isinstance(members, list) or not members:
            raise InputError(path, "the ensemble file holds no models")
        return [_ours(m, path)[0] for m in members], obj.get("target_names", []), obj.get("metadata", {})
    model, names, metadata = _single(obj, path, atom_init)
    return [model], names, metadata


def model_from_file(path: PathLike, atom_init: PathLike | None = None) -> tuple[CrystalGraphConvNet, list[str], dict]:
    """(model in eval mode, target names, metadata) from our format or an original checkpoint."""
    obj = safe_load(path)
    if obj.get("format") == ENSEMBLE_FORMAT:
        raise InputError(path, "this file is an ensemble; load it with models_from_file or cgcnn.load_model")
    return _single(obj, path, atom_init)


def _single(obj, path, atom_init):
    if obj.get("format") == FORMAT:
        return _ours(obj, path)
    if {"state_dict", "args", "normalizer"} <= set(obj):
        return _original(obj, path, atom_init)
    raise InputError(path, "not a cgcnn model file nor an original CGCNN checkpoint")


def _ours(obj, path):
    try:
        config = ModelConfig(**obj["config"])
        model = CrystalGraphConvNet(config, obj["state_dict"]["element_features"])
        model.load_state_dict(obj["state_dict"])
    except (TypeError, KeyError, RuntimeError, ValueError, AttributeError) as exc:
        raise InputError(path, f"the model file is damaged or from an incompatible version ({exc})") from None
    check_finite(model, path)
    return model.eval(), obj.get("target_names", []), obj.get("metadata", {})


def check_finite(model: CrystalGraphConvNet, path: PathLike) -> None:
    """Refuse a model that would answer NaN or a constant: non-finite weights, or a target scaling that is
    not finite or has no spread (rows of the element table are NaN on purpose for elements it lacks)."""
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        values = tensor[~torch.isnan(tensor).all(1)] if name == "element_features" else tensor
        if values.is_floating_point() and not torch.isfinite(values).all():
            raise InputError(path, f"the model holds NaN or infinite values ({name}): damaged, or its training "
                             "diverged")
    if model.config.task == "regression" and not (model.target_std > 0).all():
        raise InputError(path, "the model's target spread (target_std) is zero: it would predict a constant")


def original_element_table(atom_init: PathLike | None = None) -> torch.Tensor:
    """The element table for an original checkpoint: the one given, else the original's own (shipped)."""
    if atom_init is not None:
        return table_to_tensor(load_table_file(atom_init))
    with resources.as_file(resources.files("cgcnn") / "data" / ORIGINAL_ELEMENT_TABLE) as path:
        return table_to_tensor(load_table_file(path))


def _original(obj, path, atom_init):
    args, state = obj["args"], obj["state_dict"]
    args = vars(args) if not isinstance(args, dict) else args
    classification = args.get("task") == "classification"
    config = ModelConfig(
        atom_fea_len=int(args.get("atom_fea_len", 64)),
        h_fea_len=int(args.get("h_fea_len", 128)),
        n_conv=int(args.get("n_conv", 3)),
        n_h=int(args.get("n_h", 1)),
        task="classification" if classification else "regression",
        n_outputs=int(state["fc_out.weight"].shape[0]),
    )
    features = original_element_table(atom_init)
    if features.shape[1] != state["embedding.weight"].shape[1]:
        raise InputError(atom_init or path, f"element table has {features.shape[1]} features, the model expects "
                         f"{state['embedding.weight'].shape[1]}")
    model = CrystalGraphConvNet(config, features)
    result = model.load_state_dict(state, strict=False)
    missing = set(result.missing_keys) - FILLED_KEYS
    missing = {k for k in missing if not k.endswith("num_batches_tracked")}
    if missing or result.unexpected_keys:
        raise InputError(path, f"unexpected original checkpoint layout (missing {sorted(missing)}, "
                         f"unexpected {result.unexpected_keys})")
    if not classification:
        model.target_mean.fill_(float(obj["normalizer"]["mean"]))
        model.target_std.fill_(float(obj["normalizer"]["std"]))
    check_finite(model, path)
    log.info("loaded original CGCNN checkpoint %s (%s)", path, args.get("task"))
    return model.eval(), ["prediction"], {"source": "original CGCNN checkpoint", "args": dict(args)}


__all__ = ["model_from_file", "models_from_file", "save_ensemble", "save_model", "safe_load"]
