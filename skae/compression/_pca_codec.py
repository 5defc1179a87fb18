"""PCACodec: the baseline codec of PCA codes, a uniform quantiser and the entropy coder."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.utils.validation import validate_data

from .._compat import Interval, fit_context
from .._samples import flatten_samples
from ._bitstream import BitstreamCodec
from ._entropy import fit_probabilities
from ._payload import fingerprint


class RangeQuantiser:
    """``2**bits`` uniform levels per dimension over the training range (for PCA codes).

    Parameters
    ----------
    bits : int
    """

    def __init__(self, bits):
        self.bits = int(bits)

    def fit(self, codes):
        self.low_ = codes.min(axis=0)
        span = codes.max(axis=0) - self.low_
        self.step_ = np.where(span > 0, span, 1.0) / (2**self.bits - 1)
        return self

    def quantise(self, codes):
        levels = np.rint((codes - self.low_) / self.step_)
        return np.clip(levels, 0, 2**self.bits - 1).astype(np.int64)

    def dequantise(self, levels):
        return self.low_ + levels * self.step_


class PCACodec(BitstreamCodec, BaseEstimator):
    """Baseline codec: PCA codes, the same uniform quantiser and entropy coder.

    Each principal component is quantised to ``2**bits`` levels spanning its training
    range, then coded like :class:`AutoEncoderCodec` codes (same header, same ANS coder,
    same per-dimension histogram model).

    Parameters
    ----------
    n_components : int, default=16
        Number of principal components kept (at most ``min(n_samples, n_features)``).
    bits : int, default=4
        Bits per component before entropy coding.

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
        The fitted PCA.
    quantiser_ : object
        The uniform quantiser: per-component offset ``low_`` and step ``step_``.
    probabilities_ : ndarray of shape (n_components, 2**bits), float32
        Probability of each level per component: the entropy model.
    fingerprint_ : str
        Hex digest of the fitted model, written into each payload.
    n_features_in_ : int
        Number of values per sample seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has feature names
        that are all strings.
    sample_shape_ : tuple of int
        Shape of one sample as given to ``fit``; decoded data has this shape.

    See Also
    --------
    AutoEncoderCodec : The learned codec this baseline is compared with.

    Examples
    --------
    >>> from skae.compression import PCACodec
    >>> from skae.datasets import load_fashion_mnist_subset
    >>> X, _ = load_fashion_mnist_subset(return_X_y=True)
    >>> codec = PCACodec(n_components=16, bits=4).fit(X[:1000])
    >>> codec.decompress(codec.compress(X[1000:])).shape
    (1000, 28, 28)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "bits": [Interval(Integral, 1, 16, closed="both")],
    }

    def __init__(self, n_components=16, *, bits=4):
        self.n_components = n_components
        self.bits = bits

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit PCA, the quantiser and the entropy model on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X = self._validate(X, reset=True)
        self.pca_ = PCA(n_components=min(self.n_components, *X.shape)).fit(X)
        self.quantiser_ = RangeQuantiser(self.bits).fit(self.pca_.transform(X))
        levels = self._encode_levels(X)
        self.probabilities_ = fit_probabilities(levels, 2**self.bits)
        self._fingerprint = fingerprint(
            "PCACodec",
            self.sample_shape_,
            self.bits,
            self.pca_.components_,
            self.pca_.mean_,
            self.quantiser_.low_,
            self.quantiser_.step_,
            self.probabilities_,
        )
        self.fingerprint_ = self._fingerprint.hex()
        return self

    def _validate(self, X, reset=False):
        """Flatten images to rows, then the usual sklearn checks."""
        X, sample_shape = flatten_samples(X)
        X = validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))
        if reset:
            self.sample_shape_ = sample_shape or (X.shape[1],)
        return X

    def _encode_levels(self, X):
        return self.quantiser_.quantise(self.pca_.transform(X))

    def _decode_levels(self, levels):
        X = self.pca_.inverse_transform(self.quantiser_.dequantise(levels))
        return X.reshape(len(X), *self.sample_shape_)
