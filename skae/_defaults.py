"""The autoencoder skae trains when the user names none: one rule for every estimator."""

import math

import numpy as np

from ._autoencoders import DenseAutoEncoder
from ._conv_autoencoder import ConvAutoEncoder
from ._data import fetch_samples, is_map_dataset


# The default autoencoder's sizes (the rule in default_autoencoder's docstring).
DEFAULT_IMAGE_LATENT_DIM = 32
# Narrow levels: on the bundled 2,000-image demo (two seeds, side by side) they gave
# codes that cluster better (ARI 0.426 / 0.387 against 0.348 / 0.249) and detected
# unknown kinds as well or better (AUROC 0.899 / 0.909 against 0.885 / 0.907) than
# (32, 64, 128), in about three quarters of the time.
DEFAULT_IMAGE_CHANNELS = (16, 32, 64)
DETECTION_SAMPLE_PASSES = 4800


def default_image_channels(image_shape):
    """``(16, 32, 64)`` cut to as many stride-2 levels as leave at least 4 values on the
    shortest spatial axis (1 to 3 levels): ``(16, 32)`` for 28 x 28, ``(16,)`` for 8 x 8."""
    side = min(image_shape[-2:]) if len(image_shape) >= 2 else image_shape[-1]
    if side < 2:
        raise ValueError(f"Samples of spatial shape {tuple(image_shape)} are too small for "
                         "a convolutional autoencoder (every axis needs 2 values or more).")
    levels = int(np.clip(np.floor(np.log2(side / 4)), 1, 3)) if side >= 4 else 1
    return DEFAULT_IMAGE_CHANNELS[:levels]


def default_autoencoder(X, *, purpose="representation", random_state=None, **params):
    """The autoencoder skae trains when the user names none, by one rule for every
    estimator (the detector, the codec, ``EncoderClassifier`` and the CLI).

    - **Images** (``X`` of 3 or more dimensions, ``(n, H, W)`` or ``(n, C, H, W)``, or a
      dataset of such samples): :class:`ConvAutoEncoder` with a 32-d code and
      :func:`default_image_channels` (``(16, 32, 64)`` cut to the image size).
    - **Tables and flat vectors**: :class:`DenseAutoEncoder` with a code of a quarter of
      the features (2 to 16) and one hidden layer of twice the features (16 to 128).
      For ``purpose="detection"`` also batches of 32 and a short budget of
      ``clip(ceil(4800 / n_samples), 10, 20)`` epochs: detection data are often
      contaminated with anomalies, and a longer training learns to reconstruct those
      too. The rule was chosen on PyOD's unsupervised protocol
      (``benchmarks/bench_anomaly_pyod.py``), where in exploratory runs it scored higher
      than 40 epochs or a 600-step rule, in less time; the script prints only the
      current default, so that comparison must be re-run to be quoted.

    Everything else is each class's default (``max_epochs="auto"``: the data-dependent
    budget). ``params`` (e.g. ``latent_dim``, ``device``) override the rule.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...) or map-style Dataset
        The training data; only its shape is read.
    purpose : {"representation", "detection"}, default="representation"
        What the autoencoder is for; changes only the table rule.
    random_state : int, RandomState instance or None, default=None
        Passed to the autoencoder.
    **params
        Parameters set on the autoencoder after the rule.

    Returns
    -------
    autoencoder : ConvAutoEncoder or DenseAutoEncoder
        Unfitted.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._defaults import default_autoencoder
    >>> default_autoencoder(np.zeros((10, 28, 28))).channels
    (16, 32)
    >>> default_autoencoder(np.zeros((10, 20)), purpose="detection").max_epochs
    20
    """
    if purpose not in ("representation", "detection"):
        raise ValueError(f"purpose must be 'representation' or 'detection', got {purpose!r}.")
    if is_map_dataset(X):
        n_samples = len(X)
        sample_shape = np.shape(fetch_samples(X, [0]))[1:]
    else:
        shape = np.shape(X)
        n_samples, sample_shape = shape[0], shape[1:]
    if len(sample_shape) >= 2:
        image_shape = sample_shape if len(sample_shape) == 3 else (1, *sample_shape)
        autoencoder = ConvAutoEncoder(
            latent_dim=DEFAULT_IMAGE_LATENT_DIM,
            channels=default_image_channels(image_shape),
            random_state=random_state,
        )
    else:
        n_features = math.prod(sample_shape)
        autoencoder = DenseAutoEncoder(
            latent_dim=int(np.clip(n_features // 4, 2, 16)),
            hidden_layer_sizes=(int(np.clip(2 * n_features, 16, 128)),),
            random_state=random_state,
        )
        if purpose == "detection":
            autoencoder.set_params(
                batch_size=32,
                max_epochs=int(np.clip(np.ceil(DETECTION_SAMPLE_PASSES / max(n_samples, 1)),
                                       10, 20)),
            )
    return autoencoder.set_params(**params)
