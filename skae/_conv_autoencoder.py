"""The convolutional autoencoder for images and signals: a bottleneck, or a U-Net.

The bottleneck (the default) is for representation; the U-Net (``architecture="unet"``,
skip connections, optionally a residual output) is for restoration.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.utils.metaestimators import available_if

from ._compat import Interval, StrOptions
from ._base import BaseAutoEncoder
from ._docstrings import fill_doc
from ._samples import check_sample_shape, flatten_samples, refuse_channels_last, validate_rows
from .nn import (
    ConvDecoder,
    ConvEncoder,
    UNetDecoder,
    UNetEncoder,
    UNetModule,
    unet_code_size,
)


@fill_doc
class ConvAutoEncoder(BaseAutoEncoder):
    """Convolutional autoencoder for images (2-D) and signals (1-D).

    Each entry of ``channels`` adds a stride-2 convolution that halves every spatial axis
    (rounding up, so any size works); a linear layer maps the last feature map to the
    code. The decoder mirrors the encoder with transposed convolutions and returns the
    exact input size.

    Accepted inputs: ``(n, H, W)`` grayscale images, ``(n, C, H, W)`` multi-channel images,
    ``(n, L)`` single-channel signals, or flat ``(n, H*W)`` / ``(n, C*H*W)`` rows with
    ``image_shape`` (so it can follow steps that output 2-D arrays in a ``Pipeline``).
    Channels-last arrays ``(n, H, W, C)`` (a last axis of 1, 3 or 4 after a second axis
    longer than 4) are refused with a ValueError that says to pass
    ``np.moveaxis(X, -1, 1)``; they are never read as H channels. Integer images
    (uint8, uint16) are scaled to [0, 1] batch by batch (see ``input_scale``).
    Outputs of ``inverse_transform`` and ``reconstruct`` have the shape seen at ``fit``.

    Parameters
    ----------
    latent_dim : int, default=16
        Size of the code; with ``architecture="unet"``, the channels of the spatial code.
    channels : tuple of int, default=(32, 64, 128)
        Output channels of each downsampling level. Every spatial axis must be at least
        ``2 ** len(channels)`` long (8 by default; use fewer levels for smaller inputs).
        With ``architecture="unet"``, ``channels[0]`` is the width at full resolution
        and each further entry adds a downsampling level (axes of at least
        ``2 ** (len(channels) - 1)``).
    architecture : {"bottleneck", "unet"}, default="bottleneck"
        The network.

        - ``"bottleneck"``: the whole sample passes through a code of ``latent_dim``
          numbers, which :meth:`inverse_transform` decodes. For representation,
          clustering, anomaly detection and compression: the code is what was learned.
        - ``"unet"``: a U-Net for restoration (de-noising, inpainting, ``fit_pairs``):
          the decoder also sees the encoder's feature map at every resolution (skip
          connections), so edges and texture need not fit through a small code. A
          network with skips can learn the identity, so train it on corrupted inputs
          (``corruption``, or ``fit_pairs``); a plain ``fit`` without corruption
          learns to copy. :meth:`transform` returns the flattened spatial code, of
          ``latent_dim * h * w`` numbers for the deepest ``h x w`` map, which is not a
          compact representation; there is no :meth:`inverse_transform`, and the
          contrastive term and the codecs of :mod:`skae.compression` are refused.
          Measured on photographs in ``benchmarks/bench_restoration_photos.py`` (see
          the restoration guide).
    residual : bool, default=False
        With ``architecture="unet"`` only: the network predicts a correction added to
        its input (residual learning, as DnCNN), clipped to the output activation's
        range (``"sigmoid"``: [0, 1], ``"tanh"``: [-1, 1], ``"identity"``: none)
        instead of passed through it. Suits de-noising, where the correction is small.
    mask_channel : bool, default=False
        With ``architecture="unet"`` only: the network reads one more input channel
        that marks the missing entries, so that it knows which pixels to fill instead of
        guessing it from the first guess's look. In training the mark is where the
        masking corruptions (:class:`~skae.corruption.BlockMask`,
        :class:`~skae.corruption.PixelDropout`) hid pixels; in :meth:`inpaint` it is
        the ``mask`` given; :meth:`reconstruct`, :meth:`transform` and the exported
        encoder mark nothing missing.
    kernel_size : int, default=3
        Odd convolution kernel size.
    activation : str or type of torch.nn.Module, default="relu"
        Hidden activation (see :class:`DenseAutoEncoder`).
    layers_per_level : int, default=1
        Convolutions per level in the encoder (and mirrored in the decoder): one stride-2
        convolution plus ``layers_per_level - 1`` stride-1 ones at the same resolution.
    image_shape : tuple of int, default=None
        Shape of one sample when ``X`` comes as flat 2-D rows: ``(L,)``, ``(H, W)`` or
        ``(C, H, W)``. If None, 2-D input is read as 1-D signals of length ``n_features``.
    {training_parameters}

    Attributes
    ----------
    {fitted_attributes}
    sample_shape_ : tuple of int
        Shape of one sample as given to ``fit`` (e.g. ``(28, 28)`` or ``(784,)``).
    image_shape_ : tuple of int
        Shape of one sample as the network sees it: ``(C, H, W)`` or ``(C, L)``.

    See Also
    --------
    DenseAutoEncoder : For tabular data.

    Examples
    --------
    >>> from skae import ConvAutoEncoder
    >>> from skae.datasets import load_fashion_mnist_subset
    >>> X, y = load_fashion_mnist_subset(return_X_y=True)
    >>> ae = ConvAutoEncoder(latent_dim=8, channels=(8, 16), max_epochs=2, random_state=0)
    >>> codes = ae.fit_transform(X[:500])
    >>> codes.shape, ae.inverse_transform(codes).shape
    ((500, 8), (500, 28, 28))

    A blind de-noiser: a U-Net trained on a range of noise levels.

    >>> from skae.corruption import GaussianNoise
    >>> unet = ConvAutoEncoder(8, channels=(8, 16), architecture="unet", residual=True,
    ...                        corruption=GaussianNoise((0.0, 0.2)), max_epochs=2,
    ...                        random_state=0).fit(X[:500])
    >>> unet.reconstruct(X[:2]).shape, unet.transform(X[:2]).shape  # 8 channels of 14x14
    ((2, 28, 28), (2, 1568))
    """

    _AUTO_BATCH_SIZE = 64

    _parameter_constraints: dict = {
        **BaseAutoEncoder._parameter_constraints,
        "channels": ["array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "activation": [str, type],
        "layers_per_level": [Interval(Integral, 1, None, closed="left")],
        "image_shape": ["array-like", None],
        "architecture": [StrOptions({"bottleneck", "unet"})],
        "residual": ["boolean"],
        "mask_channel": ["boolean"],
    }

    def __init__(
        self,
        latent_dim=16,
        *,
        channels=(32, 64, 128),
        kernel_size=3,
        activation="relu",
        layers_per_level=1,
        image_shape=None,
        architecture="bottleneck",
        residual=False,
        mask_channel=False,
        loss="mse",
        output_activation="auto",
        input_scale="auto",
        max_epochs="auto",
        batch_size="auto",
        lr=2e-3,
        optimizer="adam",
        optimizer_params=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        corruption=None,
        contrastive=None,
        contrastive_weight=1.0,
        contrastive_temperature=0.5,
        callbacks=None,
        net_params=None,
        device="auto",
        precision="32",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            latent_dim=latent_dim,
            loss=loss,
            output_activation=output_activation,
            input_scale=input_scale,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            optimizer_params=optimizer_params,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            corruption=corruption,
            contrastive=contrastive,
            contrastive_weight=contrastive_weight,
            contrastive_temperature=contrastive_temperature,
            callbacks=callbacks,
            net_params=net_params,
            device=device,
            precision=precision,
            random_state=random_state,
            verbose=verbose,
        )
        self.channels = channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.layers_per_level = layers_per_level
        self.image_shape = image_shape
        self.architecture = architecture
        self.residual = residual
        self.mask_channel = mask_channel

    # -- input layout -------------------------------------------------------------
    def _network_shape_for(self, sample_shape, n_features):
        """Network layout ``(C, H, W)`` / ``(C, L)`` of one sample, decided at fit."""
        if sample_shape is not None:
            if len(sample_shape) == 2:
                return (1, *sample_shape)
            if len(sample_shape) == 3:
                return tuple(sample_shape)
            raise ValueError(
                f"{type(self).__name__} takes X of shape (n, L), (n, H, W), (n, C, H, W) "
                f"or flat rows with image_shape; got {len(sample_shape) + 1}-D input."
            )
        if self.image_shape is None:
            return (1, n_features)
        image_shape = tuple(int(s) for s in np.atleast_1d(self.image_shape))
        if len(image_shape) not in (1, 2, 3) or math.prod(image_shape) != n_features:
            raise ValueError(
                f"image_shape={image_shape} does not fit rows of {n_features} features; "
                "give (L,), (H, W) or (C, H, W) whose product is n_features."
            )
        return image_shape if len(image_shape) == 3 else (1, *image_shape)

    def _validate_input(self, X, reset):
        refuse_channels_last(self, X)
        X, sample_shape = flatten_samples(X)
        if (
            sample_shape is not None
            and not reset
            and self._squeeze(sample_shape) != self._squeeze(self.image_shape_)
        ):
            # (1, H, W) and (H, W) are the same one-channel image.
            check_sample_shape(self, sample_shape, self.sample_shape_)
        X = validate_rows(self, X, reset)
        if reset:
            self.image_shape_ = self._network_shape_for(sample_shape, X.shape[1])
            self.sample_shape_ = sample_shape or (X.shape[1],)
        return X.reshape(len(X), *self.image_shape_)

    @staticmethod
    def _squeeze(shape):
        return tuple(shape[1:]) if len(shape) == 3 and shape[0] == 1 else tuple(shape)

    def _to_sample_shape(self, array):
        return array.reshape(len(array), *self.sample_shape_)

    def _channels(self):
        channels = [int(c) for c in np.atleast_1d(self.channels)]
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty tuple of positive ints: {channels}.")
        return channels

    def _build_encoder_decoder(self, network_shape):
        in_channels, *spatial = network_shape
        channels = self._channels()
        if self.residual and self.architecture != "unet":
            raise ValueError(
                "residual=True needs architecture='unet': a bottleneck's output is not a "
                "correction of its input."
            )
        if self.mask_channel and self.architecture != "unet":
            raise ValueError("mask_channel=True needs architecture='unet'.")
        if self.architecture == "unet" and self.contrastive is not None:
            raise ValueError(
                "The contrastive term acts on compact codes; architecture='unet' has a "
                "spatial code. Use architecture='bottleneck' with contrastive."
            )
        n_levels = len(channels) - (self.architecture == "unet")  # stride-2 levels
        min_size = 2**n_levels
        if any(s < min_size for s in spatial):
            raise ValueError(
                f"Input of {math.prod(spatial)} feature(s) per channel, spatial shape "
                f"{tuple(spatial)}, is too small for {n_levels} downsampling level(s) "
                f"(channels={tuple(channels)}, architecture={self.architecture!r}): every "
                f"axis needs at least {min_size} values. Use fewer levels in channels or "
                "larger inputs."
            )
        layers = (self.kernel_size, self.activation, self.layers_per_level)
        if self.architecture == "unet":
            return (
                UNetEncoder(in_channels, tuple(spatial), channels, self.latent_dim, *layers,
                            mask_channel=self.mask_channel),
                UNetDecoder(in_channels, tuple(spatial), channels, self.latent_dim, *layers),
            )
        return (
            ConvEncoder(in_channels, tuple(spatial), channels, self._encoder_width(), *layers),
            ConvDecoder(in_channels, tuple(spatial), channels, self.latent_dim, *layers),
        )

    def _build_module(self, encoder, decoder, projection, network_shape):
        if self.architecture != "unet":
            return super()._build_module(encoder, decoder, projection, network_shape)
        if not isinstance(encoder, UNetEncoder):
            raise ValueError(
                "architecture='unet' cannot be wrapped (e.g. by a codec's quantiser): its "
                "decoder needs the encoder's skip connections, not only a code."
            )
        return UNetModule(encoder, decoder, self.output_activation_, self.residual)

    @property
    def _n_features_out(self):
        if self.architecture != "unet":
            return super()._n_features_out
        return self.net_ and unet_code_size(
            self.image_shape_[1:], self._channels(), self.latent_dim
        )

    @available_if(lambda self: self.architecture != "unet")
    def inverse_transform(self, X):
        """Decode latent codes back to data space (not with ``architecture="unet"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_reconstructed : ndarray
            Data in the sample shape seen at ``fit``.
        """
        return super().inverse_transform(X)
