"""The shared autoencoder estimator: parameters, validation, fit -> ``net_``, inference.

Concrete classes (:mod:`skae._autoencoders`) say only how to read their input
(``_validate_input``), how to give data back in the caller's shape (``_to_sample_shape``)
and which encoder/decoder to build (``_build_encoder_decoder``). Optional hooks change
what is trained: ``_build_module``, ``_encoder_width``, ``_reconstruction_loss`` (with
``_unit_interval_terms``, how its range error reads) and the training plan's
``_criterion`` (the variational autoencoders, :mod:`skae._variational`).

The protected API
-----------------
Estimators built on an autoencoder (:class:`~skae.AEAnomalyDetector`,
:class:`~skae.AutoEncoderCodec`, :class:`~skae.EncoderClassifier`,
:mod:`skae.persistence`) use the autoencoder they hold through these methods only,
listed in :data:`PROTECTED_API` (``tests/test_layout.py`` refuses any other call from
one module into another's private names):

``_validate_params()``
    scikit-learn's parameter check, for a composer that fits through ``_fit_network``.
``_check_input(X, reset)``
    X (array or map-style dataset) validated into the network's layout ``(n, ...)``.
``_fit_network(X, target=None, *, wrap_encoder=None)``
    Train ``net_`` on network-layout data (``target``: clean outputs to learn);
    ``wrap_encoder(encoder)`` replaces the encoder by a module around it for this fit.
``_build_net(network_shape, seed, device, wrap_encoder=None)``
    The untrained skorch net ``fit`` would build (persistence rebuilds it for weights).
``_map_batches(function, *arrays, dtype=float32, scale_input=False)``
    ``function(module, *batches)`` over batches on the fitted module, no gradients.
``_to_sample_shape(array)``
    Network-layout outputs back in the sample shape seen at ``fit``.
``_contrastive_on()``
    Whether the ``contrastive`` term is on.
"""
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval, Options, StrOptions, fit_context
from ._docstrings import fill_doc
from ._data import (
    ArrayDataset,
    DatasetArray,
    dataset_length,
    fetch_samples,
    is_map_dataset,
    map_batches,
    value_range,
)
from ._restoration import RestorationMixin
from ._training import TrainingPlanMixin
from ._runtime import (
    FLOAT_DTYPES,
    INTEGER_SCALES,
    OPTIMIZERS,
    draw_seed,
    keeps_state_on_failure,
    output_dtype,
    resolve_device,
    seeded,
)
from .corruption import make_corruption
from .losses import LOSSES, UNIT_INTERVAL_LOSSES, get_loss_function
from .nn import AutoEncoderModule, ProjectionHead, get_activation

#: The methods other modules may call on an autoencoder (see the module docstring).
PROTECTED_API = (
    "_validate_params",
    "_check_input",
    "_fit_network",
    "_build_net",
    "_map_batches",
    "_to_sample_shape",
    "_contrastive_on",
)


@fill_doc
class BaseAutoEncoder(
    TrainingPlanMixin,
    RestorationMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
    metaclass=ABCMeta,
):
    """Base class of skae autoencoders; subclass it for a new architecture.

    An abstract class: it cannot be instantiated. A subclass implements
    ``_validate_input`` (check X, return it in the network's layout),
    ``_to_sample_shape`` (give outputs back in the caller's shape),
    ``_build_encoder_decoder`` (the torch modules) and an ``__init__`` that lists its
    parameters explicitly, as scikit-learn requires, and passes these ones on.

    Parameters
    ----------
    latent_dim : int
        Size of the code.
    {training_parameters}

    Attributes
    ----------
    {fitted_attributes}
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "loss": [StrOptions(set(LOSSES)), callable],
        "output_activation": [StrOptions({"auto", "identity", "sigmoid", "tanh"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            Options(Integral, {-1}),
            StrOptions({"auto"}),
        ],
        "input_scale": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), callable],
        "optimizer_params": [dict, None],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "corruption": [callable, list, None],
        "contrastive": [callable, list, None],
        "contrastive_weight": [Interval(Real, 0, None, closed="left")],
        "contrastive_temperature": [Interval(Real, 0, None, closed="neither")],
        "callbacks": [list, None],
        "net_params": [dict, None],
        "device": [str, torch.device],
        "precision": [StrOptions({"32", "bf16-mixed", "16-mixed"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _AUTO_BATCH_SIZE = 128  # the "auto" batch size for large data; subclasses set theirs

    @abstractmethod
    def __init__(
        self,
        *,
        latent_dim,
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
        self.latent_dim = latent_dim
        self.loss = loss
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

    # ------------------------------------------------------------------ subclass API
    @abstractmethod
    def _validate_input(self, X, reset):
        """Check X; return it as a float array in the network's layout ``(n, ...)``."""

    @abstractmethod
    def _to_sample_shape(self, array):
        """Reshape network-layout outputs ``(n, ...)`` to the shape seen at fit."""

    @abstractmethod
    def _build_encoder_decoder(self, network_shape):
        """Return ``(encoder, decoder)`` for samples of ``network_shape``."""

    # ------------------------------------------------------------------ fitting
    @keeps_state_on_failure
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder to reconstruct ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...), or Dataset
            Training data. Not modified. A ``numpy.memmap`` or a map-style
            ``torch.utils.data.Dataset`` is read one batch at a time, never whole (see
            :ref:`scaling`).
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X = self._check_input(X, reset=True)
        self._fit_network(X)
        return self

    def _check_input(self, X, reset):
        """``_validate_input`` for arrays; a lazily validated view for a torch Dataset."""
        if is_map_dataset(X):
            return self._validate_dataset(X, reset)
        return self._validate_input(X, reset)

    def _validate_dataset(self, dataset, reset):
        """A map-style dataset as a :class:`DatasetArray`: its first samples set (at fit)
        or are checked against the fitted shape; every batch read later is validated the
        same way (dtype, shape, NaN/inf) by ``_validate_input``."""
        n_samples = dataset_length(dataset)
        n_min = 2 if reset else 1
        if n_samples < n_min:
            raise ValueError(
                f"Found a dataset with {n_samples} sample(s) while a minimum of {n_min} is "
                f"required by {type(self).__name__}."
            )
        first = self._validate_input(fetch_samples(dataset, range(n_min)), reset=reset)
        return DatasetArray(
            dataset,
            lambda batch: self._validate_input(batch, reset=False),
            n_samples,
            first.shape[1:],
            first.dtype,
        )

    def _reconstruction_loss(self):
        """The per-sample loss of ``reconstruction_error`` and of training (a name of
        :data:`~skae.losses.LOSSES` or a callable): ``loss`` here; a subclass without a
        ``loss`` parameter (the variational ones) says which."""
        return self.loss

    def _encoder_width(self):
        """Values the encoder outputs per sample: the code (a variational encoder
        outputs a mean and a log-variance per code dimension)."""
        return self.latent_dim

    def _unit_interval_terms(self):
        """What needs X in [0, 1] and what to use instead, for the error that says so:
        the loss here; a variational autoencoder names its likelihood."""
        return f"loss={self._reconstruction_loss()!r} needs every value of X", "loss='mse'"

    def _check_training_data(self, X):
        loss = self._reconstruction_loss()
        if isinstance(loss, str) and loss in UNIT_INTERVAL_LOSSES:
            low, high = self._scaled_range(X)
            if low < 0 or high > 1:
                what, instead = self._unit_interval_terms()
                raise ValueError(
                    f"{what} in [0, 1] (after input_scale); got values in "
                    f"[{low:.4g}, {high:.4g}]. Scale the data first (images as uint8 are "
                    "scaled for you, or use sklearn.preprocessing.MinMaxScaler), or use "
                    f"{instead}."
                )
        if self._contrastive_on() and self.optimizer == "lbfgs":
            raise ValueError(
                "contrastive needs a stochastic optimizer such as 'adam': L-BFGS evaluates "
                "each batch several times, and every evaluation draws new random views."
            )
        if self.early_stopping_ and len(X) - self._n_validation(len(X)) < 1:
            raise ValueError(
                f"early_stopping with validation_fraction={self.validation_fraction} "
                f"leaves no training sample out of n_samples={len(X)}."
            )

    def _contrastive_on(self):
        return self.contrastive not in (None, [], ())

    def _resolve_input_scale(self, X):
        """``input_scale_``: what every input value is divided by on its way in."""
        if self.input_scale is None:
            return 1.0
        if self.input_scale == "auto":
            return INTEGER_SCALES.get(np.dtype(X.dtype), 1.0)
        return float(self.input_scale)

    def _scaled_range(self, X):
        low, high = value_range(X)
        scale = self._resolve_input_scale(X)
        return low / scale, high / scale

    def _resolve_output_activation(self, X):
        if self.output_activation != "auto":
            return self.output_activation
        if self._reconstruction_loss() == "bce":
            return "sigmoid"
        low, high = self._scaled_range(X)
        if low >= 0 and high <= 1:
            return "sigmoid"
        return "identity"

    def _build_net(self, network_shape, seed, device, wrap_encoder=None):
        """The untrained skorch net for samples of ``network_shape`` (used by ``fit`` and
        by :func:`skae.persistence.load`); needs ``output_activation_``, ``input_scale_``,
        ``batch_size_`` and ``max_epochs_``. ``wrap_encoder(encoder)``, if given, returns
        the module used as the encoder (e.g. the codec's quantiser around it)."""
        encoder, decoder = self._build_encoder_decoder(network_shape)
        if wrap_encoder is not None:
            encoder = wrap_encoder(encoder)
        # Its own seed stream: the views must not shift the corruption's draws.
        contrastive = make_corruption(self.contrastive, seed + 1, device, "contrastive")
        projection = None if contrastive is None else ProjectionHead(self.latent_dim)
        module = self._build_module(encoder, decoder, projection, network_shape)
        corruption = make_corruption(self.corruption, seed, device)
        net = self._make_net(module, seed, device, corruption, contrastive)
        net.network_shape = tuple(network_shape)
        return net

    def _build_module(self, encoder, decoder, projection, network_shape):
        """The torch module trained: an :class:`~skae.nn.AutoEncoderModule`."""
        return AutoEncoderModule(
            encoder, decoder, get_activation(self.output_activation_), projection
        )

    def _fit_network(self, X, target=None, *, wrap_encoder=None):
        """Build and train ``net_`` on network-layout data (and optional clean targets);
        ``wrap_encoder`` as in :meth:`_build_net`."""
        reference = X if target is None else target
        self.input_scale_ = self._resolve_input_scale(X)
        self._resolve_training_plan(len(X))
        self._check_training_data(reference)
        device = resolve_device(self.device)
        seed = draw_seed(self.random_state)
        self.output_activation_ = self._resolve_output_activation(reference)
        with seeded(seed, device):
            net = self._warm_started_net(X.shape[1:])
            if net is None:
                net = self._build_net(X.shape[1:], seed, device, wrap_encoder)
            net.fit(ArrayDataset(X, target), y=None)
        net.module_.eval()  # inference then never switches modes (thread-safe)
        self.net_ = net
        self.history_ = net.history
        # Empty when Ctrl+C stopped the first epoch (RestoreOnInterrupt keeps the
        # initial weights then).
        self.loss_curve_ = [float(row["train_loss"]) for row in net.history]
        self.n_epochs_ = len(net.history)
        self.stop_reason_ = self._stop_reason(net)
        if len(net.history):
            net.history.record("stop_reason", self.stop_reason_)
        return self

    def _warm_started_net(self, network_shape):
        """With ``net_params={"warm_start": True}``, the fitted net to train further
        (same weights and optimizer state, ``max_epochs`` more epochs); None otherwise.
        Data of another shape than the fitted model's is a ValueError."""
        if not (self.net_params or {}).get("warm_start") or not hasattr(self, "net_"):
            return None
        fitted_shape = tuple(getattr(self.net_, "network_shape", ()))
        if tuple(network_shape) != fitted_shape:
            raise ValueError(
                f"warm_start continues training the fitted network, which takes samples of "
                f"network shape {fitted_shape}; got {tuple(network_shape)}. Refit without "
                "warm_start for data of another shape."
            )
        return self.net_

    # ------------------------------------------------------------------ inference
    @property
    def encoder_(self):
        check_is_fitted(self, "net_")
        return self.net_.module_.encoder

    @property
    def decoder_(self):
        check_is_fitted(self, "net_")
        return self.net_.module_.decoder

    @property
    def _n_features_out(self):
        return self.net_ and self.latent_dim  # AttributeError before fit, as sklearn expects

    def _map_batches(self, function, *arrays, dtype=np.float32, scale_input=False):
        """Apply ``function(module, *batches)`` batch-wise on the fitted module.

        With ``scale_input``, the batches of the first array (data in the user's units)
        are divided by ``input_scale_`` on the device, as in training.
        """
        input_scale = self.input_scale_ if scale_input else 1.0
        return map_batches(
            self.net_.module_, self.net_.device, function, *arrays, dtype=dtype,
            input_scale=input_scale,
        )

    def transform(self, X):
        """Encode ``X`` into latent codes.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``, or Dataset
            Data to encode.

        Returns
        -------
        codes : ndarray of shape (n_samples, latent_dim)
            float64 for float64 input, otherwise float32.
        """
        check_is_fitted(self, "net_")
        X = self._check_input(X, reset=False)
        return self._map_batches(
            lambda m, x: m.encode(x), X, dtype=output_dtype(X), scale_input=True
        )

    def inverse_transform(self, X):
        """Decode latent codes back to data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_reconstructed : ndarray
            Data in the sample shape seen at ``fit``.
        """
        check_is_fitted(self, "net_")
        codes = self._check_codes(X)
        scale = self.input_scale_
        out = self._map_batches(lambda m, z: m.decode(z) * scale, codes, dtype=codes.dtype)
        return self._to_sample_shape(out)

    def _check_codes(self, codes):
        codes = check_array(codes, dtype=FLOAT_DTYPES, input_name="codes")
        if codes.shape[1] != self.latent_dim:
            raise ValueError(
                f"Codes have {codes.shape[1]} columns but {type(self).__name__} has "
                f"latent_dim={self.latent_dim}."
            )
        return codes

    def reconstruct(self, X):
        """Encode and decode ``X`` in one pass: ``inverse_transform(transform(X))``.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``, or Dataset

        Returns
        -------
        X_reconstructed : ndarray
            Same dtype as the validated input, in the sample shape seen at ``fit``.
        """
        check_is_fitted(self, "net_")
        X = self._check_input(X, reset=False)
        scale = self.input_scale_
        out = self._map_batches(
            lambda m, x: m(x) * scale, X, dtype=output_dtype(X), scale_input=True
        )
        return self._to_sample_shape(out)

    def reconstruction_error(self, X):
        """Per-sample reconstruction loss (the training loss, averaged over values).

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``, or Dataset

        Returns
        -------
        errors : ndarray of shape (n_samples,), float64
            Lower is better reconstructed.
        """
        check_is_fitted(self, "net_")
        X = self._check_input(X, reset=False)
        loss = get_loss_function(self._reconstruction_loss())
        return self._map_batches(
            lambda m, x: loss(m(x), x), X, dtype=np.float64, scale_input=True
        )

    def score(self, X, y=None):
        """Minus the mean reconstruction error, so that higher is better.

        Lets ``GridSearchCV(autoencoder, {"latent_dim": [...]})`` work without a scorer.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``, or Dataset
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return -float(np.mean(self.reconstruction_error(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
