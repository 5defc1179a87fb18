"""Cross-conformal calibration: every training sample scored by a model that never saw it.

A detector calibrated on a held-out fifth of a small control set has few calibration
scores: with 120, no conformal p-value is below 1/121, and the Benjamini–Hochberg
decision over 600 new items flags nothing unless 50 of them score below every one.
:class:`CrossConformalDetector` fits ``cv`` copies of any outlier detector, each on all
folds but one, scores each sample with the copy that did not see it, and so calibrates
on *all* the training samples (Vovk, 2015; Hennhöfer and Preisach, 2024).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, OutlierMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._compat import HasMethods, Interval, StrOptions, fit_context, safe_indexing
from ._conformal import ConformalDecisionsMixin, calibration_offset
from ._runtime import draw_seed, keeps_state_on_failure
from ._samples import validate_samples
from .semi_supervised._labels import as_label_array

_MIN_SCALE = 1e-12


class CrossConformalDetector(ConformalDecisionsMixin, OutlierMixin, MetaEstimatorMixin,
                             BaseEstimator):
    """Outlier detector calibrated on out-of-fold scores of all its training samples.

    Splits the training samples into ``cv`` folds and fits a clone of ``detector`` on
    every fold but one, ``cv`` times. Each training sample is then scored by the clone
    that did not see it: ``calibration_scores_`` holds one such out-of-fold score per
    training sample, where :class:`AEAnomalyDetector` (``novelty=True``) keeps the scores
    of a held-out fifth. Five times more calibration scores make :meth:`p_values` five
    times finer and let :meth:`predict_at_fdr` flag items on small control sets, at the
    cost of ``cv`` fits and ``cv`` scorings per call.

    Each clone's scores are standardised by its own training scores (minus their median,
    over their interquartile range), so that no clone's scale dominates.
    :meth:`score_samples` is the mean of the ``cv`` standardised scores; :meth:`predict`
    thresholds it at ``offset_``, set from the out-of-fold scores. The mean of ``cv``
    models varies less than one model's out-of-fold score, so :meth:`predict` flags
    somewhat *fewer* new normal samples than ``contamination`` (measured in
    ``benchmarks/bench_calibration.py``). :meth:`p_values` (and so
    :meth:`predict_at_fdr`) compare each clone's score with the out-of-fold scores of
    the same clone and pool the counts (cross-conformal p-values), which keeps that
    mismatch out of the decisions where it would cost the most: in the far tail.

    Parameters
    ----------
    detector : estimator, default=None
        An unfitted outlier detector with ``fit`` and ``score_samples`` (higher = more
        normal): :class:`AEAnomalyDetector`, :class:`FusedAnomalyDetector`,
        :class:`OpenSetDetector`, :class:`~sklearn.ensemble.IsolationForest`, a
        pipeline ending in one. None: ``AEAnomalyDetector()``. A clone with a
        ``novelty`` parameter gets ``novelty=False``, so that it trains on its whole
        fold (the calibration is done here); detectors that always hold out samples of
        their own (:class:`FusedAnomalyDetector`, :class:`OpenSetDetector`) still do.
        ``fit(X, y)`` passes ``y`` on.
    cv : int, default=5
        Number of folds, at least 2: the detector is fitted ``cv`` times, each time on
        ``(cv - 1) / cv`` of the samples.
    contamination : "auto" or float, default="auto"
        Sets ``offset_`` from the out-of-fold scores: a float in (0, 0.5] is the share
        of new normal samples :meth:`predict` flags; ``"auto"`` is Tukey's lower fence
        ``Q1 - 1.5 IQR`` (see :class:`AEAnomalyDetector`).
    random_state : int, RandomState instance or None, default=None
        Seeds the folds and every clone with a ``random_state`` parameter (a different
        seed each).

    Attributes
    ----------
    estimators_ : list of estimators
        The ``cv`` fitted clones; clone ``k`` never saw the samples of fold ``k``.
    fold_indices_ : list of ndarray
        Positions in ``X`` of the samples each clone did not see.
    score_center_ : ndarray of shape (cv,)
        Median of each clone's scores on its training samples.
    score_scale_ : ndarray of shape (cv,)
        Interquartile range of each clone's scores on its training samples.
    out_of_fold_scores_ : ndarray of shape (n_samples,), float64
        Standardised score of each training sample by the clone that did not see it,
        in the order of ``X``: the lowest are the training samples that look least
        like the rest.
    calibration_scores_ : ndarray of shape (n_samples,), float64
        ``out_of_fold_scores_``, sorted (``offset_`` is their ``contamination``
        quantile).
    offset_ : float
        Threshold of :meth:`predict` (see ``contamination``).
    n_features_in_ : int
        Number of features (pixels, for images) seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.
    sample_shape_ : tuple of int or None
        Shape of one image for image input, None for a table.

    See Also
    --------
    AEAnomalyDetector : calibrates on a held-out fifth (``novelty=True``); one fit.
    FusedAnomalyDetector : images and measured features in one detector.
    sklearn.calibration.CalibratedClassifierCV : the same idea for a classifier's
        probabilities.

    Notes
    -----
    Exchangeability, which makes split-conformal p-values exactly valid, holds only
    approximately for cross-conformal ones: Barber et al. (2021) bound the error by a
    factor of 2 in the worst case, and it is usually far smaller.
    ``benchmarks/bench_calibration.py`` measures the false-positive rate and the false
    discovery proportion over 5 seeds.

    Use it where the control set is small (hundreds of samples) and decisions matter
    more than fitting time. With thousands of control samples, the held-out fifth of
    :class:`AEAnomalyDetector` already gives up to 1,000 calibration scores.

    References
    ----------
    V. Vovk, "Cross-conformal predictors", Annals of Mathematics and Artificial
    Intelligence 74, 2015.

    R. F. Barber, E. J. Candès, A. Ramdas, R. J. Tibshirani, "Predictive inference with
    the jackknife+", Annals of Statistics 49(1), 2021.

    O. Hennhöfer, C. Preisach, "Leave-one-out-, bootstrap- and cross-conformal anomaly
    detectors", IEEE International Conference on Knowledge Graphs, 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skae import CrossConformalDetector
    >>> rng = np.random.default_rng(0)
    >>> control = rng.normal(size=(200, 4))
    >>> new = np.vstack([rng.normal(size=(95, 4)), rng.normal(6, 1, size=(5, 4))])
    >>> detector = CrossConformalDetector(IsolationForest(random_state=0), cv=5,
    ...                                   random_state=0).fit(control)
    >>> detector.calibration_scores_.shape  # one out-of-fold score per control sample
    (200,)
    >>> detector.p_values(new)[-5:].round(3)  # the smallest possible is 1 / 201
    array([0.005, 0.005, 0.005, 0.005, 0.005])
    >>> int((detector.predict_at_fdr(new, fdr=0.1) == -1).sum())
    5
    """

    _parameter_constraints: dict = {
        "detector": [None, HasMethods(["fit", "score_samples"])],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }
    # Decisions are about new data, calibrated out of fold (no fit_predict).
    novelty = True

    def __init__(self, detector=None, *, cv=5, contamination="auto", random_state=None):
        self.detector = detector
        self.cv = cv
        self.contamination = contamination
        self.random_state = random_state

    def _base_detector(self):
        if self.detector is None:
            from ._anomaly import AEAnomalyDetector

            return AEAnomalyDetector()
        return self.detector

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self._base_detector())
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.target_tags.required = inner.target_tags.required
        return tags

    def _validate(self, X, reset):
        """``X`` checked (``validate_samples``), in the form to hand to the clones: a
        DataFrame as it is, images ``(n, H, W)`` / ``(n, C, H, W)`` in their shape,
        anything else as an array."""
        checked = validate_samples(self, X, reset)
        return X if hasattr(X, "iloc") else checked

    def _make_clone(self, seed):
        detector = clone(self._base_detector())
        params = detector.get_params(deep=False)
        if "novelty" in params:
            detector.set_params(novelty=False)
        if "random_state" in params:
            detector.set_params(random_state=seed)
        return detector

    @keeps_state_on_failure
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit ``cv`` clones of the detector, each without one fold, and calibrate on
        the out-of-fold scores.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features) or (n_samples, ...)
            Training data, mostly normal, in any form the detector takes (a table, or
            images ``(n, H, W)`` / ``(n, C, H, W)``). Not modified.
        y : array-like of shape (n_samples,), default=None
            Labels of the known kinds (``-1`` for unlabelled samples), passed on to each
            clone's ``fit`` with its rows.

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            If there are fewer samples than folds, or ``y`` has the wrong length.
        """
        X = self._validate(X, reset=True)
        n_samples = len(X)
        if n_samples < self.cv:
            raise ValueError(
                f"CrossConformalDetector(cv={self.cv}) needs at least {self.cv} samples, "
                f"one per fold; got {n_samples}. Lower cv, or give more samples."
            )
        if y is not None:
            y = column_or_1d(as_label_array(y), warn=True)
            if len(y) != n_samples:
                raise ValueError(
                    f"CrossConformalDetector.fit got {len(y)} labels for {n_samples} "
                    "samples; y must have one per sample (-1 for an unlabelled one), or "
                    "be None."
                )
        rng = check_random_state(self.random_state)
        folds = KFold(self.cv, shuffle=True, random_state=draw_seed(rng))
        estimators, held_out, centers, scales = [], [], [], []
        out_of_fold = np.empty(n_samples, dtype=np.float64)
        for train, test in folds.split(np.empty((n_samples, 0))):
            detector = self._make_clone(draw_seed(rng))
            X_train = safe_indexing(X, train)
            detector.fit(X_train, None if y is None else y[train])
            q1, median, q3 = np.percentile(_scores(detector, X_train), [25, 50, 75])
            scale = q3 - q1 if q3 - q1 > _MIN_SCALE else 1.0
            out_of_fold[test] = (_scores(detector, safe_indexing(X, test)) - median) / scale
            estimators.append(detector)
            held_out.append(test)
            centers.append(median)
            scales.append(scale)
        self.estimators_ = estimators
        self.fold_indices_ = held_out
        self.score_center_ = np.asarray(centers)
        self.score_scale_ = np.asarray(scales)
        self.out_of_fold_scores_ = out_of_fold
        self.calibration_scores_ = np.sort(out_of_fold)
        self.offset_ = calibration_offset(out_of_fold, self.contamination)
        return self

    def score_samples(self, X):
        """Normality score: the mean of the clones' standardised scores.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features) or (n_samples, ...)
            Samples, in the form seen at ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            Higher is more normal; 0 is a typical training sample of a clone.
        """
        return self._fold_scores(X).mean(axis=1)

    def _fold_scores(self, X):
        """``(n_samples, cv)``: each clone's standardised score of each sample."""
        check_is_fitted(self, "estimators_")
        X = self._validate(X, reset=False)
        scores = np.column_stack([_scores(detector, X) for detector in self.estimators_])
        return (scores - self.score_center_) / self.score_scale_

    def p_values(self, X):
        """Cross-conformal p-value of each sample: how unusual it is among normal data.

        Each clone compares the sample's score with the out-of-fold scores of the
        samples it did not see, and the counts are pooled (Vovk, 2015):
        ``(1 + sum_k #{i in fold k: score_k(X_i) <= score_k(x)}) / (n_samples + 1)``.
        So every model's scores are compared with scores of the same model, and the
        smallest possible value is ``1 / (n_samples + 1)``, for a sample that scores
        below every training sample with every clone. For new normal data it is close to
        uniform (``P(p <= a) <= 2a`` in the worst case, Barber et al., 2021; measured
        close to ``a``). Anomalies get small p-values.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features) or (n_samples, ...)
            Samples to test.

        Returns
        -------
        p_values : ndarray of shape (n_samples,), float64
            In ``(0, 1]``; the smaller, the stronger the evidence of an anomaly.
        """
        scores = self._fold_scores(X)
        at_most = np.zeros(len(scores))
        for k, rows in enumerate(self.fold_indices_):
            reference = np.sort(self.out_of_fold_scores_[rows])
            at_most += np.searchsorted(reference, scores[:, k], side="right")
        return (1.0 + at_most) / (len(self.out_of_fold_scores_) + 1.0)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features) or (n_samples, ...)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers (``decision_function < 0``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features) or (n_samples, ...)

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,), int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    @available_if(lambda self: not self.novelty)
    def fit_predict(self, X, y=None):  # pragma: no cover - never available
        """Not available: decisions are calibrated for new data."""
        return self.fit(X, y).predict(X)


def _scores(detector, X):
    return np.asarray(detector.score_samples(X), dtype=np.float64)
