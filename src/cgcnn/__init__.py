"""Crystal Graph Convolutional Neural Networks (Xie & Grossman, Phys. Rev. Lett. 120, 145301, 2018).

The public API: train a model (`train` with `ModelConfig`, `TrainConfig`, `DataLayout`), load one
(`load_model`: a shipped name, a model or ensemble file, or an original `.pth.tar`) and predict with it
(`Predictor`), explain its predictions, embed crystals (`Predictor.embed`, `embed_files`), screen
perovskites, build graph stores (`featurize`). Fine-tuning is `train(..., init_from=MODEL)`. Errors a user
can act on are `CgcnnError`s; `InputError` names the file.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .config import __version__

# public name → the module that defines it; imported on first use, so `cgcnn --help` and `cgcnn featurize`
# do not pay for torch and every application at start-up
_PUBLIC = {
    "CgcnnError": ".errors", "InputError": ".errors",
    "DataLayout": ".config", "GraphConfig": ".config", "ModelConfig": ".config", "PredictConfig": ".config",
    "TrainConfig": ".config",
    "CrystalGraphConvNet": ".model", "shipped_models": ".model.catalogue",
    "build_graph": ".graphs", "featurize": ".graphs", "train": ".training",
    "Predictor": ".apps.predict", "load_model": ".apps.predict", "predict_files": ".apps.chunked_predict",
    "embed_files": ".apps.embed", "explain_files": ".apps.explain",
}
__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'cgcnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from .apps.embed import embed_files
    from .apps.explain import explain_files
    from .apps.predict import Predictor, load_model
    from .apps.chunked_predict import predict_files
    from .config import DataLayout, GraphConfig, ModelConfig, PredictConfig, TrainConfig
    from .errors import CgcnnError, InputError
    from .graphs import build_graph, featurize
    from .model import CrystalGraphConvNet
    from .model.catalogue import shipped_models
    from .training import train
