"""Image preprocessing that removes nuisances before an autoencoder sees the images.

A particle photographed at any angle and position is the same particle. An autoencoder
trained on such images spends its code on the angle and the offset, and the codes of one
kind spread over a ring instead of forming a cluster. :class:`ImageAligner` removes both
before training: it moves each image's centre of mass to the centre and turns its
principal axis horizontal, so that the code describes the shape.
"""

import numpy as np
from scipy.ndimage import affine_transform
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import StrOptions, fit_context
from ._samples import check_sample_shape, flatten_samples, refuse_channels_last

__all__ = ["ImageAligner"]


class ImageAligner(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Centre each image on its centre of mass and turn its principal axis horizontal.

    For every image, the pixel intensities above the image's median (its background)
    weigh the pixel positions. Their mean is the centre of mass; the eigenvector of their
    covariance with the largest eigenvalue is the principal axis. The image is resampled
    (bilinear) so that the centre of mass lands on the image centre and the principal
    axis is horizontal; the sign of the third moment along the axis then picks one of
    the two ways round: the mass is skewed to the right (its bulk on the left, its
    longer tail on the right). Stateless:
    ``fit`` only records the sample shape.

    Rows of a 2-D array are 1-D signals; they are only centred.

    Parameters
    ----------
    center : bool, default=True
        Move the centre of mass to the centre of the image (pixels shifted in from
        outside take the image's median).
    rotate : bool, default=True
        Turn the principal axis horizontal, the bulk of the mass on the left. Round
        objects have no principal axis; their orientation is left to their texture.
    flip : bool, default=False
        Also mirror the image top-down where its third moment across the axis is
        negative, so that mirror images align too. Use it only where a mirror image is
        the same kind of thing (particles, cells; not text).
    polarity : {"bright", "dark"}, default="bright"
        Whether objects are brighter than the background (fluorescence, dark field,
        optical density) or darker (bright field); ``"dark"`` weighs pixels by how far
        they lie *below* the median.

    Attributes
    ----------
    sample_shape_ : tuple of int
        Shape of one sample seen at ``fit``: ``(H, W)``, ``(C, H, W)`` or ``(L,)``.
    n_features_in_ : int
        Number of values per sample.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has feature names
        that are all strings (a table of 1-D signals).

    See Also
    --------
    skae.augmentation.RandomAffine : Random rotations and shifts while training, the
        other way to make codes ignore orientation (``contrastive``).

    Notes
    -----
    Cost: one bilinear resampling per image, about as long as a forward pass of a small
    autoencoder; nothing is learned. The alignment is only as good as the principal
    axis: elongated objects (fibres, diatoms, shards) align well; for nearly round
    objects the axis follows noise and texture, which a rotation-augmented training
    (``contrastive``) handles better.

    Examples
    --------
    >>> import numpy as np
    >>> from skae.preprocessing import ImageAligner
    >>> bar = np.zeros((1, 15, 15))
    >>> bar[0, 2:13, 3:5] = 1.0  # a vertical bar, left of centre
    >>> aligned = ImageAligner().fit_transform(bar)
    >>> rows, cols = np.nonzero(aligned[0] > 0.5)
    >>> int(np.ptp(cols)) > int(np.ptp(rows))  # now horizontal
    True
    >>> round(float(rows.mean()), 1), round(float(cols.mean()), 1)  # and centred
    (7.0, 7.0)
    """

    _parameter_constraints: dict = {
        "center": ["boolean"],
        "rotate": ["boolean"],
        "flip": ["boolean"],
        "polarity": [StrOptions({"bright", "dark"})],
    }

    def __init__(self, *, center=True, rotate=True, flip=False, polarity="bright"):
        self.center = center
        self.rotate = rotate
        self.flip = flip
        self.polarity = polarity

    def _validate(self, X, reset):
        refuse_channels_last(self, X, flat_rows_hint=False)
        integer = getattr(X, "dtype", None) in (np.uint8, np.uint16)
        X, sample_shape = flatten_samples(X)
        X = validate_data(self, X, reset=reset,
                          dtype=None if integer else [np.float64, np.float32])
        shape = tuple(sample_shape or (X.shape[1],))
        if reset:
            self.sample_shape_ = shape
        else:
            check_sample_shape(self, sample_shape, self.sample_shape_)
        return X.reshape(len(X), *self.sample_shape_)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the sample shape; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W), (n_samples, C, H, W) or (n_samples, L)
            Images (or 1-D signals).
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        self._validate(X, reset=True)
        return self

    def transform(self, X):
        """Align every image.

        Parameters
        ----------
        X : array-like of the sample shape seen at ``fit``
            Images to align; not modified.

        Returns
        -------
        X_aligned : ndarray of the shape of ``X``
            The aligned images, in the dtype of ``X`` (float32 and integer images keep
            theirs, rounded and clipped; anything else becomes float64).
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        out = np.empty(X.shape, dtype=X.dtype)
        # Pixel coordinates, shared by every image: (2, H * W).
        grid = (np.indices(X.shape[-2:]).reshape(2, -1).astype(np.float64)
                if X.ndim > 2 else None)
        for i, sample in enumerate(X):
            out[i] = self._align(sample, grid)
        return out

    # ------------------------------------------------------------------ one image
    def _weights(self, values, background):
        weights = values - background if self.polarity == "bright" else background - values
        return np.maximum(weights, 0.0)

    def _align(self, sample, grid):
        values = np.asarray(sample, dtype=np.float64)
        image = values if values.ndim == 1 else values.reshape(-1, *values.shape[-2:])
        background = float(np.median(image))
        intensity = image if image.ndim == 1 else image.sum(axis=0)
        weights = self._weights(intensity, background * (1 if image.ndim == 1
                                                         else len(image)))
        total = weights.sum()
        if not np.isfinite(total) or total <= 0:
            return sample  # blank: nothing to align on
        if image.ndim == 1:
            return self._cast(self._shift_signal(image, weights, total, background), sample)
        w = weights.ravel() / total
        centroid = grid @ w
        centre = (np.asarray(weights.shape, dtype=np.float64) - 1) / 2
        matrix = np.eye(2)
        if self.rotate:
            matrix = self._rotation(grid - centroid[:, None], w)
        # output o -> input centroid + M (o - centre); without centring, o's centre is
        # the centroid itself (the object stays where it is).
        anchor = centre if self.center else centroid
        offset = centroid - matrix @ anchor
        aligned = np.stack([
            affine_transform(channel, matrix, offset=offset, order=1, mode="constant",
                             cval=background)
            for channel in image
        ])
        return self._cast(aligned.reshape(values.shape), sample)

    def _rotation(self, deviations, w):
        """Columns (down, right) of the output axes in input coordinates."""
        covariance = (deviations * w) @ deviations.T
        _, vectors = np.linalg.eigh(covariance)
        axis = vectors[:, 1]  # largest eigenvalue
        if np.sum(w * (axis @ deviations) ** 3) < 0:
            axis = -axis  # positive skew along the axis: the longer tail to the right
        across = np.array([axis[1], -axis[0]])  # a proper rotation (det = +1)
        if self.flip and np.sum(w * (across @ deviations) ** 3) < 0:
            across = -across
        return np.column_stack([across, axis])

    def _shift_signal(self, signal, weights, total, background):
        if not self.center:
            return signal
        centroid = np.arange(len(signal)) @ weights / total
        shift = (len(signal) - 1) / 2 - centroid
        return affine_transform(signal, np.ones(1), offset=-shift, order=1,
                                mode="constant", cval=background)

    @staticmethod
    def _cast(values, like):
        dtype = np.asarray(like).dtype
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            return np.clip(np.rint(values), info.min, info.max).astype(dtype)
        return values.astype(dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.requires_fit = True
        return tags
