"""AutoEncoderCodec: a quantisation-aware autoencoder and the entropy coder as a codec."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from .._base import BaseAutoEncoder
from .._compat import HasMethods, Interval, fit_context
from .._defaults import default_autoencoder
from ..nn import QuantisedEncoder
from ._bitstream import BitstreamCodec
from ._entropy import fit_probabilities
from ._payload import fingerprint


class AutoEncoderCodec(
    BitstreamCodec, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Lossy codec: a quantisation-aware autoencoder and an entropy coder.

    ``fit`` clones ``autoencoder`` and trains it with its codes squashed to
    ``[0, 2**bits - 1]`` and perturbed by uniform noise, a differentiable stand-in for
    rounding (Ballé et al., 2017); at inference the codes are rounded to integer levels.
    The frequency of each level in each code dimension on the training data gives the
    probability model of an ANS entropy coder (``constriction``). :meth:`compress` writes
    the codes of a whole array as one payload with a small header;
    :meth:`decompress` reads it back.

    Parameters
    ----------
    autoencoder : skae autoencoder, default=None
        The network to train (cloned, never modified), e.g.
        ``ConvAutoEncoder(latent_dim=32)``; its ``latent_dim``, architecture, training
        parameters and ``random_state`` apply. None uses skae's default autoencoder
        (:func:`skae._defaults.default_autoencoder`, the rule every estimator shares):
        for data of 3 or more dimensions (images) a ``ConvAutoEncoder`` with a 32-d code
        and channels ``(16, 32, 64)`` cut to the image size, for tables a
        ``DenseAutoEncoder`` with a code of a quarter of the features (2 to 16).
        Tabular features should share a scale (standardise them first).
    bits : int, default=4
        Bits per code value before entropy coding: each code dimension takes one of
        ``2**bits`` levels. The payload holds fewer bits after entropy coding.
    rate_weight : float, default=0.0
        Weight of a rate penalty added to the gradient of the reconstruction loss: the
        estimated bits per input value of the noisy codes, each code dimension modelled
        as a discretised logistic with the batch's mean and spread. Larger values
        concentrate the codes on fewer levels, for smaller payloads and larger
        distortion; 0 trains for distortion only, at the given ``bits``. Its scale is
        that of the loss (e.g. 0.01 to 0.1 for images in [0, 1] with ``loss="mse"``).

    Attributes
    ----------
    autoencoder_ : skae autoencoder
        The trained clone. Its encoder is wrapped so that ``autoencoder_.transform``
        returns the quantised codes scaled to [0, 1].
    latent_dim_ : int
        Number of code values per sample.
    probabilities_ : ndarray of shape (`latent_dim_`, 2**bits), float32
        Probability of each level per code dimension: the entropy model.
    fingerprint_ : str
        Hex digest of the fitted model, written into each payload.
    entropy_model_nbytes_ : int
        Size of the entropy model (``probabilities_``); not part of any payload.
    decoder_nbytes_ : int
        Size of the decoder's float32 parameters; not part of any payload.
    train_bits_per_value_ : float
        Rate of the training data under the entropy model (its empirical
        cross-entropy), before header and coder overhead.
    n_features_in_ : int
        Number of values per sample seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has feature names
        that are all strings.

    See Also
    --------
    rate_distortion_curve : Sweep codecs and baselines, PSNR/SSIM against bits per value.
    ConvAutoEncoder, DenseAutoEncoder : Networks to pass as ``autoencoder``.

    Notes
    -----
    ``decompress(compress(X))`` equals ``reconstruct(X)`` exactly: both decode the same
    integer levels through the same batches. A payload carries its model's fingerprint
    and a CRC-32; truncated or corrupted payloads, payloads of another model, and headers
    that claim more samples than their body can hold (checked before anything is decoded
    or allocated) raise :class:`InvalidPayloadError`, and nothing else escapes from the
    entropy coder. The model (network, tables) is not in the payload.

    References
    ----------
    .. [1] J. Ballé, V. Laparra and E. P. Simoncelli, "End-to-end optimized image
       compression", ICLR 2017.
    .. [2] J. Duda, "Asymmetric numeral systems", arXiv:0902.0271, 2009.

    Examples
    --------
    >>> from skae import ConvAutoEncoder
    >>> from skae.compression import AutoEncoderCodec
    >>> from skae.datasets import load_fashion_mnist_subset
    >>> X, _ = load_fashion_mnist_subset(return_X_y=True)
    >>> ae = ConvAutoEncoder(latent_dim=8, channels=(8, 16), max_epochs=2, random_state=0)
    >>> codec = AutoEncoderCodec(ae, bits=3).fit(X[:500])
    >>> payload = codec.compress(X[500:600])
    >>> X_decoded = codec.decompress(payload)
    >>> X_decoded.shape, bool((X_decoded == codec.reconstruct(X[500:600])).all())
    ((100, 28, 28), True)
    >>> codec.bits_per_value(payload) < 8 * 3 / 784 + 0.01
    True
    """

    _parameter_constraints: dict = {
        "autoencoder": [HasMethods(["fit", "transform"]), None],
        "bits": [Interval(Integral, 1, 16, closed="both")],
        "rate_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, autoencoder=None, *, bits=4, rate_weight=0.0):
        self.autoencoder = autoencoder
        self.bits = bits
        self.rate_weight = rate_weight

    def _make_autoencoder(self, X):
        if self.autoencoder is None:
            return default_autoencoder(X)
        if not isinstance(self.autoencoder, BaseAutoEncoder):
            raise TypeError(
                "autoencoder must be a skae autoencoder (e.g. ConvAutoEncoder, "
                f"DenseAutoEncoder), got {type(self.autoencoder).__name__}."
            )
        if self.autoencoder._contrastive_on():
            raise ValueError(
                "AutoEncoderCodec trains its autoencoder for rate and distortion only; "
                "set contrastive=None on the autoencoder."
            )
        return clone(self.autoencoder)

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Train the autoencoder aware of quantisation and fit the entropy model.

        Parameters
        ----------
        X : array-like
            Training data, in any layout the autoencoder accepts. Not modified.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        ae = self._make_autoencoder(X)
        ae._validate_params()
        X = ae._check_input(X, reset=True)
        n_values = math.prod(X.shape[1:])
        ae._fit_network(
            X,
            wrap_encoder=lambda encoder: QuantisedEncoder(
                encoder, ae.latent_dim, self.bits, self.rate_weight, n_values
            ),
        )
        quantiser = ae.net_.module_.encoder
        quantiser.calibrate(
            ae._map_batches(lambda m, x: m.encoder.encoder(x), X, scale_input=True)
        )
        self.autoencoder_ = ae
        self.n_features_in_ = ae.n_features_in_
        if hasattr(ae, "feature_names_in_"):
            self.feature_names_in_ = ae.feature_names_in_
        self.latent_dim_ = int(ae.latent_dim)

        levels = self._encode_levels(X)
        self.probabilities_ = fit_probabilities(levels, 2**self.bits)
        log_p = np.log2(self.probabilities_.astype(np.float64))
        self.train_bits_per_value_ = float(
            -log_p[np.arange(self.latent_dim_), levels].sum() / (len(X) * n_values)
        )
        module = ae.net_.module_
        self._fingerprint = fingerprint(
            type(ae).__name__,
            X.shape[1:],
            self.bits,
            *module.state_dict().values(),
            self.probabilities_,
        )
        self.fingerprint_ = self._fingerprint.hex()
        self.entropy_model_nbytes_ = int(self.probabilities_.nbytes)
        self.decoder_nbytes_ = int(4 * sum(p.numel() for p in module.decoder.parameters()))
        return self

    # -- what the bitstream carries ---------------------------------------------------
    def _validate(self, X):
        return self.autoencoder_._check_input(X, reset=False)

    def _encode_levels(self, X):
        levels = self.autoencoder_._map_batches(
            lambda m, x: m.encoder.quantise(x), X, scale_input=True
        )
        return levels.astype(np.int64)

    def _decode_levels(self, levels):
        max_level = float(2**self.bits - 1)
        ae = self.autoencoder_
        scale = ae.input_scale_
        out = ae._map_batches(lambda m, q: m.decode(q / max_level) * scale, levels)
        return ae._to_sample_shape(out)

    # -- transformer API ---------------------------------------------------------------
    def transform(self, X):
        """Quantised codes: integer levels in ``[0, 2**bits - 1]``.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``

        Returns
        -------
        levels : ndarray of shape (n_samples, `latent_dim_`), int64
        """
        check_is_fitted(self, "probabilities_")
        return self._encode_levels(self._validate(X))

    def inverse_transform(self, X):
        """Decode integer levels (from :meth:`transform`) to data.

        Parameters
        ----------
        X : array-like of shape (n_samples, `latent_dim_`)
            Integer levels in ``[0, 2**bits - 1]``.

        Returns
        -------
        X_decoded : ndarray, float32
            In the sample shape seen at ``fit``.
        """
        check_is_fitted(self, "probabilities_")
        levels = check_array(X, dtype=None, input_name="levels")
        max_level = 2**self.bits - 1
        if levels.shape[1] != self.latent_dim_:
            raise ValueError(
                f"levels have {levels.shape[1]} columns, the codec has "
                f"latent_dim_={self.latent_dim_}."
            )
        if (
            np.any(levels != np.round(levels))
            or levels.min() < 0
            or levels.max() > max_level
        ):
            raise ValueError(
                f"levels must be integers in [0, {max_level}] (bits={self.bits}), "
                "as returned by transform."
            )
        return self._decode_levels(levels.astype(np.int64))

    @property
    def _n_features_out(self):
        return self.latent_dim_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # codes are integers
        return tags
