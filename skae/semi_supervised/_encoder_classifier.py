"""EncoderClassifier: an autoencoder's encoder and a head fine-tuned on the labelled rows."""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    clone,
)
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)
from torch import nn

from .._defaults import default_autoencoder
from .._compat import (
    Interval,
    Options,
    StrOptions,
    fit_context,
    is_fitted,
)
from .._base import BaseAutoEncoder
from .._callbacks import StopOnNonFiniteLoss
from .._data import as_float_tensor, map_batches
from .._net import ClassifierNet, skorch_params
from .._runtime import FLOAT_DTYPES, OPTIMIZERS, draw_seed, resolve_device, seeded
from .._samples import check_sample_shape, flatten_samples
from ..corruption import make_corruption
from ..nn import EncoderHeadModule

from ._labels import check_labels, labeled_accuracy


class _LabeledDataset(torch.utils.data.Dataset):
    """Rows of a network-layout array with integer targets, fetched a batch at a time."""

    def __init__(self, X, y):
        self.X = X
        self.y = y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, indices):
        return as_float_tensor(self.X[indices]), torch.as_tensor(self.y[indices])


def _unwrap(autoencoder):
    return autoencoder.estimator if isinstance(autoencoder, FrozenEstimator) else autoencoder


class EncoderClassifier(ClassifierMixin, BaseEstimator):
    """Classifier that fine-tunes an autoencoder's encoder on the labelled rows.

    The encoder of ``autoencoder`` (fitted on every row of ``X``, labelled or not, unless
    it comes fitted) is deep-copied; a head maps its standardised codes to class logits,
    and encoder and head are trained end to end with the cross-entropy on the labelled
    rows (``y != -1``) by a :class:`skorch.NeuralNetClassifier`. With
    ``freeze_encoder=True`` only the head learns (a linear probe by default).

    Parameters
    ----------
    autoencoder : skae autoencoder, default=None
        Where the encoder comes from. If it is not fitted, a clone is fitted on all rows
        of ``X`` during ``fit``. If it is fitted, its encoder is used as it is; wrap it in
        :class:`sklearn.frozen.FrozenEstimator` so that it stays fitted through
        ``clone``, ``cross_val_score`` and ``GridSearchCV``. None means skae's default
        rule (:func:`skae._defaults.default_autoencoder`: a :class:`~skae.ConvAutoEncoder`
        for images, a :class:`~skae.DenseAutoEncoder` for tables) on ``device``, seeded
        from ``random_state``.
    hidden_layer_sizes : tuple of int, default=()
        Hidden layers of the head; ``()`` gives a linear head on the codes.
    activation : str or type of torch.nn.Module, default="relu"
        Activation of the head's hidden layers.
    dropout : float in [0, 1), default=0.0
        Dropout on the codes (and head's hidden layers) during training.
    freeze_encoder : bool, default=False
        If True, the encoder's weights stay fixed and only the head is trained.
    augmentation : callable or list of callables, default=None
        Applied to each training batch of labelled rows (network layout, e.g.
        ``(n, C, H, W)``), never at inference: ``(X, generator) -> X``, e.g.
        ``[RandomShift(2), RandomFlip()]`` from :mod:`skae.augmentation` for images whose
        class survives small shifts and mirroring. Seeded by ``random_state``.
    max_epochs : int, default=100
        Passes over the labelled rows.
    batch_size : int, default=64
        Labelled rows per gradient step; ``-1`` uses them all.
    lr : float, default=1e-2
        Learning rate of the head.
    encoder_lr : float, default=None
        Learning rate of the encoder; None means ``lr / 10``, a common choice for
        fine-tuning pre-trained weights. Ignored with ``freeze_encoder=True``.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, \
default="adamw"
        The optimizer.
    optimizer_params : dict, default=None
        Extra keyword arguments of the optimizer, e.g. ``{"weight_decay": 1e-2}``.
    callbacks : list of skorch callbacks, default=None
        Extra callbacks, deep-copied at ``fit``.
    net_params : dict, default=None
        Further keyword arguments of the :class:`skorch.NeuralNetClassifier`.
    device : str or torch.device, default="auto"
        ``"cpu"``, ``"cuda"``, ... ``"auto"`` takes CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds the head's initialisation, dropout and shuffling, and the default
        autoencoder (``autoencoder=None``); a given autoencoder keeps its own
        ``random_state``.
    verbose : int, default=0
        ``0`` is silent; ``1`` prints skorch's per-epoch table.

    Attributes
    ----------
    autoencoder_ : skae autoencoder
        The fitted autoencoder the encoder was copied from (a clone fitted here, or the
        given one).
    net_ : skorch.NeuralNetClassifier
        The trained net; ``net_.module_`` is an :class:`EncoderHeadModule`, left in eval
        mode after ``fit`` (inference switches no modes, so it is thread-safe).
    classes_ : ndarray of shape (n_classes,)
        Class labels seen among the labelled rows.
    n_labeled_ : int
        Number of labelled rows trained on.
    history_ : skorch.History
        Per-epoch training history.
    loss_curve_ : list of float
        Training loss after each epoch.
    n_features_in_ : int
        Number of features (values per sample) seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has feature names
        that are all strings.
    sample_shape_ : tuple of int or None
        Shape of one sample when ``X`` had more than 2 dimensions (images), else None.

    See Also
    --------
    FewLabelClassifier : Any sklearn classifier on the codes of the labelled rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import ConvAutoEncoder
    >>> from skae.datasets import load_fashion_mnist_subset
    >>> from skae.semi_supervised import EncoderClassifier
    >>> X, y = load_fashion_mnist_subset(return_X_y=True)
    >>> y_few = np.full_like(y, -1)
    >>> y_few[:200] = y[:200]   # 200 labels, 1,800 unlabelled images
    >>> ae = ConvAutoEncoder(latent_dim=16, channels=(8, 16), max_epochs=2, random_state=0)
    >>> clf = EncoderClassifier(ae, max_epochs=10, random_state=0).fit(X, y_few)
    >>> clf.n_labeled_, clf.predict_proba(X[:3]).shape
    (200, (3, 10))
    """

    _parameter_constraints: dict = {
        "autoencoder": [BaseAutoEncoder, FrozenEstimator, None],
        "hidden_layer_sizes": ["array-like"],
        "activation": [str, type],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "freeze_encoder": ["boolean"],
        "augmentation": [callable, list, None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "encoder_lr": [Interval(Real, 0, None, closed="left"), None],
        "optimizer": [StrOptions(set(OPTIMIZERS) - {"lbfgs"}), callable],
        "optimizer_params": [dict, None],
        "callbacks": [list, None],
        "net_params": [dict, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        autoencoder=None,
        *,
        hidden_layer_sizes=(),
        activation="relu",
        dropout=0.0,
        freeze_encoder=False,
        augmentation=None,
        max_epochs=100,
        batch_size=64,
        lr=1e-2,
        encoder_lr=None,
        optimizer="adamw",
        optimizer_params=None,
        callbacks=None,
        net_params=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.autoencoder = autoencoder
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.freeze_encoder = freeze_encoder
        self.augmentation = augmentation
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.encoder_lr = encoder_lr
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.callbacks = callbacks
        self.net_params = net_params
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _validate_X(self, X, reset):
        """Check X as flat rows (n, n_features); images (n, ...) are flattened first."""
        X, sample_shape = flatten_samples(X)
        X = validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES)
        if reset:
            self.sample_shape_ = sample_shape
        return X, sample_shape

    def _to_network(self, X_flat):
        """Flat validated rows -> the autoencoder's network layout."""
        with warnings.catch_warnings():
            # Feature names were checked by validate_data on self.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return _unwrap(self.autoencoder_)._check_input(X_flat, reset=False)

    # ------------------------------------------------------------------ fit
    def _fit_autoencoder(self, X_flat, sample_shape, seed):
        X_fit = X_flat if sample_shape is None else X_flat.reshape(len(X_flat), *sample_shape)
        if self.autoencoder is None:
            autoencoder = default_autoencoder(X_fit, random_state=seed, device=self.device)
        else:
            autoencoder = self.autoencoder
        if is_fitted(autoencoder):
            return autoencoder
        return clone(autoencoder).fit(X_fit)

    def _make_net(self, module, n_classes, seed, device):
        encoder_lr = self.lr / 10 if self.encoder_lr is None else self.encoder_lr
        extra = {}
        if not self.freeze_encoder:
            extra["optimizer__param_groups"] = [("encoder.*", {"lr": encoder_lr})]
        params = skorch_params(
            module=module,
            criterion=nn.CrossEntropyLoss,
            optimizer=self.optimizer,
            optimizer_params=self.optimizer_params,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            seed=seed,
            device=device,
            verbose=self.verbose,
            callbacks=[("stop_on_non_finite_loss", StopOnNonFiniteLoss())],
            user_callbacks=self.callbacks,
            net_params=self.net_params,
            classes=list(range(n_classes)),
            augmentation=make_corruption(self.augmentation, seed, device, "augmentation"),
            **extra,
        )
        return ClassifierNet(**params)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the autoencoder on every row, then encoder and head on the labelled rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training data, labelled and unlabelled rows together; images may come as
            ``(n, H, W)`` or ``(n, C, H, W)``. Not modified.
        y : array-like of shape (n_samples,)
            Labels; ``-1`` marks an unlabelled row.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            If every label is ``-1`` or fewer than two classes are labelled.
        """
        X, sample_shape = self._validate_X(X, reset=True)
        y, mask = check_labels(self, y, len(X))
        check_classification_targets(y[mask])
        encoder_labels = LabelEncoder().fit(y[mask])
        if len(encoder_labels.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs labelled rows of at least 2 classes; got 1 "
                f"class: {encoder_labels.classes_[0]!r}."
            )
        self.classes_ = encoder_labels.classes_
        y_encoded = encoder_labels.transform(y[mask]).astype(np.int64)

        # The head's seed first, then the default autoencoder's: both come from
        # random_state, so two fits with the same int random_state are identical.
        rng = check_random_state(self.random_state)
        seed = draw_seed(rng)
        autoencoder_seed = draw_seed(rng)
        self.autoencoder_ = self._fit_autoencoder(X, sample_shape, autoencoder_seed)
        X_network = self._to_network(X)
        autoencoder = _unwrap(self.autoencoder_)
        codes = autoencoder._map_batches(
            lambda m, x: m.encode(x), X_network, dtype=np.float64, scale_input=True
        )
        code_mean, code_scale = codes.mean(axis=0), codes.std(axis=0)
        code_scale[~(code_scale > 1e-12)] = 1.0

        device = resolve_device(self.device)
        with seeded(seed, device):
            encoder = copy.deepcopy(autoencoder.encoder_).float()
            if self.freeze_encoder:
                encoder.requires_grad_(False)
            module = EncoderHeadModule(
                encoder, code_mean, code_scale, len(self.classes_),
                hidden_layer_sizes=[int(h) for h in np.atleast_1d(self.hidden_layer_sizes)],
                activation=self.activation, dropout=self.dropout,
                input_scale=autoencoder.input_scale_,
            )
            net = self._make_net(module, len(self.classes_), seed, device)
            net.fit(_LabeledDataset(X_network[mask], y_encoded), y=None)
        # Left in eval mode once, here: inference then never switches modes on the
        # shared module, so concurrent predict_proba calls are safe (and see no dropout).
        net.module_.eval()
        self.net_ = net
        self.n_labeled_ = int(mask.sum())
        self.history_ = net.history
        self.loss_curve_ = [float(loss) for loss in net.history[:, "train_loss"]]
        return self

    # ------------------------------------------------------------------ inference
    def _logits(self, X):
        check_is_fitted(self, "net_")
        X, sample_shape = self._validate_X(X, reset=False)
        if self.sample_shape_ is not None:
            check_sample_shape(self, sample_shape, self.sample_shape_)
        X_network = self._to_network(X)
        return map_batches(
            self.net_.module_, self.net_.device, lambda m, x: m(x), X_network, dtype=np.float64
        )

    def predict_proba(self, X):
        """Class probabilities (softmax of the head's logits).

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
            Columns follow ``classes_``.
        """
        logits = self._logits(X)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        logits = self._logits(X)
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def decision_function(self, X):
        """The head's logits.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the logit of ``classes_[1]`` minus that of ``classes_[0]``
            (positive means ``classes_[1]``), as sklearn's binary classifiers return.
        """
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        logits = self._logits(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the labelled rows; rows labelled ``-1`` are left out.

        Parameters
        ----------
        X : array-like of the shape seen at ``fit``
        y : array-like of shape (n_samples,)
            True labels, ``-1`` for unlabelled rows.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "net_")
        return labeled_accuracy(self, X, y, sample_weight)
