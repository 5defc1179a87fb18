"""skae: autoencoders as scikit-learn estimators, trained by skorch on PyTorch."""

from ._anomaly import AEAnomalyDetector
from ._autoencoders import DenseAutoEncoder, LinearAutoEncoder
from ._conv_autoencoder import ConvAutoEncoder
from ._cross_conformal import CrossConformalDetector
from ._fusion import FusedAnomalyDetector
from ._open_set import OpenSetDetector
from ._transductive import TransductiveNoveltyDetector
from ._base import BaseAutoEncoder
from ._variational import VariationalConvAutoEncoder, VariationalDenseAutoEncoder
from .compression import AutoEncoderCodec
from .exceptions import ImageLoadError, TrainingDivergedError, TrainingInterruptedWarning
from .semi_supervised import EncoderClassifier, FewLabelClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "AEAnomalyDetector",
    "AutoEncoderCodec",
    "BaseAutoEncoder",
    "ConvAutoEncoder",
    "CrossConformalDetector",
    "DenseAutoEncoder",
    "EncoderClassifier",
    "FewLabelClassifier",
    "FusedAnomalyDetector",
    "ImageLoadError",
    "LinearAutoEncoder",
    "OpenSetDetector",
    "TrainingDivergedError",
    "TrainingInterruptedWarning",
    "TransductiveNoveltyDetector",
    "VariationalConvAutoEncoder",
    "VariationalDenseAutoEncoder",
    "__version__",
]
