"""One calibrated anomaly score from several detectors, each on its own columns of a table.

An item often comes with more than one kind of evidence: the pixels of its image and a
row of measured features. :class:`FusedAnomalyDetector` fits one outlier detector per
block of columns (as :class:`~sklearn.compose.ColumnTransformer` fits one transformer
per block), puts their scores on a common scale and averages them with weights, and
calibrates the fused score on held-out samples as :class:`~skae.AEAnomalyDetector`
does. With labels of the known kinds, the weights are chosen by how well each
combination finds a kind it has not seen (leave one known class out), so that a source
that carries no evidence does not dilute one that does.
"""

import itertools
from numbers import Integral, Real

import numpy as np
from sklearn.base import OutlierMixin, clone
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import BaseComposition, Interval, StrOptions, fit_context, get_column_indices
from ._conformal import ConformalDecisionsMixin, calibration_offset, calibration_split
from ._runtime import draw_seed, keeps_state_on_failure
from .semi_supervised import labeled_mask
from .semi_supervised._labels import as_label_array

# Grid step of the weights tried by weights="auto" (up to this many detectors; more get
# only the single detectors and the equal weights).
_WEIGHT_STEP = 0.1
_MAX_GRID_DETECTORS = 4
# Share of the other kinds' samples held out as new normal items in each left-out fold.
_FOLD_NORMAL_FRACTION = 0.25
_MIN_SCALE = 1e-12


class FusedAnomalyDetector(ConformalDecisionsMixin, OutlierMixin, BaseComposition):
    """Anomaly detector that fuses several detectors, each fitted on its own columns.

    Each ``(name, detector, columns)`` entry fits a clone of ``detector`` on
    ``X[:, columns]``: for example an :class:`AEAnomalyDetector` with a
    ``ConvAutoEncoder(image_shape=(64, 64))`` on the 4,096 pixel columns and another on
    34 measured features. Each detector's ``score_samples`` is robustly standardised on
    the training data (minus the median, over the interquartile range) and the fused
    score is their weighted mean. As in :class:`AEAnomalyDetector` (``novelty=True``), a
    random fifth of ``X`` is held out: its fused scores set ``offset_`` and make
    :meth:`p_values` and :meth:`predict_at_fdr` calibrated for new normal data.

    Parameters
    ----------
    detectors : list of (str, estimator, columns) tuples
        The detectors, each with a name, an unfitted outlier detector (with ``fit`` and
        ``score_samples``, higher = more normal: :class:`AEAnomalyDetector`,
        :class:`~sklearn.ensemble.IsolationForest`, a pipeline ending in one) and the
        columns it sees: an int, a slice, an array of ints or booleans, column names
        of a DataFrame, or a callable taking ``X`` and returning one of those, as in
        :class:`~sklearn.compose.ColumnTransformer`. ``fit(X, y)`` passes ``y`` on.
    weights : {"auto", "equal"} or array-like of shape (n_detectors,), default="auto"
        Weight of each detector's standardised score in the mean.

        - ``"auto"``: with labels ``y`` of at least two known kinds, leave one kind
          out at a time: refit the detectors without it and measure, for each weight
          vector on a grid (steps of 0.1 for up to 4 detectors, else each detector
          alone and the equal weights), how well the fused score ranks the left-out
          kind above held-out items of the other kinds (AUROC). The weights with the
          best mean AUROC are kept, so on these left-out folds the fused score is
          never worse than the best single detector. Costs one extra fit of every
          detector per known kind. Without labels, equal weights.
        - ``"equal"``: the plain mean.
        - array: these weights (non-negative, normalised to sum to 1).
    contamination : "auto" or float, default="auto"
        Sets ``offset_`` from the held-out fused scores: a float in (0, 0.5] is the
        share of new normal samples :meth:`predict` flags; ``"auto"`` is Tukey's lower
        fence ``Q1 - 1.5 IQR`` (see :class:`AEAnomalyDetector`).
    random_state : int, RandomState instance or None, default=None
        Seeds the held-out choice, the folds and every detector with a
        ``random_state`` parameter.

    Attributes
    ----------
    detectors_ : list of (str, estimator, ndarray of int)
        The fitted detectors with the column indices each saw.
    named_detectors_ : dict
        The fitted detectors by name.
    weights_ : ndarray of shape (n_detectors,)
        The weights used, summing to 1.
    validation_auroc_ : dict or None
        With ``weights="auto"`` and labels: the mean left-one-kind-out AUROC of each
        detector alone (by name) and of the fused score (``"fused"``); else None.
    score_center_ : ndarray of shape (n_detectors,)
        Median of each detector's training scores.
    score_scale_ : ndarray of shape (n_detectors,)
        Interquartile range of each detector's training scores.
    offset_ : float
        Threshold on ``score_samples``: ``decision_function = score_samples - offset_``.
    calibration_scores_ : ndarray of shape (n_calibration,)
        Sorted fused scores of the held-out samples.
    calibration_indices_ : ndarray of shape (n_calibration,)
        Positions in ``X`` of the held-out samples.
    n_features_in_ : int
        Number of columns seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    AEAnomalyDetector : The detector to fuse, on images or tables.
    sklearn.compose.ColumnTransformer : The same column blocks for transformers.

    Notes
    -----
    The held-out samples calibrate the fused score only: the detectors, their
    standardisation and the weights are chosen from the other samples, so the
    p-values stay valid whatever the weights.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skae import AEAnomalyDetector, DenseAutoEncoder, FusedAnomalyDetector
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 60)
    >>> X = np.hstack([rng.normal(size=(180, 4)),          # a source without evidence
    ...                rng.normal(size=(180, 3)) + 4 * np.eye(3)[y]])  # the kinds
    >>> fused = FusedAnomalyDetector([
    ...     ("noise", IsolationForest(random_state=0), slice(0, 4)),
    ...     ("kinds", AEAnomalyDetector(DenseAutoEncoder(latent_dim=3, max_epochs=5)),
    ...      slice(4, 7)),
    ... ], random_state=0).fit(X, y)
    >>> sorted(fused.named_detectors_)
    ['kinds', 'noise']
    >>> bool(fused.weights_[1] > fused.weights_[0])
    True
    >>> fused.p_values(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        "detectors": [list],
        "weights": [StrOptions({"auto", "equal"}), "array-like"],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }
    # Decisions are about new data, calibrated on held-out samples (p_values, and no
    # fit_predict), as for AEAnomalyDetector(novelty=True).
    novelty = True

    def __init__(self, detectors, *, weights="auto", contamination="auto",
                 random_state=None):
        self.detectors = detectors
        self.weights = weights
        self.contamination = contamination
        self.random_state = random_state

    # ------------------------------------------------------- nested parameters
    @property
    def _detectors(self):
        try:
            return [(name, detector) for name, detector, _ in self.detectors]
        except (TypeError, ValueError):
            return self.detectors

    @_detectors.setter
    def _detectors(self, value):
        try:
            self.detectors = [(name, detector, columns) for ((name, detector), (_, _, columns))
                              in zip(value, self.detectors)]
        except (TypeError, ValueError):
            self.detectors = value

    def get_params(self, deep=True):
        """Parameters of this detector and, with ``deep``, of its detectors by name.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of the detectors, as ``<name>__<parameter>``,
            and the detectors themselves by name.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("_detectors", deep=deep)

    def set_params(self, **params):
        """Set parameters, also of the detectors (``<name>__<parameter>``).

        Parameters
        ----------
        **params : dict
            Parameters of this detector, of a detector (``forest__n_estimators``) or a
            whole detector by name (``forest=IsolationForest()``).

        Returns
        -------
        self : FusedAnomalyDetector
            This detector.
        """
        self._set_params("_detectors", **params)
        return self

    # ------------------------------------------------------------------ fit
    def _check_detectors(self):
        entries = self.detectors
        if not entries or not all(isinstance(e, tuple) and len(e) == 3 for e in entries):
            raise ValueError("detectors must be a non-empty list of (name, detector, "
                             f"columns) tuples; got {entries!r}.")
        names = [name for name, _, _ in entries]
        self._validate_names(names)
        for name, detector, _ in entries:
            if not (hasattr(detector, "fit") and hasattr(detector, "score_samples")):
                raise ValueError(f"detector {name!r} needs fit and score_samples (higher = "
                                 f"more normal); got {detector!r}.")
        return entries

    def _columns(self, X, columns):
        key = columns(X) if callable(columns) else columns
        if isinstance(key, slice) and all(
            b is None or isinstance(b, Integral) for b in (key.start, key.stop, key.step)
        ):  # sklearn's indexing reads slice(None) as a slice of column names
            indices = np.arange(self.n_features_in_)[key]
        else:
            indices = np.asarray(get_column_indices(X, key), dtype=np.intp)
        if not len(indices):
            raise ValueError(f"columns {columns!r} select no column of X.")
        return indices

    def _weight_candidates(self, n):
        if isinstance(self.weights, str):
            return None
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n,) or not np.isfinite(weights).all() or (weights < 0).any() \
                or weights.sum() <= 0:
            raise ValueError(f"weights must be {n} non-negative numbers, not all 0; got "
                             f"{self.weights!r}.")
        return weights / weights.sum()

    @keeps_state_on_failure
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit every detector on its columns of ``X``, choose the weights, calibrate.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Training data, mostly normal: the columns of all detectors side by side.
            Not modified.
        y : array-like of shape (n_samples,), default=None
            Labels of the known kinds (``-1`` for unlabelled samples), passed on to each
            detector's ``fit`` and used by ``weights="auto"``.

        Returns
        -------
        self : object
            The fitted detector.
        """
        entries = self._check_detectors()
        original = X
        X = validate_data(self, X, dtype=None, ensure_min_samples=3)
        columns = [self._columns(original, c) for _, _, c in entries]
        fixed = self._weight_candidates(len(entries))
        if y is not None:
            y = as_label_array(y)
            if len(y) != len(X):
                raise ValueError(f"FusedAnomalyDetector.fit got {len(y)} labels for "
                                 f"{len(X)} samples; y must have one per sample, or be None.")
        rng = check_random_state(self.random_state)
        train, calibration = calibration_split(self, len(X), rng)
        seeds = [draw_seed(rng) for _ in entries]
        X_train, y_train = X[train], (None if y is None else y[train])

        self.validation_auroc_ = None
        if fixed is not None:
            self.weights_ = fixed
        elif self.weights == "auto" and y is not None \
                and len(np.unique(y_train[labeled_mask(y_train)])) >= 2:
            self.weights_, self.validation_auroc_ = self._leave_one_kind_out(
                X_train, y_train, columns, seeds, rng)
        else:
            self.weights_ = np.full(len(entries), 1.0 / len(entries))

        fitted = self._fit_detectors(X_train, y_train, columns, seeds)
        self.detectors_ = [(name, detector, cols)
                           for (name, _, _), detector, cols in zip(entries, fitted, columns)]
        self.named_detectors_ = {name: detector for name, detector, _ in self.detectors_}
        training = self._source_scores(X_train)
        q1, median, q3 = np.percentile(training, [25, 50, 75], axis=0)
        self.score_center_ = median
        self.score_scale_ = np.where(q3 - q1 > _MIN_SCALE, q3 - q1, 1.0)

        self.calibration_indices_ = calibration
        scores = self._fuse(self._source_scores(X[calibration]))
        self.calibration_scores_ = np.sort(scores)
        self.offset_ = calibration_offset(scores, self.contamination)
        return self

    def _fit_detectors(self, X, y, columns, seeds):
        fitted = []
        for (_, detector, _), cols, seed in zip(self.detectors, columns, seeds):
            detector = clone(detector)
            if "random_state" in detector.get_params():
                detector.set_params(random_state=seed)
            fitted.append(detector.fit(X[:, cols], y))
        return fitted

    def _leave_one_kind_out(self, X, y, columns, seeds, rng):
        """``(weights, validation AUROCs)`` from folds that each leave one known kind out."""
        labelled = labeled_mask(y)
        kinds = np.unique(y[labelled])
        candidates = _weight_grid(len(columns))
        aurocs, single = [], []
        for kind in kinds:
            is_kind = labelled & (y == kind)
            others = np.flatnonzero(~is_kind)
            n_normal = max(1, int(round(_FOLD_NORMAL_FRACTION * len(others))))
            normal = rng.choice(others, n_normal, replace=False)
            fit_rows = np.setdiff1d(others, normal)
            if len(fit_rows) < 3:
                continue
            X_fit, X_new = X[fit_rows], X[np.concatenate([normal, np.flatnonzero(is_kind)])]
            detectors = self._fit_detectors(X_fit, y[fit_rows], columns, seeds)
            standardised = []
            for detector, cols in zip(detectors, columns):
                train_scores = detector.score_samples(X_fit[:, cols])
                q1, median, q3 = np.percentile(train_scores, [25, 50, 75])
                scores = detector.score_samples(X_new[:, cols])
                standardised.append((scores - median) / max(q3 - q1, _MIN_SCALE))
            standardised = np.column_stack(standardised)
            is_new = np.r_[np.zeros(len(normal)), np.ones(is_kind.sum())]
            aurocs.append([roc_auc_score(is_new, -standardised @ w) for w in candidates])
            single.append([roc_auc_score(is_new, -s) for s in standardised.T])
        if not aurocs:
            return np.full(len(columns), 1.0 / len(columns)), None
        mean = np.mean(aurocs, axis=0)
        # The best mean AUROC; among ties, the weights closest to equal.
        spread = np.abs(candidates - 1.0 / len(columns)).sum(axis=1)
        best = np.lexsort((spread, -np.round(mean, 12)))[0]
        validation = {name: float(a) for (name, _, _), a
                      in zip(self.detectors, np.mean(single, axis=0))}
        validation["fused"] = float(mean[best])
        return candidates[best], validation

    # ------------------------------------------------------------------ scores
    def _source_scores(self, X):
        return np.column_stack([
            np.asarray(detector.score_samples(X[:, cols]), dtype=np.float64)
            for _, detector, cols in self.detectors_
        ])

    def _fuse(self, scores):
        return ((scores - self.score_center_) / self.score_scale_) @ self.weights_

    def score_samples(self, X):
        """Fused normality score: higher is more normal, 0 is a typical training sample.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Samples, with the columns seen at ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            The weighted mean of the detectors' standardised scores.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=None, reset=False)
        return self._fuse(self._source_scores(X))

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers (``decision_function < 0``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,), int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    @available_if(lambda self: not self.novelty)
    def fit_predict(self, X, y=None):  # pragma: no cover - never available
        """Not available: decisions are calibrated for new data (see ``novelty``)."""
        return self.fit(X, y).predict(X)


def _weight_grid(n):
    """Weight vectors tried by ``weights="auto"``: a simplex grid, or the corners and
    the centre for many detectors."""
    if n > _MAX_GRID_DETECTORS:
        return np.vstack([np.eye(n), np.full((1, n), 1.0 / n)])
    steps = int(round(1 / _WEIGHT_STEP))
    grid = [c for c in itertools.product(range(steps + 1), repeat=n) if sum(c) == steps]
    return np.asarray(grid, dtype=np.float64) / steps
