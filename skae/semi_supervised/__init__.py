"""Learning from few labels: ``y == -1`` marks an unlabelled row.

Two estimators follow the convention of :mod:`sklearn.semi_supervised`:

- :class:`FewLabelClassifier` wraps any classifier and fits it on the labelled rows only,
  so that it can end a pipeline whose earlier steps (an autoencoder, UMAP) learn from every
  row::

      Pipeline([("ae", ConvAutoEncoder()), ("umap", UMAP()),
                ("clf", FewLabelClassifier(LogisticRegression()))]).fit(X, y_with_minus_ones)

- :class:`EncoderClassifier` starts from an autoencoder's encoder (fitted on every row),
  adds a classification head and trains both end to end on the labelled rows
  ("continue from the latent space"), or the head alone with ``freeze_encoder=True``.
"""

from ..augmentation import RandomFlip, RandomShift
from ._encoder_classifier import EncoderClassifier
from ._few_label import FewLabelClassifier
from ._labels import UNLABELED, labeled_mask  # noqa: F401  (UNLABELED: the -1 marker)

__all__ = [
    "EncoderClassifier",
    "FewLabelClassifier",
    "RandomFlip",
    "RandomShift",
    "labeled_mask",
]
