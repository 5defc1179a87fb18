"""skae: autoencoders as scikit-learn estimators, trained by skorch on PyTorch."""

from ._autoencoders import ConvAutoEncoder, DenseAutoEncoder, LinearAutoEncoder
from ._base import BaseAutoEncoder
from .exceptions import TrainingDivergedError

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseAutoEncoder",
    "ConvAutoEncoder",
    "DenseAutoEncoder",
    "LinearAutoEncoder",
    "TrainingDivergedError",
    "__version__",
]
