"""FewLabelClassifier: any classifier fitted on the labelled rows only, for a pipeline's end."""


import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    clone,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from .._compat import (
    HasMethods,
    check_method_params,
    fit_context,
    get_tags,
    safe_indexing,
)

from ._labels import check_labels, labeled_accuracy


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


class FewLabelClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Fit a classifier on the labelled rows only; ``y == -1`` marks an unlabelled row.

    A few-label wrapper for the end of a pipeline: earlier steps (an autoencoder, UMAP,
    which reads ``-1`` as "unlabelled" too) learn from every row, this step from the rows
    that have a label. Predictions, probabilities and decision values come from the
    wrapped classifier; :meth:`score` counts labelled rows only, so the default scoring of
    ``cross_val_score`` and ``GridSearchCV`` is right on folds that hold unlabelled rows.

    Parameters
    ----------
    estimator : classifier object
        The classifier to fit on the labelled rows, e.g. ``LogisticRegression()``. It is
        cloned at ``fit``.

    Attributes
    ----------
    estimator_ : classifier object
        The fitted clone of ``estimator``.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen among the labelled rows (``-1`` is never one).
    n_labeled_ : int
        Number of labelled rows the classifier was fitted on.
    n_features_in_ : int
        Number of features seen during ``fit`` (``X.shape[1]``).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has feature names
        that are all strings.

    See Also
    --------
    sklearn.semi_supervised.SelfTrainingClassifier : Also labels unlabelled rows itself.
    EncoderClassifier : Fine-tunes an autoencoder's encoder on the labelled rows.

    Notes
    -----
    A scorer given by name (``scoring="accuracy"``) compares predictions with every
    label, ``-1`` included; leave ``scoring`` unset to score labelled rows only.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skae.semi_supervised import FewLabelClassifier
    >>> X = np.array([[0.0], [0.1], [0.9], [1.0], [0.2], [0.8]])
    >>> y = np.array([0, 0, 1, 1, -1, -1])
    >>> clf = FewLabelClassifier(LogisticRegression()).fit(X, y)
    >>> clf.n_labeled_, clf.classes_.tolist(), clf.predict([[0.05], [0.95]]).tolist()
    (4, [0, 1], [0, 1])
    """

    _parameter_constraints: dict = {"estimator": [HasMethods(["fit", "predict"])]}

    def __init__(self, estimator):
        self.estimator = estimator

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` on the rows whose label is not ``-1``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, ...)
            Training data, as the wrapped classifier takes it. Not modified.
        y : array-like of shape (n_samples,)
            Labels; ``-1`` marks an unlabelled row, which is ignored.
        **fit_params : dict
            Passed to ``estimator.fit``; per-sample arrays (e.g. ``sample_weight``) are
            restricted to the labelled rows.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            If every label is ``-1``.
        """
        X_checked = validate_data(
            self, X, accept_sparse=["csr", "csc"], dtype=None, ensure_all_finite=False,
            allow_nd=True,
        )
        # Finite values and dtypes are the wrapped classifier's business; a DataFrame is
        # passed on as a DataFrame so that column-selecting pipelines keep working.
        X = X if hasattr(X, "iloc") else X_checked
        y, mask = check_labels(self, y, X_checked.shape[0])
        rows = np.flatnonzero(mask)
        fit_params = check_method_params(X, fit_params, indices=rows)
        self.estimator_ = clone(self.estimator)
        self.estimator_.fit(safe_indexing(X, rows), y[rows], **fit_params)
        self.n_labeled_ = len(rows)
        return self

    @property
    def classes_(self):
        return self.estimator_.classes_

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict classes with the fitted classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the fitted classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities from the fitted classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision values of the fitted classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the labelled rows; rows labelled ``-1`` are left out.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
            True labels, ``-1`` for unlabelled rows.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float

        Raises
        ------
        ValueError
            If every label is ``-1``.
        """
        check_is_fitted(self)
        return labeled_accuracy(self, X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags
