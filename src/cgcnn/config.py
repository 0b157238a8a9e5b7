"""Every setting of the package, once: name, type, default, help text and allowed values.

The dataclasses below are the single source. The command line is generated from their fields (cli.py),
recipes (YAML files for `cgcnn train --config`) set the same fields, and each config checks itself when
it is built, so a misspelt choice fails at once rather than after the graph store is built.
Field metadata: `help` (shown by --help), `min` (lowest allowed number), `flag` (the option name when it
differs from the field's), `cli` (False: set by the program, not by users).
"""

from __future__ import annotations

import typing
import os
from dataclasses import Field, dataclass, field, fields
from typing import Any, Literal, TypeVar, Union

from .errors import CgcnnError

__version__ = "0.1.0"  # the package's; pyproject.toml names the same (tests/test_outputs.py checks)


PathLike = Union[str, os.PathLike]  # a file or folder, as text or a Path
Precision = Literal["auto", "fp32", "bf16"]  # training arithmetic (auto: chosen for the machine)
C = TypeVar("C")


class ConfigError(CgcnnError, ValueError):
    """A setting has a value it cannot take."""


def setting(default: Any, help: str, *, min: float | None = None, flag: str | None = None,
            cli: bool = True) -> Any:
    """A dataclass field with its help text; a list default is copied for every instance."""
    metadata = {"help": help, "min": min, "flag": flag, "cli": cli}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def option_name(f: Field) -> str:
    """The command-line spelling of a field: --atom-fea-len for atom_fea_len (or its `flag`)."""
    return "--" + (f.metadata.get("flag") or f.name).replace("_", "-")


def validate(config: Any) -> None:
    """Check every field of a config dataclass against its type's choices and its `min`."""
    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        value = getattr(config, f.name)
        where = f"{f.name} ({option_name(f)})"
        choices = _choices(hints[f.name])
        if choices and value not in choices and value is not None:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, choices))}, not {value!r}")
        low = f.metadata.get("min")
        if low is not None and value is not None and not (isinstance(value, (int, float)) and value >= low):
            raise ConfigError(f"{where} must be a number ≥ {low:g}, not {value!r}")


def _choices(hint) -> tuple:
    """The values of a Literal type (also inside Optional[...])."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    return sum((_choices(arg) for arg in typing.get_args(hint)), ())


def pick(cls: type[C], values: dict) -> C:
    """An instance of config `cls` from the entries of `values` that are its fields (validated)."""
    return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})  # type: ignore[arg-type]


@dataclass(frozen=True)
class GraphConfig:
    """How a crystal becomes a graph: neighbours within `radius`, the `max_neighbors` nearest per atom."""

    radius: float = setting(8.0, "neighbour cutoff in Å (also the range of the Gaussian edge features)", min=1e-3)
    max_neighbors: int = setting(12, "nearest neighbours kept per atom", min=1)

    def __post_init__(self) -> None:
        validate(self)


def _graph_setting(name: str) -> Any:
    """The same default and help as GraphConfig's field (a model records its graph settings)."""
    source = next(f for f in fields(GraphConfig) if f.name == name)
    return setting(source.default, source.metadata["help"], min=source.metadata["min"])


@dataclass
class ModelConfig:
    """The network (Eq. 4 or Eq. 5 convolutions, pooling, head) and the graph settings it was trained on."""

    atom_fea_len: int = setting(64, "length of the atom vectors in the convolutions", min=1)
    h_fea_len: int = setting(128, "length of the hidden layers after pooling", min=1)
    n_conv: int = setting(3, "number of convolution layers", min=0)
    n_h: int = setting(1, "number of hidden layers after pooling", min=1)
    conv: Literal["gated", "shared"] = setting("gated", "gated = Eq. 5 of the paper, shared = Eq. 4")
    task: Literal["regression", "classification"] = setting(
        "regression", "regression, or classification (softmax + cross entropy, labels 0, 1, …)")
    n_outputs: int = setting(1, "number of targets, or of classes (set from the data)", min=1, cli=False)
    pooling: Literal["full", "linear"] = setting(
        "full", "full: mean of atom vectors, then the head; linear: a scalar per atom, pooled, so predictions "
        "split exactly into site contributions")
    site_reduction: Literal["mean", "sum"] = setting(
        "mean", "linear pooling: mean for per-atom targets (eV/atom), sum for per-cell targets (eV/cell)")
    radius: float = _graph_setting("radius")
    max_neighbors: int = _graph_setting("max_neighbors")
    gaussian_min: float = setting(0.0, "first Gaussian centre in Å", cli=False)
    gaussian_step: float = setting(0.2, "Gaussian spacing and width in Å", min=1e-3)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    @property
    def graph(self) -> GraphConfig:
        return GraphConfig(self.radius, self.max_neighbors)


@dataclass
class TrainConfig:
    """Optimisation, split, seeds and resources of a training run."""

    epochs: int = setting(30, "training epochs", min=0)
    batch_size: int = setting(256, "crystals per batch", min=1)
    optimizer: Literal["sgd", "adam", "adamw"] = setting("sgd", "optimiser", flag="optim")
    lr: float = setting(0.01, "learning rate", min=0)
    momentum: float = setting(0.9, "SGD momentum", min=0)
    weight_decay: float = setting(0.0, "weight decay", min=0)
    scheduler: Literal["step", "cosine", "none"] = setting(
        "step", "learning-rate schedule: step (×lr_gamma at each milestone), cosine (to 0 at --epochs), none")
    lr_milestones: list[int] = setting([100], "epochs at which the step schedule multiplies the rate by lr_gamma")
    lr_gamma: float = setting(0.1, "the step schedule's factor", min=0)
    loss: Literal["mse", "l1", "huber"] = setting("mse", "regression loss (classification uses cross entropy)")
    target_weights: list[float] | None = setting(
        None, "several targets: the weight of each one's loss (default: equal); a missing label (empty or NaN "
        "cell) counts in no loss")
    patience: int | None = setting(None, "early stopping: epochs without a better validation score", min=1)
    split: list[float] = setting([0.6, 0.2, 0.2], "train/val/test ratios (≤ 1) or sizes")
    split_file: str | None = setting(
        None, "JSON of train/val/test ids (a run's split.json); overrides --split and the seed's split")
    warmup_epochs: int = setting(0, "linear learning-rate warm-up epochs before the schedule", min=0)
    ensemble: int = setting(1, "train K models from seeds seed..seed+K-1 on one split; predictions give "
                            "their mean and std", min=1)
    init_seed: int | None = setting(None, "seed of the weights and shuffling alone (default: --seed); train "
                                    "ensemble member k elsewhere with --init-seed SEED+k --out RUN/member-k")
    seed: int = setting(0, "seed of the split (and of the weights unless --init-seed)")
    init_from: str | None = setting(
        None, "fine-tune: start from this model (a shipped name, a model or ensemble file, a run folder, or an "
        "original .pth.tar); its element table, graph and network settings are used, its output layer kept if "
        "the targets are the same, else replaced; the target scaling is refitted")
    init_member: int = setting(0, "fine-tuning from an ensemble: the member to start from (ensemble member k "
                               "of this run starts from member k)", min=0)
    freeze: Literal["none", "embedding", "convs"] = setting(
        "none", "fine-tuning: parts kept as trained (embedding: the element embedding; convs: it and the "
        "convolutions, so only the layers after pooling learn)")
    backbone_lr_scale: float = setting(
        1.0, "fine-tuning: learning rate of the pretrained embedding and convolutions, as a fraction of --lr "
        "(the layers after pooling learn at --lr)", min=0)
    device: str = setting("auto", "auto (a CUDA GPU when there is one, else the CPU), cpu, cuda or cuda:1")
    workers: int | None = setting(None, "processes that read crystals and build graphs (default: all cores)",
                                  min=1)
    loader_workers: int = setting(0, "data-loader processes during training", min=0)
    max_batch_atoms: int | None = setting(None, "cap on atoms per batch (a larger crystal goes alone)", min=1)
    cache_dir: str | None = setting(None, "graph store folder (default: $CGCNN_CACHE_DIR, else the "
                                    "platform's cache folder, e.g. ~/.cache/cgcnn)")
    skip_bad: bool = setting(False, "leave out unusable crystals, listed with their reasons in skipped.csv, "
                             "instead of stopping")
    compile: bool = setting(False, "torch.compile the training forward/backward (faster steps after ~25 s)")
    precision: Precision = setting(
        "auto", "training arithmetic: bf16 runs the forward pass under bfloat16 autocast (weights stay fp32); "
        "auto: bf16 on a CPU that computes it natively (AVX512-BF16 or AMX), fp32 elsewhere (GPUs included)")

    def __post_init__(self) -> None:
        validate(self)
        if len(self.split) != 3 or any(s < 0 for s in self.split):
            raise ConfigError(f"split (--split) takes three non-negative numbers: train val test, not {self.split}")
        if not self.init_from and (self.freeze != "none" or self.backbone_lr_scale != 1.0 or self.init_member):
            raise ConfigError("--freeze, --backbone-lr-scale and --init-member fine-tune a model: give it with "
                              "--init-from MODEL")
        if self.target_weights is not None and any(w < 0 for w in self.target_weights):
            raise ConfigError(f"target_weights (--target-weights) are numbers ≥ 0, not {self.target_weights}")


@dataclass
class DataLayout:
    """Where the structures and targets of a table are (a folder in the original layout needs none)."""

    targets: list[str] | None = setting(None, "table layout: comma-separated target columns (default: every "
                                        "numeric column)")
    id_column: str = setting("id", "table layout: the id column (if absent, the row number)")
    structure_column: str | None = setting(None, "table layout: column holding a structure file path or text")
    atom_init: str | None = setting(None, "element feature table, original atom_init.json format (default: "
                                    "the data's atom_init.json, else the built-in table)")


@dataclass
class PredictConfig:
    """How `cgcnn predict` runs."""

    batch_size: int = setting(256, "crystals per batch", min=1)
    device: str = setting("auto", "auto (a CUDA GPU when there is one, else the CPU), cpu, cuda or cuda:1")
    workers: int = setting(1, "processes that read crystals and build graphs", min=1)
    skip_bad: bool = setting(False, "leave out unusable crystals (listed in OUT.skipped.csv) instead of stopping")
    interval: float | None = setting(None, "add lower,upper columns: the prediction interval at this level "
                                     "(e.g. 0.9), from the model's split-conformal calibration; it covers that "
                                     "share of crystals like its validation crystals; on crystals outside the "
                                     "training set less (measured in docs/RESULTS.md, 'On new crystals')", min=0)

    def __post_init__(self) -> None:
        validate(self)
        if self.interval is not None and not 0 < self.interval < 1:
            raise ConfigError(f"interval (--interval) is a level between 0 and 1, not {self.interval}")


__all__ = ["ConfigError", "DataLayout", "GraphConfig", "ModelConfig", "PredictConfig", "TrainConfig"]
