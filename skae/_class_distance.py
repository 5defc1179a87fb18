"""How far a code lies from every known kind: the class-aware code term of
:class:`~skae.AEAnomalyDetector` when ``fit`` is given labels.

Open-set recognition asks whether an item belongs to *any* of the known kinds, not
whether it is rare overall. With labels, the detector models the codes of each known
kind as a Gaussian with its own mean and a covariance shared by all kinds (as linear
discriminant analysis does), and the code term is the Mahalanobis distance to the
nearest kind's mean (Lee et al., 2018, in the detector's references). The shared
covariance is estimated from the within-kind residuals with Ledoit–Wolf shrinkage, so
a few dozen items per kind are enough even for a 32-number code.
"""

import numpy as np
from scipy.linalg import pinvh
from sklearn.covariance import LedoitWolf
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .semi_supervised import labeled_mask
from .semi_supervised._labels import as_label_array

# Relative ridge added to the shared covariance: keeps it invertible when the residuals
# are degenerate (every kind a single item, or constant codes).
_RIDGE = 1e-6


def check_known_labels(estimator, y, n_samples):
    """``(y, labelled)`` for ``fit(X, y)``: 1-D labels of the right length, ``-1`` marking
    an unlabelled row, at least one labelled row; a clear ValueError otherwise."""
    name = type(estimator).__name__
    y = column_or_1d(as_label_array(y), warn=True)
    try:
        check_consistent_length(np.empty((n_samples, 0)), y)
    except ValueError:
        raise ValueError(
            f"{name}.fit got {len(y)} labels for {n_samples} samples; y must have one "
            "label per sample (-1 for an unlabelled one), or be None."
        ) from None
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(
            f"{name}.fit got NaN or infinite labels; mark an unlabelled sample with -1."
        )
    labelled = labeled_mask(y)
    if not labelled.any():
        raise ValueError(
            f"{name}.fit found no labelled sample: all {len(y)} labels are -1, which marks "
            "an unlabelled sample. Pass y=None for a detector that uses no labels."
        )
    return y, labelled


def fit_class_gaussians(codes, y):
    """``(classes, means, precision)``: each known kind's mean code and the precision
    matrix of the within-kind residuals (shared by all kinds, Ledoit–Wolf shrunk)."""
    codes = np.asarray(codes, dtype=np.float64)
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    means = np.zeros((len(classes), codes.shape[1]))
    np.add.at(means, inverse, codes)
    means /= counts[:, None]
    residuals = codes - means[inverse]
    covariance = LedoitWolf(assume_centered=True).fit(residuals).covariance_
    scale = max(float(np.mean(np.var(codes, axis=0))), np.finfo(np.float64).tiny)
    covariance += _RIDGE * scale * np.eye(codes.shape[1])
    return classes, means, pinvh(covariance)


def nearest_class_distance(codes, means, precision):
    """Mahalanobis distance of each code to the nearest class mean, shape (n_codes,)."""
    codes = np.asarray(codes, dtype=np.float64)
    nearest = np.full(len(codes), np.inf)
    for mean in means:  # one pass per kind: memory stays (n_codes, latent_dim)
        difference = codes - mean
        squared = np.einsum("ij,jk,ik->i", difference, precision, difference)
        np.minimum(nearest, squared, out=nearest)
    return np.sqrt(np.maximum(nearest, 0.0))
