"""Variational autoencoders (dense and convolutional): codes, samples and likelihoods.

:class:`VariationalDenseAutoEncoder` and :class:`VariationalConvAutoEncoder` are the
dense and convolutional autoencoders with a Gaussian posterior, a standard normal prior
and a decoder likelihood (Kingma & Welling, 2014). They share everything else with
their deterministic parents (input layouts, training plan, devices, precision,
corruption, persistence, export); :class:`~skae._variational_base.VariationalMixin`
adds what is variational.
"""

from ._autoencoders import DenseAutoEncoder
from ._conv_autoencoder import ConvAutoEncoder
from ._variational_base import VARIATIONAL_CONSTRAINTS, VariationalMixin, variational_doc


@variational_doc
class VariationalDenseAutoEncoder(VariationalMixin, DenseAutoEncoder):
    """Fully connected variational autoencoder: codes, samples and likelihoods of tables.

    :class:`DenseAutoEncoder`'s network with a Gaussian posterior: the encoder outputs a
    mean and a log-variance per code dimension, the prior is ``N(0, I)``, and training
    maximises the ELBO. :meth:`transform` returns the posterior mean (deterministic),
    :meth:`inverse_transform` the decoder's mean for given codes, :meth:`sample` draws
    new rows, :meth:`score_samples` estimates each row's log-likelihood and
    :meth:`score` is their mean. Standardise features first (``StandardScaler``).

    Parameters
    ----------
    latent_dim : int, default=8
        Size of the code.
    hidden_layer_sizes : tuple of int, default=(128, 64)
        Widths of the encoder's hidden layers; the decoder uses them reversed.
    activation : str or type of torch.nn.Module, default="relu"
        Hidden activation (see :class:`DenseAutoEncoder`).
    {variational_parameters}
    {training_parameters}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    VariationalConvAutoEncoder : For images and 1-D signals.
    DenseAutoEncoder : The deterministic version.
    sklearn.decomposition.PCA : Probabilistic PCA, whose ``score`` is also a mean
        log-likelihood.

    Notes
    -----
    {variational_notes}

    References
    ----------
    {variational_references}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import VariationalDenseAutoEncoder
    >>> X = load_digits().data / 16
    >>> vae = VariationalDenseAutoEncoder(latent_dim=4, max_epochs=10,
    ...                                   random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape, vae.sample(2, random_state=0).shape
    ((3, 4), (2, 64))
    >>> noise = np.random.RandomState(0).rand(100, 64)
    >>> bool(vae.score(X) > vae.score(noise))
    True
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in DenseAutoEncoder._parameter_constraints.items() if k != "loss"},
        **VARIATIONAL_CONSTRAINTS,
    }

    def __init__(
        self,
        latent_dim=8,
        *,
        hidden_layer_sizes=(128, 64),
        activation="relu",
        likelihood="gaussian",
        variance="per_feature",
        beta=1.0,
        n_importance_samples=32,
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
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.variance = variance
        self.beta = beta
        self.n_importance_samples = n_importance_samples
        self.output_activation = output_activation
        self.input_scale = input_scale
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.corruption = corruption
        self.contrastive = contrastive
        self.contrastive_weight = contrastive_weight
        self.contrastive_temperature = contrastive_temperature
        self.callbacks = callbacks
        self.net_params = net_params
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose


@variational_doc
class VariationalConvAutoEncoder(VariationalMixin, ConvAutoEncoder):
    """Convolutional variational autoencoder: codes, samples and likelihoods of images.

    :class:`ConvAutoEncoder`'s network (same input layouts: ``(n, H, W)``, ``(n, C, H,
    W)``, ``(n, L)`` or flat rows with ``image_shape``) with a Gaussian posterior: the
    encoder outputs a mean and a log-variance per code dimension, the prior is ``N(0,
    I)``, and training maximises the ELBO. :meth:`transform` returns the posterior mean
    (deterministic), :meth:`inverse_transform` the decoder's mean for given codes,
    :meth:`sample` draws new images, :meth:`score_samples` estimates each image's
    log-likelihood and :meth:`score` is their mean.

    Parameters
    ----------
    latent_dim : int, default=16
        Size of the code.
    channels : tuple of int, default=(32, 64, 128)
        Output channels of each stride-2 level (see :class:`ConvAutoEncoder`).
    kernel_size : int, default=3
        Odd convolution kernel size.
    activation : str or type of torch.nn.Module, default="relu"
        Hidden activation.
    layers_per_level : int, default=1
        Convolutions per level in the encoder (mirrored in the decoder).
    image_shape : tuple of int, default=None
        Shape of one sample when ``X`` comes as flat 2-D rows (see
        :class:`ConvAutoEncoder`).
    {variational_parameters}
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
    VariationalDenseAutoEncoder : For tabular data.
    ConvAutoEncoder : The deterministic version.

    Notes
    -----
    {variational_notes}

    References
    ----------
    {variational_references}

    Examples
    --------
    >>> from skae import VariationalConvAutoEncoder
    >>> from skae.datasets import load_fashion_mnist_subset
    >>> X, y = load_fashion_mnist_subset(return_X_y=True)
    >>> vae = VariationalConvAutoEncoder(latent_dim=8, channels=(8, 16), max_epochs=2,
    ...                                  random_state=0).fit(X[:500])
    >>> vae.transform(X[:4]).shape, vae.sample(3, random_state=0).shape
    ((4, 8), (3, 28, 28))
    >>> vae.score_samples(X[:4]).shape
    (4,)
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in ConvAutoEncoder._parameter_constraints.items()
           if k not in ("loss", "architecture", "residual", "mask_channel")},
        **VARIATIONAL_CONSTRAINTS,
    }
    # Not parameters: a VAE's code is its bottleneck (ConvAutoEncoder reads these).
    architecture = "bottleneck"
    residual = False
    mask_channel = False

    def __init__(
        self,
        latent_dim=16,
        *,
        channels=(32, 64, 128),
        kernel_size=3,
        activation="relu",
        layers_per_level=1,
        image_shape=None,
        likelihood="gaussian",
        variance="per_feature",
        beta=1.0,
        n_importance_samples=32,
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
        self.latent_dim = latent_dim
        self.channels = channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.layers_per_level = layers_per_level
        self.image_shape = image_shape
        self.likelihood = likelihood
        self.variance = variance
        self.beta = beta
        self.n_importance_samples = n_importance_samples
        self.output_activation = output_activation
        self.input_scale = input_scale
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.corruption = corruption
        self.contrastive = contrastive
        self.contrastive_weight = contrastive_weight
        self.contrastive_temperature = contrastive_temperature
        self.callbacks = callbacks
        self.net_params = net_params
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
