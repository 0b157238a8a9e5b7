"""The network (layers, CrystalGraphConvNet) and its files (save ours; load ours or the original's, safely)."""

from ..config import ModelConfig
from .files import model_from_file, models_from_file, safe_load, save_ensemble, save_model
from .network import CrystalGraphConvNet

__all__ = ["CrystalGraphConvNet", "ModelConfig", "model_from_file", "models_from_file", "safe_load",
           "save_ensemble", "save_model"]
