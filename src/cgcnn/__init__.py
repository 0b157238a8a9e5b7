"""Crystal Graph Convolutional Neural Networks (Xie & Grossman, Phys. Rev. Lett. 120, 145301, 2018)."""

from .errors import CgcnnError, InputError
from .model import CrystalGraphConvNet, ModelConfig
from .predict import Predictor, load_model
from .train import TrainConfig, train

__version__ = "0.1.0"
__all__ = ["CgcnnError", "CrystalGraphConvNet", "InputError", "ModelConfig", "Predictor", "TrainConfig",
           "load_model", "train", "__version__"]
