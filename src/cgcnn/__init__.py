"""Crystal Graph Convolutional Neural Networks (Xie & Grossman, Phys. Rev. Lett. 120, 145301, 2018).

The public API: train a model (`train` with `ModelConfig`, `TrainConfig`), load one (`load_model`: a shipped
name, a model or ensemble file, or an original `.pth.tar`) and predict with it (`Predictor`), explain its
predictions, embed crystals (`Predictor.embed`, `embed_files`), screen perovskites, build graph stores
(`featurize`). Fine-tuning is `train(..., init_from=MODEL)`. Errors a user can act on are
`CgcnnError`s; `InputError` names the file.
"""

from .model.catalogue import shipped_models
from .apps.embed import embed_files
from .apps.explain import explain_files
from .apps.predict import Predictor, load_model
from .apps.screening import predict_files
from .config import GraphConfig, ModelConfig, PredictConfig, TrainConfig
from .errors import CgcnnError, InputError
from .graphs import build_graph, featurize
from .model import CrystalGraphConvNet
from .training import train

__version__ = "0.1.0"
__all__ = ["CgcnnError", "CrystalGraphConvNet", "GraphConfig", "InputError", "ModelConfig", "PredictConfig",
           "Predictor", "TrainConfig", "build_graph", "embed_files", "explain_files", "featurize", "load_model",
           "predict_files", "shipped_models", "train", "__version__"]
