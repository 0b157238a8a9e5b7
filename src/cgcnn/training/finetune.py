"""Fine-tuning: a training run that starts from a trained model instead of random weights.

The run takes from the source model everything its weights depend on (the element table, the graph
settings, the network's sizes); a conflicting setting is an error rather than silently ignored. The
embedding, convolutions and hidden layers are copied. The output layer is kept when the run learns the same
targets (same names, same task) and replaced by a fresh one otherwise. The target scaling is always refitted
on the new training split; a kept output layer is rescaled so that the starting model predicts exactly what
the source predicts. `freeze` keeps the embedding (or it and the convolutions) as trained, batch-norm
statistics included; `backbone_lr_scale` lets them learn more slowly than the layers after pooling.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch

from ..config import ConfigError, ModelConfig, TrainConfig, option_name
from ..model import CrystalGraphConvNet, models_from_file
from ..model.catalogue import resolve_model

log = logging.getLogger(__name__)
# the settings the weights depend on: taken from the source model
INHERITED = ("atom_fea_len", "h_fea_len", "n_conv", "n_h", "conv", "pooling", "site_reduction", "radius",
             "max_neighbors", "gaussian_min", "gaussian_step")
FROZEN = {"none": (), "embedding": ("embedding",), "convs": ("embedding", "convs")}
BACKBONE = ("embedding", "convs")  # the pretrained representation (learns at lr × backbone_lr_scale)
OUTPUT_LAYER = ("fc_out.weight", "fc_out.bias")


@dataclass
class Source:
    """A model to fine-tune from: its members (one unless an ensemble), target names, where it came from."""

    models: list[CrystalGraphConvNet]
    target_names: list[str]
    given: str  # as the user named it
    path: Path

    @property
    def config(self) -> ModelConfig:
        return self.models[0].config

    @property
    def element_features(self) -> torch.Tensor:
        return self.models[0].element_features


def load_source(init_from: str) -> Source:
    path = resolve_model(init_from)
    stat = path.stat()
    return _read_source(str(init_from), path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1)  # the settings check and the weight copy read the file once (while unchanged)
def _read_source(given: str, path: Path, mtime_ns: int, size: int) -> Source:
    models, names, _ = models_from_file(path)
    return Source(models, list(names), given, path)


def inherited_config(source: Source, model_config: ModelConfig) -> ModelConfig:
    """`model_config` with the source's network and graph settings; one set to something other than both
    its default and the source's value is refused."""
    defaults = ModelConfig()
    by_name = {f.name: f for f in fields(ModelConfig)}
    for name in INHERITED:
        mine, theirs = getattr(model_config, name), getattr(source.config, name)
        if mine != getattr(defaults, name) and mine != theirs:
            raise ConfigError(f"{name} ({option_name(by_name[name])}) is {mine}, but the model to fine-tune "
                              f"({source.given}) was trained with {theirs}: leave it out to use the model's")
    return replace(model_config, **{name: getattr(source.config, name) for name in INHERITED})


def start_from(model: CrystalGraphConvNet, cfg: TrainConfig, target_names: list) -> dict:
    """Copy the source's weights into `model` (whose target scaling is already fitted), freeze what cfg
    says, and return the record of where the run started (kept in its model files)."""
    assert cfg.init_from is not None
    source = load_source(cfg.init_from)
    member = cfg.init_member % len(source.models)
    pretrained = source.models[member]
    keep_head = (pretrained.config.task == model.config.task and pretrained.config.n_outputs == model.config.n_outputs
                 and source.target_names == list(target_names))
    skipped = {"element_features", "target_mean", "target_std", *([] if keep_head else OUTPUT_LAYER)}
    state = {k: v for k, v in pretrained.state_dict().items() if k not in skipped}
    model.load_state_dict(state, strict=False)
    if keep_head and model.config.task == "regression":
        _rescale_output(model, pretrained)
    freeze(model, cfg.freeze)
    log.info("fine-tuning from %s (member %d): output layer %s, frozen: %s", source.path, member,
             "kept" if keep_head else "replaced", cfg.freeze)
    return {"model": source.given, "file": str(source.path), "member": member, "target_names": source.target_names,
            "output_layer": "kept" if keep_head else "replaced", "freeze": cfg.freeze,
            "backbone_lr_scale": cfg.backbone_lr_scale}


@torch.no_grad()
def _rescale_output(model: CrystalGraphConvNet, pretrained: CrystalGraphConvNet) -> None:
    """Make the kept output layer give the source's predictions under the refitted target scaling:
    new_std·y' + new_mean = old_std·y + old_mean. Exact for mean pooling; with linear pooling summed over
    sites the mean offset is added once per crystal, so only the scale is carried over there."""
    ratio = pretrained.target_std / model.target_std
    offset = (pretrained.target_mean - model.target_mean) / model.target_std
    model.fc_out.weight.mul_(ratio[:, None])
    model.fc_out.bias.mul_(ratio)
    if not (model.config.pooling == "linear" and model.config.site_reduction == "sum"):
        model.fc_out.bias.add_(offset)


def freeze(model: CrystalGraphConvNet, what: str) -> None:
    """No gradients for the parts named by `what`, and batch norm in them kept in evaluation mode."""
    model.frozen = FROZEN[what]
    for name in model.frozen:
        for parameter in getattr(model, name).parameters():
            parameter.requires_grad_(False)
    model.train(model.training)


def parameter_groups(model: CrystalGraphConvNet, lr: float, backbone_lr_scale: float) -> list[dict]:
    """Trainable parameters: the layers after pooling at `lr` (first, so logs show that rate), the
    embedding and convolutions at lr × backbone_lr_scale."""
    backbone = {id(p) for name in BACKBONE for p in getattr(model, name).parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in backbone], "lr": lr},
              {"params": [p for p in trainable if id(p) in backbone], "lr": lr * backbone_lr_scale}]
    return [g for g in groups if g["params"]]
