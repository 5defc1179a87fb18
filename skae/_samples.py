"""Samples of any shape as flat rows: the input handling every skae estimator shares.

Images ``(n, H, W)``, ``(n, C, H, W)`` and signals reach scikit-learn's checks as rows
``(n, n_values)``; the shape of one sample is remembered at ``fit`` and checked after.
"""

import numpy as np
from sklearn.utils import get_tags
from sklearn.utils.validation import validate_data

from ._runtime import FLOAT_DTYPES


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


def refuse_channels_last(estimator, X, flat_rows_hint=True):
    """4-D input is read as ``(n, C, H, W)``. An array whose last axis is 1, 3 or 4 long
    while its second is longer than 4 is almost surely channels-last ``(n, H, W, C)``
    (grayscale, RGB, RGBA), which would be read as H channels of W x C images: refuse
    it with the fix, rather than train on scrambled images."""
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 4 or shape[-1] not in (1, 3, 4) or shape[1] <= 4:
        return
    n, height, width, n_channels = shape
    raise ValueError(
        f"X of shape {tuple(shape)} looks like channels-last images (n, H, W, C) = "
        f"({n}, {height}, {width}, {n_channels}); {type(estimator).__name__} reads 4-D "
        f"input as channels-first (n, C, H, W). Pass np.moveaxis(X, -1, 1) (shape "
        f"({n}, {n_channels}, {height}, {width}))."
        + (f" If the array really is {height} channels of {width} x {n_channels} "
           f"images, pass it as flat rows X.reshape(len(X), -1) with "
           f"image_shape={tuple(shape[1:])}." if flat_rows_hint else "")
    )


def validate_samples(estimator, X, reset):
    """``validate_data`` for an estimator that hands its samples on in their shape (a
    meta-estimator around skae estimators): a table, or images ``(n, H, W)`` /
    ``(n, C, H, W)`` checked as flat rows and given back their shape. Channels-last
    input is refused, the sample shape is set as ``sample_shape_`` at fit and checked
    after, NaN is allowed where the estimator's tags allow it, and integer data keep
    their dtype."""
    refuse_channels_last(estimator, X)
    X, sample_shape = flatten_samples(X)
    if not reset and sample_shape is not None and estimator.sample_shape_ is not None:
        check_sample_shape(estimator, sample_shape, estimator.sample_shape_)
    allow_nan = get_tags(estimator).input_tags.allow_nan
    X = validate_data(estimator, X, reset=reset, dtype=None, accept_sparse=False,
                      ensure_min_samples=2 if reset else 1,
                      ensure_all_finite="allow-nan" if allow_nan else True)
    if reset:
        estimator.sample_shape_ = sample_shape
    return X if sample_shape is None else X.reshape(len(X), *sample_shape)


def validate_rows(estimator, X, reset):
    """``validate_data`` for an autoencoder's flat rows; integer data keep their dtype."""
    # Integer and boolean arrays (e.g. uint8 images in a numpy.memmap) are kept as they
    # are: they hold no NaN or inf, and each batch becomes float32 on its way to the
    # network, so no float copy of the whole data is ever made. Floats are checked as usual.
    is_int = isinstance(X, np.ndarray) and X.dtype.kind in "biu"
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=None if is_int else FLOAT_DTYPES,
        ensure_min_samples=2 if reset else 1,
    )
    if X.dtype == np.float64 and X.size:
        check_float32_range(X)
    return X


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X):
    """Raise a ValueError when a float64 array holds values that float32, the network's
    precision, turns into inf (|x| > 3.4e38)."""
    low, high = float(X.min()), float(X.max())
    if low < -_FLOAT32_MAX or high > _FLOAT32_MAX:
        raise ValueError(
            f"X holds values in [{low:.4g}, {high:.4g}], outside float32's range "
            f"(+-{_FLOAT32_MAX:.4g}) in which the network computes; they would become inf. "
            "Scale the data first (e.g. sklearn.preprocessing.StandardScaler)."
        )
