"""Transductive novelty detection: judge a batch of new items by whom their neighbours are.

A detector fitted on the control set alone must guess what "unusual" looks like. When the
new items are at hand (the whole core set of an ice core), a new kind shows itself as a
region of code space that the new items fill and the control items do not.
:class:`TransductiveNoveltyDetector` learns codes from all items, unlabelled, and scores
each item by the share of its nearest neighbours that are *not* control items; held-out
control items, treated exactly like the new ones, calibrate conformal p-values, so the
Benjamini–Hochberg decision keeps its false discovery rate (AdaDetect, Marandon et al.,
2024).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import column_or_1d, validate_data

from ._compat import HasMethods, Interval, StrOptions, fit_context
from ._conformal import benjamini_hochberg
from ._runtime import draw_seed, keeps_state_on_failure
from ._samples import flatten_samples, refuse_channels_last
from .semi_supervised._labels import as_label_array


class TransductiveNoveltyDetector(BaseEstimator):
    """Flags new items of kinds the control set lacks, from their neighbours among all items.

    ``fit(X, y)`` takes the control items and the new items together; ``y == -1`` marks the
    new items to judge, any other label a control item (its kind is not used). Then:

    1. ``embedding`` (by default skae's autoencoder for ``X``) is fitted on *all* items,
       without labels, and gives each item a standardised code;
    2. ``n_calibration`` random control items are set aside as calibration items, and
       the others are the reference;
    3. each item's novelty score is the share of its ``n_neighbors`` nearest neighbours
       in code space (itself excluded) that are *not* reference items, ties broken by the
       distance to the nearest reference item. A new kind fills a region without
       reference items and scores near 1; a known kind scores as the calibration items do;
    4. each new item's conformal p-value is the share of calibration items that score at
       least as high (counting the item itself), and :attr:`labels_` flags the new items
       that the Benjamini–Hochberg procedure rejects at ``fdr``.

    Calibration items and new items are treated exactly alike in steps 1 and 3, so the
    scores of calibration items and of new items of known kinds are exchangeable, and the
    p-values are valid although the score was learned from the new items themselves
    (Marandon et al., 2024). The expected share of known-kind items among the flagged is
    then at most ``fdr``.

    The decision is about the batch given to ``fit``: there is no ``predict`` for other
    items (as for :class:`~sklearn.neighbors.LocalOutlierFactor` with
    ``novelty=False``); fit again with the new batch.

    Parameters
    ----------
    embedding : transformer or "passthrough", default=None
        Fitted on all items without labels; its ``transform`` gives the codes. None:
        skae's default autoencoder for ``X`` (:func:`~skae.ConvAutoEncoder` for images).
        For particles at any angle, ``make_pipeline(ImageAligner(), ConvAutoEncoder())``
        aligns them first. ``"passthrough"``: the rows of ``X`` themselves (a table of
        measured features). The codes are standardised before the neighbours are found.
    n_neighbors : int, default=20
        Neighbours of each item whose membership is counted.
    n_calibration : "auto" or int, default="auto"
        Number of control items set aside to calibrate the p-values; the rest are the
        reference. More calibration items give finer p-values (the smallest is
        ``1 / (n_calibration + 1)``), more reference items a finer map of the known kinds.
        ``"auto"``: ``ceil(1 / (0.1 * fdr))`` (100 at ``fdr=0.1``) or a tenth of the
        control items, whichever is more, and at most half of them.
        Benjamini–Hochberg flags ``k`` of ``m`` new items only if their p-values are at
        most ``fdr * k / m``, so 100 lets a new kind that makes up a tenth of the batch
        be flagged when its items score above every calibration item. The false
        discovery rate is an average over calibration draws, and one draw of 100 varies:
        on Fashion-MNIST (50,000 control images without trousers and bags, the 10,000
        test images as the batch, ``PCA(50)`` as the embedding) 100 calibration items
        gave a false discovery proportion from 0.007 to 0.175 over 9 seeds (mean 0.083),
        and 5,000 from 0.080 to 0.102 (mean 0.087), both finding 92 % of the new kinds;
        hence the tenth. The rule and the 20 neighbours were chosen on one seed of
        ``benchmarks/bench_unknown_kinds.py`` (600 control items), where half the
        control items as calibration items left the reference too sparse (image codes'
        AUROC 0.84 against 0.89 with a fifth) and 10 neighbours gave coarser scores.
    fdr : float in (0, 1), default=0.1
        Target false discovery rate of :attr:`labels_`.
    new_label : int or str, default=-1
        The value of ``y`` that marks a new item (-1, as for unlabelled samples in
        :mod:`sklearn.semi_supervised`).
    random_state : int, RandomState instance or None, default=None
        Seeds the calibration split and the embedding (if it has a ``random_state``).

    Attributes
    ----------
    embedding_ : transformer or None
        The fitted embedding (None for ``"passthrough"``).
    novelty_scores_ : ndarray of shape (n_samples,), float64
        Novelty score of every item (higher: fewer reference items around it). For
        reference items it counts them among their own neighbours' neighbours, so compare
        only calibration and new items.
    p_values_ : ndarray of shape (n_samples,), float64
        Conformal p-value of each new item; NaN for control items.
    labels_ : ndarray of shape (n_samples,), int
        -1 for the new items flagged at ``fdr``, +1 for all others.
    reference_indices_ : ndarray of int
        Positions of the reference control items.
    calibration_indices_ : ndarray of int
        Positions of the calibration control items.
    n_features_in_ : int
        Number of features (pixels, for images) seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    CrossConformalDetector : calibrated decisions for new items from the control set
        alone (inductive).
    OpenSetDetector : items unlike every known kind, from a classifier of the kinds.
    sklearn.neighbors.LocalOutlierFactor : outliers within one set, from neighbours.

    Notes
    -----
    It finds kinds that are *present in the batch in some number*: a region needs several
    new items to fill it. A single odd item among known ones has neighbours of known kinds
    and is not found; use an inductive detector for those. The embedding is fitted once,
    on all items; the cost is that fit plus a nearest-neighbour search.

    ``benchmarks/bench_unknown_kinds.py`` measures it on ``make_particles``.

    References
    ----------
    A. Marandon, L. Lei, D. Mary, E. Roquain, "Adaptive novelty detection with false
    discovery rate guarantee", Annals of Statistics 52(1), 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import TransductiveNoveltyDetector
    >>> rng = np.random.default_rng(0)
    >>> control = rng.normal(size=(200, 2))
    >>> new = np.vstack([rng.normal(size=(160, 2)), rng.normal(5, 0.3, size=(40, 2))])
    >>> X = np.vstack([control, new])
    >>> y = np.r_[np.zeros(200), np.full(200, -1)]  # -1: the new items to judge
    >>> detector = TransductiveNoveltyDetector("passthrough", random_state=0).fit(X, y)
    >>> flagged = detector.labels_[200:] == -1
    >>> int(flagged[160:].sum())  # all 40 items of the new kind
    40
    >>> int(flagged[:160].sum())  # and none of the known kind
    0
    """

    _parameter_constraints: dict = {
        "embedding": [None, StrOptions({"passthrough"}), HasMethods(["fit", "transform"])],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_calibration": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "fdr": [Interval(Real, 0, 1, closed="neither")],
        "new_label": [Integral, str],
        "random_state": ["random_state"],
    }

    def __init__(self, embedding=None, *, n_neighbors=20, n_calibration="auto",
                 fdr=0.1, new_label=-1, random_state=None):
        self.embedding = embedding
        self.n_neighbors = n_neighbors
        self.n_calibration = n_calibration
        self.fdr = fdr
        self.new_label = new_label
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _make_embedding(self, X, seed):
        if self.embedding == "passthrough":
            return None
        if self.embedding is None:
            from ._defaults import default_autoencoder

            return default_autoencoder(X, random_state=seed)
        embedding = clone(self.embedding)
        if "random_state" in embedding.get_params():
            embedding.set_params(random_state=seed)
        return embedding

    @keeps_state_on_failure
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Learn codes from all items, score them by their neighbours, judge the new ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Control items and new items together, in any form the embedding takes (a
            table, or images ``(n, H, W)`` / ``(n, C, H, W)``). Not modified.
        y : array-like of shape (n_samples,)
            ``-1`` for a new item to judge; any other value (e.g. its kind) for a
            control item.

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            If ``y`` is missing or of the wrong length, or there are too few control
            items to split into reference and calibration items, or no new item.
        """
        if y is None:
            raise ValueError(
                "TransductiveNoveltyDetector requires y to be passed, but the target y is "
                "None: mark the new items to judge with -1 and the control items with any "
                "other value."
            )
        refuse_channels_last(self, X)
        rows, sample_shape = flatten_samples(X)
        rows = validate_data(self, rows, dtype=None, ensure_min_samples=2)
        X = rows if sample_shape is None else rows.reshape(len(rows), *sample_shape)
        y = column_or_1d(as_label_array(y), warn=True)
        if len(y) != len(X):
            raise ValueError(f"TransductiveNoveltyDetector.fit got {len(y)} labels for "
                             f"{len(X)} samples; y must have one per sample.")
        is_new = y == self.new_label
        control = np.flatnonzero(~is_new)
        n_calibration = self.n_calibration
        if n_calibration == "auto":
            n_calibration = min(max(int(np.ceil(1 / (0.1 * self.fdr))),
                                    int(np.ceil(0.1 * len(control)))), len(control) // 2)
        if not is_new.any():
            raise ValueError("TransductiveNoveltyDetector.fit found no new item to judge: "
                             f"mark them with y == {self.new_label!r} (new_label).")
        if n_calibration < 1 or len(control) - n_calibration < 2:
            raise ValueError(
                f"TransductiveNoveltyDetector needs control items both for reference (at "
                f"least 2) and for calibration (at least 1); {len(control)} control "
                f"item(s) with "
                f"n_calibration={self.n_calibration!r} leave "
                f"{len(control) - n_calibration} and {n_calibration}. Give more control "
                f"items (y != {self.new_label!r})."
            )
        if self.n_neighbors >= len(X):
            raise ValueError(f"n_neighbors={self.n_neighbors} must be below the number of "
                             f"items, {len(X)}.")
        rng = check_random_state(self.random_state)
        shuffled = rng.permutation(control)
        self.calibration_indices_ = np.sort(shuffled[:n_calibration])
        self.reference_indices_ = np.sort(shuffled[n_calibration:])

        embedding = self._make_embedding(X, draw_seed(rng))
        codes = rows if embedding is None else embedding.fit(X).transform(X)
        self.embedding_ = embedding
        codes = StandardScaler().fit_transform(np.asarray(codes, dtype=np.float64))
        self.novelty_scores_ = self._scores(codes)

        calibration = np.sort(self.novelty_scores_[self.calibration_indices_])
        new = np.flatnonzero(is_new)
        at_least = len(calibration) - np.searchsorted(
            calibration, self.novelty_scores_[new], side="left")
        self.p_values_ = np.full(len(X), np.nan)
        self.p_values_[new] = (1.0 + at_least) / (len(calibration) + 1.0)
        self.labels_ = np.ones(len(X), dtype=int)
        self.labels_[new[benjamini_hochberg(self.p_values_[new], self.fdr)]] = -1
        return self

    def _scores(self, codes):
        """Share of each item's neighbours that are not reference items, plus a tie-break
        below one step of that share: the distance to the nearest reference item."""
        k = self.n_neighbors
        # kneighbors() without X leaves each item out of its own neighbours.
        neighbours = NearestNeighbors(n_neighbors=k).fit(codes).kneighbors(
            return_distance=False)
        is_reference = np.zeros(len(codes), dtype=bool)
        is_reference[self.reference_indices_] = True
        share = 1.0 - is_reference[neighbours].mean(axis=1)
        reference = NearestNeighbors(n_neighbors=2).fit(codes[self.reference_indices_])
        distance = reference.kneighbors(codes)[0]
        # A reference item's nearest reference item is itself: take the next one.
        nearest = np.where(is_reference, distance[:, 1], distance[:, 0])
        return share + nearest / (1.0 + nearest) / (k + 1)

    def fit_predict(self, X, y):
        """Fit on ``X`` and return :attr:`labels_`: -1 for the new items flagged at ``fdr``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Control items and new items together.
        y : array-like of shape (n_samples,)
            ``-1`` for a new item, any other value for a control item.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int
            -1 for the flagged new items, +1 for all others.
        """
        return self.fit(X, y).labels_

