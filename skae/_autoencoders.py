"""The tabular autoencoders: dense, and linear (PCA's subspace).

The convolutional one is in :mod:`skae._conv_autoencoder`.
"""

import numpy as np

from ._base import BaseAutoEncoder
from ._docstrings import fill_doc
from ._samples import validate_rows
from .nn import DenseDecoder, DenseEncoder


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
