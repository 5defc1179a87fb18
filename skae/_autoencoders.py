"""The public autoencoders: dense (tabular), convolutional (images, signals), linear (PCA)."""

import math
from numbers import Integral

import numpy as np

from ._compat import Interval
from ._base import BaseAutoEncoder
from ._docstrings import fill_doc
from ._samples import check_sample_shape, flatten_samples, refuse_channels_last, validate_rows
from .nn import ConvDecoder, ConvEncoder, DenseDecoder, DenseEncoder


class _TabularAutoEncoder(BaseAutoEncoder):
    """Flat ``(n_samples, n_features)`` input, returned in the same shape."""

    _AUTO_BATCH_SIZE = 128

    def _validate_input(self, X, reset):
        return validate_rows(self, X, reset)

    def _to_sample_shape(self, array):
        return array


@fill_doc
class DenseAutoEncoder(_TabularAutoEncoder):
    """Fully connected autoencoder for tabular data and flat vectors.

    The encoder maps ``n_features -> hidden_layer_sizes -> latent_dim``; the decoder mirrors
    it. Standardise features first (``StandardScaler`` in a ``Pipeline``) unless they share
    a scale.

    Parameters
    ----------
    latent_dim : int, default=8
        Size of the code.
    hidden_layer_sizes : tuple of int, default=(128, 64)
        Widths of the encoder's hidden layers; the decoder uses them reversed.
    activation : str or type of torch.nn.Module, default="relu"
        Hidden activation: ``"relu"``, ``"leaky_relu"``, ``"elu"``, ``"gelu"``,
        ``"silu"``, ``"tanh"``, ``"sigmoid"`` or a module class.
    {training_parameters}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    ConvAutoEncoder : For images and 1-D signals.
    LinearAutoEncoder : No nonlinearity; learns PCA's subspace.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skae import DenseAutoEncoder
    >>> X, _ = load_breast_cancer(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), DenseAutoEncoder(latent_dim=4, max_epochs=20,
    ...                                                          random_state=0))
    >>> model.fit_transform(X).shape
    (569, 4)
    """

    _parameter_constraints: dict = {
        **BaseAutoEncoder._parameter_constraints,
        "hidden_layer_sizes": ["array-like"],
        "activation": [str, type],
    }

    def __init__(
        self,
        latent_dim=8,
        *,
        hidden_layer_sizes=(128, 64),
        activation="relu",
        loss="mse",
        output_activation="auto",
        input_scale="auto",
        max_epochs="auto",
        batch_size="auto",
        lr=1e-3,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation

    def _build_encoder_decoder(self, network_shape):
        hidden = [int(h) for h in np.atleast_1d(self.hidden_layer_sizes)]
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive, got {hidden}.")
        (n_features,) = network_shape
        return (
            DenseEncoder(n_features, hidden, self._encoder_width(), self.activation),
            DenseDecoder(n_features, hidden, self.latent_dim, self.activation),
        )


@fill_doc
class LinearAutoEncoder(_TabularAutoEncoder):
    """Autoencoder with one linear encoder and one linear decoder layer: PCA, learned.

    With the squared error (and no ``corruption`` or ``contrastive`` term), every local
    minimum of a linear autoencoder is global and its decoder spans the top-``latent_dim``
    principal subspace (Baldi & Hornik, 1989). The
    default optimizer, full-batch L-BFGS, reaches it in a few dozen epochs. The weights are
    not orthonormal, so the codes are the principal components up to an invertible map.

    Parameters
    ----------
    latent_dim : int, default=2
        Size of the code (number of components).
    {training_parameters}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    sklearn.decomposition.PCA : The closed-form solution of the same problem.
    DenseAutoEncoder : The nonlinear version.

    References
    ----------
    .. [1] P. Baldi and K. Hornik, "Neural networks and principal component analysis:
       Learning from examples without local minima", Neural Networks 2(1), 1989.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import LinearAutoEncoder
    >>> X = load_digits().data / 16
    >>> ae = LinearAutoEncoder(latent_dim=3, random_state=0).fit(X)
    >>> ae.transform(X).shape
    (1797, 3)
    """

    def __init__(
        self,
        latent_dim=2,
        *,
        loss="mse",
        output_activation="identity",
        input_scale="auto",
        max_epochs="auto",
        batch_size="auto",
        lr=1.0,
        optimizer="lbfgs",
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

    def _default_optimizer_params(self):
        if self.optimizer == "lbfgs":
            return {"max_iter": 20, "line_search_fn": "strong_wolfe"}
        return {}

    def _build_encoder_decoder(self, network_shape):
        (n_features,) = network_shape
        args = (n_features, (), self.latent_dim)
        return DenseEncoder(*args), DenseDecoder(*args)


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
        Size of the code.
    channels : tuple of int, default=(32, 64, 128)
        Output channels of each downsampling level. Every spatial axis must be at least
        ``2 ** len(channels)`` long (8 by default; use fewer levels for smaller inputs).
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
    """

    _AUTO_BATCH_SIZE = 64

    _parameter_constraints: dict = {
        **BaseAutoEncoder._parameter_constraints,
        "channels": ["array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "activation": [str, type],
        "layers_per_level": [Interval(Integral, 1, None, closed="left")],
        "image_shape": ["array-like", None],
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

    def _build_encoder_decoder(self, network_shape):
        in_channels, *spatial = network_shape
        channels = [int(c) for c in np.atleast_1d(self.channels)]
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty tuple of positive ints: {channels}.")
        min_size = 2 ** len(channels)
        if any(s < min_size for s in spatial):
            raise ValueError(
                f"Input of {math.prod(spatial)} feature(s) per channel, spatial shape "
                f"{tuple(spatial)}, is too small for {len(channels)} downsampling level(s) "
                f"(channels={tuple(channels)}): every axis needs at least {min_size} values. "
                "Use fewer levels in channels or larger inputs."
            )
        layers = (self.kernel_size, self.activation, self.layers_per_level)
        return (
            ConvEncoder(in_channels, tuple(spatial), channels, self._encoder_width(), *layers),
            ConvDecoder(in_channels, tuple(spatial), channels, self.latent_dim, *layers),
        )

