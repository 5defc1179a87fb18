"""Open-set detection: items far from every known kind, from a classifier of the known kinds.

A reconstruction autoencoder learns to redraw whatever its training images are made of
(ellipses, dots, edges), so an unknown kind made of the same parts is reconstructed well
and scores as normal. A classifier trained on the labelled known kinds learns what tells
them apart instead, and its logits are low for all kinds on an item unlike any of them.
:class:`OpenSetDetector` turns such a classifier into a calibrated outlier detector with
the API of :class:`~skae.AEAnomalyDetector`.
"""

from numbers import Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._class_distance import check_known_labels
from ._compat import HasMethods, Interval, StrOptions, fit_context
from ._conformal import ConformalDecisionsMixin, calibration_offset, calibration_split
from ._runtime import draw_seed, keeps_state_on_failure
from ._samples import validate_samples


class OpenSetDetector(ConformalDecisionsMixin, OutlierMixin, BaseEstimator):
    """Anomaly detector that flags items unlike every known kind, from a classifier.

    ``fit(X, y)`` trains ``classifier`` on the labelled known kinds and scores an item by
    how strongly the classifier claims it for *some* kind: with ``method="energy"`` (the
    default), the log-sum-exp of its logits (``decision_function``), minus the free
    energy of Liu et al. (2020). An item of an unknown kind gets low logits for every
    kind and so a low score. The API is :class:`~skae.AEAnomalyDetector`'s (and
    :class:`~sklearn.ensemble.IsolationForest`'s): :meth:`score_samples` is higher for
    more normal items, ``decision_function = score_samples - offset_`` is negative for
    outliers, :meth:`predict` returns +1 / -1. As with ``AEAnomalyDetector(novelty=True)``,
    a random fifth of the labelled rows is held out from training: their scores set
    ``offset_`` and make :meth:`p_values` and :meth:`predict_at_fdr` calibrated for new
    items of the known kinds. Which known kind an item is: ``classifier_.predict``.

    Parameters
    ----------
    classifier : classifier, default=None
        Trained on the known kinds; it is cloned. It needs ``decision_function`` returning
        one logit per kind for ``method="energy"`` or ``"max_logit"``, ``predict_proba``
        for ``"max_proba"``. None means :class:`~skae.semi_supervised.EncoderClassifier`
        at its defaults (skae's default autoencoder for the input, then its encoder
        fine-tuned with a linear head on the labels), seeded from ``random_state``. For
        images whose kind does not depend on the angle, give it rotation augmentation,
        e.g. ``EncoderClassifier(augmentation=[RandomAffine(scale=1.0, rotation=180)])``:
        on ``make_particles`` that is what makes the codes ignore orientation.
    method : {"energy", "max_logit", "max_proba"}, default="energy"
        The normality score of an item, from the classifier's outputs:

        - ``"energy"``: ``logsumexp`` of the logits (Liu et al., 2020);
        - ``"max_logit"``: the largest logit (Hendrycks et al., 2022);
        - ``"max_proba"``: the largest class probability (Hendrycks & Gimpel, 2017), the
          only one for classifiers without ``decision_function``. Probabilities
          saturate at 1 for confident networks, which makes it the weakest of the three
          for deep classifiers.

        A binary classifier's single decision value ``d`` is read as the logits
        ``(-d / 2, d / 2)``.
    contamination : "auto" or float, default="auto"
        Sets ``offset_`` from the held-out scores: a float in (0, 0.5] is the share of
        new items of the known kinds that :meth:`predict` flags (its false-positive
        rate); ``"auto"`` is Tukey's lower fence ``Q1 - 1.5 IQR`` of the held-out scores.
    random_state : int, RandomState instance or None, default=None
        Seeds the held-out choice and the classifier, when it has a ``random_state``
        parameter.

    Attributes
    ----------
    classifier_ : classifier
        The fitted classifier (trained on the rows not held out).
    known_classes_ : ndarray
        The known kinds, the classifier's ``classes_``.
    offset_ : float
        Threshold on ``score_samples``.
    calibration_scores_ : ndarray of shape (n_calibration,), float64
        Sorted scores of the held-out rows.
    calibration_indices_ : ndarray of shape (n_calibration,)
        Positions in ``X`` of the held-out rows; the classifier never saw them.
    sample_shape_ : tuple of int or None
        Shape of one image sample seen at ``fit`` (None for 2-D tables).
    n_features_in_ : int
        Number of values per sample seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has feature names
        that are all strings.

    See Also
    --------
    AEAnomalyDetector : Needs no labels; with labels, the distance to the nearest kind
        in an autoencoder's code space.
    FusedAnomalyDetector : Fuses this detector on images with one on measured features.

    Notes
    -----
    Rows labelled ``-1`` (unlabelled) are passed on to the classifier with the others;
    skae's :class:`~skae.semi_supervised.EncoderClassifier` trains its autoencoder on
    them. A classifier that learns ``-1`` as a kind of its own is refused: drop the
    unlabelled rows, or use a semi-supervised classifier. Only labelled rows are held out
    for calibration.

    What a classifier has not learned to tell apart, it cannot flag: an item beyond one
    kind, on the far side from the others, gets an even larger logit for that kind (Hein
    et al., 2019, show this for every ReLU network). Fuse the detector with one that
    models the data itself (:class:`FusedAnomalyDetector`) when such items matter.

    On ``make_particles`` (600 control and 600 core images of 64×64 pixels, 3 seeds;
    ``benchmarks/bench_unknown_kinds.py``), an ``EncoderClassifier`` fine-tuned with
    rotation augmentation found the unknown kinds in the core images with an AUROC of
    0.857 ± 0.043, against 0.414 for ``AEAnomalyDetector`` on the same images.

    References
    ----------
    Liu, Wang, Owens and Li, "Energy-based out-of-distribution detection", NeurIPS 2020.
    Hendrycks and Gimpel, "A baseline for detecting misclassified and out-of-distribution
    examples in neural networks", ICLR 2017.
    Hendrycks et al., "Scaling out-of-distribution detection for real-world settings",
    ICML 2022.
    Hein, Andriushchenko and Bitterwolf, "Why ReLU networks yield high-confidence
    predictions far away from the training data", CVPR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skae import OpenSetDetector
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 100)
    >>> X = rng.normal(size=(300, 2)) + 6 * np.array([[1, 0], [-1, 0], [0, 1]])[y]
    >>> detector = OpenSetDetector(LogisticRegression(), random_state=0).fit(X, y)
    >>> detector.predict([[6.0, 0.0], [0.0, 1.0]])  # a kind, and between the kinds
    array([ 1, -1])
    >>> detector.classifier_.predict([[6.0, 0.0]])
    array([0])
    """

    _parameter_constraints: dict = {
        "classifier": [None, HasMethods(["fit"])],
        "method": [StrOptions({"energy", "max_logit", "max_proba"})],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }
    # Decisions are about new items, calibrated on held-out rows (as FusedAnomalyDetector).
    novelty = True

    def __init__(self, classifier=None, *, method="energy", contamination="auto",
                 random_state=None):
        self.classifier = classifier
        self.method = method
        self.contamination = contamination
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = self.classifier is not None and get_tags(
            self.classifier).input_tags.allow_nan
        return tags

    def _make_classifier(self, seed):
        if self.classifier is None:
            from .semi_supervised import EncoderClassifier

            return EncoderClassifier(random_state=seed)
        classifier = clone(self.classifier)
        if "random_state" in classifier.get_params():
            classifier.set_params(random_state=seed)
        needed = "predict_proba" if self.method == "max_proba" else "decision_function"
        if not hasattr(classifier, needed):
            raise ValueError(
                f"OpenSetDetector(method={self.method!r}) needs a classifier with {needed}; "
                f"{type(classifier).__name__} has none. Use method='max_proba' for a "
                "classifier with predict_proba only."
            )
        return classifier

    def _validate(self, X, reset):
        """Validated samples in the shape the classifier takes (``validate_samples``)."""
        return validate_samples(self, X, reset)

    @keeps_state_on_failure
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Train the classifier on the known kinds and calibrate on held-out rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Items of the known kinds, in any form the classifier takes (a table, or
            images ``(n, H, W)`` / ``(n, C, H, W)`` for the default). Not modified.
        y : array-like of shape (n_samples,)
            Their kinds; ``-1`` marks an unlabelled row (see Notes).

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            If ``y`` is missing or has the wrong length, fewer than two kinds are
            labelled, or too few labelled rows are left to train on.
        """
        if y is None:
            raise ValueError(
                "OpenSetDetector requires y to be passed, but the target y is None: give "
                "the kinds of the training items (-1 for an unlabelled one), or use "
                "AEAnomalyDetector, which needs no labels."
            )
        X = self._validate(X, reset=True)
        n_samples = len(X)
        y, labelled = check_known_labels(self, y, n_samples)
        kinds = np.unique(y[labelled])
        if len(kinds) < 2:
            raise ValueError(
                "OpenSetDetector needs labelled rows of at least 2 kinds; got 1 class: "
                f"{kinds[0]!r}."
            )
        if labelled.sum() < 3:
            raise ValueError(
                f"OpenSetDetector holds out a fifth of the labelled rows to calibrate its "
                f"decisions and needs at least 3; got {int(labelled.sum())}."
            )
        rng = check_random_state(self.random_state)
        labelled_rows = np.flatnonzero(labelled)
        train, calibration = calibration_split(self, len(labelled_rows), rng)
        calibration = labelled_rows[calibration]
        train = np.setdiff1d(np.arange(n_samples), calibration)
        classifier = self._make_classifier(draw_seed(rng))
        classifier.fit(X[train], y[train])
        classes = np.asarray(classifier.classes_)
        if not labelled[train].all() and np.isin(y[~labelled][:1], classes).any():
            raise ValueError(
                f"{type(classifier).__name__} learned the unlabelled marker -1 as a kind of "
                "its own. Drop the unlabelled rows, or use a semi-supervised classifier "
                "(skae.semi_supervised.EncoderClassifier)."
            )
        self.classifier_ = classifier
        self.known_classes_ = classes
        self.calibration_indices_ = calibration
        scores = self._score(X[calibration])
        self.calibration_scores_ = np.sort(scores)
        self.offset_ = calibration_offset(scores, self.contamination)
        return self

    def score_samples(self, X):
        """Normality score: how strongly the classifier claims the item for some kind.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Items, in the form seen at ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            Higher is more normal (see ``method``).
        """
        check_is_fitted(self, "classifier_")
        return self._score(self._validate(X, reset=False))

    def _score(self, X):
        if self.method == "max_proba":
            return np.max(np.asarray(self.classifier_.predict_proba(X), dtype=np.float64),
                          axis=1)
        logits = np.asarray(self.classifier_.decision_function(X), dtype=np.float64)
        if logits.ndim == 1:
            logits = np.column_stack([-logits / 2, logits / 2])
        if self.method == "energy":
            return logsumexp(logits, axis=1)
        return logits.max(axis=1)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for items of the known kinds, -1 for outliers (``decision_function < 0``).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,), int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    @available_if(lambda self: not self.novelty)
    def fit_predict(self, X, y=None):  # pragma: no cover - never available
        """Not available: decisions are calibrated for new data."""
        return self.fit(X, y).predict(X)

