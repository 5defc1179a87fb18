"""Samples of any shape as flat rows: the input handling every skae estimator shares.

Images ``(n, H, W)``, ``(n, C, H, W)`` and signals reach scikit-learn's checks as rows
``(n, n_values)``; the shape of one sample is remembered at ``fit`` and checked after.
"""

import numpy as np


def sample_ndim(X):
    """``X.ndim`` without copying arrays and frames; 2 for ragged lists, which
    ``validate_data`` then reports in its own words."""
    ndim = getattr(X, "ndim", None)
    if ndim is not None:
        return ndim
    try:
        return np.asarray(X).ndim
    except ValueError:
        return 2


def flatten_samples(X):
    """``(rows, sample_shape)``: input of more than 2 dimensions as an array of flat
    rows and the shape of one sample; anything else unchanged, with ``None``."""
    if sample_ndim(X) > 2:
        X = np.asarray(X)
        return X.reshape(len(X), -1), X.shape[1:]
    return X, None


def check_sample_shape(estimator, sample_shape, fitted_shape):
    """Raise a ValueError when samples of ``sample_shape`` (None: flat rows, checked by
    their feature count instead) do not match the shape seen at fit."""
    if sample_shape is not None and tuple(sample_shape) != tuple(fitted_shape):
        raise ValueError(
            f"X has samples of shape {tuple(sample_shape)}, but {type(estimator).__name__} "
            f"was fitted on samples of shape {tuple(fitted_shape)}."
        )
