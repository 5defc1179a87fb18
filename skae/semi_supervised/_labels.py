"""Labels with holes: ``y == -1`` marks an unlabelled row (sklearn.semi_supervised)."""

import numbers

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._compat import num_samples, safe_indexing

UNLABELED = -1


def labeled_mask(y):
    """Boolean mask of the labelled rows of ``y``: every entry that is not ``-1``.

    Follows :mod:`sklearn.semi_supervised`: ``-1`` marks an unlabelled row. Works for
    integer, float and object (e.g. string) label arrays; a string array has no ``-1``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, ``-1`` for unlabelled rows.

    Returns
    -------
    mask : ndarray of bool, shape (n_samples,)
        True where the row is labelled.

    Examples
    --------
    >>> from skae.semi_supervised import labeled_mask
    >>> labeled_mask([0, -1, 2, -1]).tolist()
    [True, False, True, False]
    >>> labeled_mask(["cat", -1, "dog"]).tolist()
    [True, False, True]
    """
    y = as_label_array(y)
    if y.dtype.kind in "iuf":
        return y != UNLABELED
    if y.dtype.kind == "O":
        return np.fromiter(
            (
                not (isinstance(v, numbers.Real) and not isinstance(v, bool) and v == UNLABELED)
                for v in y.ravel()
            ),
            dtype=bool,
            count=y.size,
        ).reshape(y.shape)
    return np.ones(y.shape, dtype=bool)


def as_label_array(y):
    """``np.asarray(y)``, except that a list mixing strings and ``-1`` stays object."""
    if not hasattr(y, "dtype") and not hasattr(y, "__array__"):
        y = list(y)
        if any(isinstance(v, str) for v in y):
            return np.asarray(y, dtype=object)
    return np.asarray(y)


def check_labels(estimator, y, n_samples):
    """Return ``(y_1d, mask)``, raising clearly if ``y`` is missing or nothing is labelled."""
    name = type(estimator).__name__
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None.")
    y = column_or_1d(as_label_array(y), warn=True)
    check_consistent_length(np.empty((n_samples, 0)), y)
    mask = labeled_mask(y)
    if not mask.any():
        raise ValueError(
            f"{name} found no labelled row: all {len(y)} labels are -1, which marks an "
            "unlabelled row (the sklearn.semi_supervised convention). Give at least one "
            "label per class."
        )
    return y, mask


def labeled_accuracy(estimator, X, y, sample_weight):
    y, mask = check_labels(estimator, y, num_samples(X))
    rows = np.flatnonzero(mask)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)[rows]
    return float(
        accuracy_score(y[rows], estimator.predict(safe_indexing(X, rows)),
                       sample_weight=sample_weight)
    )
