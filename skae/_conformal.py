"""Calibrated decisions: conformal p-values from held-out normal samples and
Benjamini–Hochberg control of the false discovery rate.

The detector (``novelty=True``) holds out :func:`calibration_split` of its training
data and keeps their scores (``calibration_scores_``); :class:`ConformalDecisionsMixin`
turns scores of new samples into p-values and decisions from them.
"""

from numbers import Real

import numpy as np
from sklearn.utils.metaestimators import available_if

# novelty=True: the share of the training samples held out to calibrate the decisions,
# and the most samples held out (a few hundred calibration scores already pin down a
# 5 % quantile to about a percentage point; more would only be taken from training).
CALIBRATION_FRACTION = 0.2
MAX_CALIBRATION_SAMPLES = 1000


def calibration_split(estimator, n_samples, rng):
    """``(train indices, calibration indices)``: ``CALIBRATION_FRACTION`` of the samples
    (at most ``MAX_CALIBRATION_SAMPLES``) held out at random to calibrate decisions."""
    n_calibration = min(int(np.ceil(CALIBRATION_FRACTION * n_samples)),
                        MAX_CALIBRATION_SAMPLES)
    if n_samples - n_calibration < 2:
        raise ValueError(
            f"{type(estimator).__name__}(novelty=True) holds out {n_calibration} of the "
            f"{n_samples} samples to calibrate its decisions and needs at least 2 "
            "left to train on: give at least 3 samples, or set novelty=False."
        )
    order = rng.permutation(n_samples)
    return np.sort(order[n_calibration:]), np.sort(order[:n_calibration])


def calibration_offset(scores, contamination):
    """``offset_`` from calibration ``scores``: their ``contamination`` quantile, or for
    ``"auto"`` Tukey's lower fence ``Q1 - 1.5 IQR``."""
    if contamination == "auto":
        q1, q3 = np.percentile(scores, [25, 75])
        return float(q1 - 1.5 * (q3 - q1))
    return float(np.percentile(scores, 100.0 * contamination))


class ConformalDecisionsMixin:
    """``p_values`` and ``predict_at_fdr`` for an outlier detector with ``novelty=True``,
    ``calibration_scores_`` and ``score_samples`` (higher is more normal)."""

    @available_if(lambda self: self.novelty)
    def p_values(self, X):
        """Conformal p-value of each sample: how unusual it is among normal data.

        The share of held-out calibration samples (``calibration_scores_``) that score
        as low as the sample or lower, counting the sample itself:
        ``(1 + #{calibration score <= score}) / (n_calibration + 1)``. For a new normal
        sample it is uniformly distributed (``P(p <= a) <= a``), whatever the data and
        the autoencoder (Bates et al., 2023, in the class references); anomalies get
        small p-values. The smallest possible value is ``1 / (n_calibration + 1)``.
        Only with ``novelty=True``.

        Parameters
        ----------
        X : array-like of the sample shape seen at ``fit``
            Samples to test.

        Returns
        -------
        p_values : ndarray of shape (n_samples,), float64
            In ``(0, 1]``; the smaller, the stronger the evidence of an anomaly.
        """
        return conformal_p_values(self.calibration_scores_, self.score_samples(X))

    @available_if(lambda self: self.novelty)
    def predict_at_fdr(self, X, fdr=0.1):
        """Flag anomalies in ``X`` with the false discovery rate controlled at ``fdr``.

        Applies the Benjamini–Hochberg procedure to :meth:`p_values`: among the samples
        flagged -1, the expected share of normal ones is at most ``fdr`` (conformal
        p-values are positively dependent, which the procedure allows; Bates et al.,
        2023). Unlike :meth:`predict`, the decision depends on the whole batch ``X``:
        pass all the items to judge at once, e.g. the whole core set. Only with
        ``novelty=True``.

        A p-value is never below ``1 / (n_calibration + 1)``, so nothing is flagged
        unless at least ``m / (fdr * (n_calibration + 1))`` of the ``m`` samples score
        below every calibration sample: with 120 held-out samples and 600 to judge at
        ``fdr=0.1``, about 50. Small control sets give a strict but cautious decision.

        Parameters
        ----------
        X : array-like of the sample shape seen at ``fit``
            The batch of samples to judge.
        fdr : float in (0, 1), default=0.1
            Target false discovery rate.

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,), int
            +1 for inliers, -1 for the samples flagged as anomalies.
        """
        if not isinstance(fdr, Real) or isinstance(fdr, bool) or not 0 < fdr < 1:
            raise ValueError(f"fdr must be a float in (0, 1); got {fdr!r}.")
        p = self.p_values(X)
        return np.where(benjamini_hochberg(p, fdr), -1, 1)


def conformal_p_values(calibration_scores, scores):
    """``(1 + #{calibration score <= score}) / (n_calibration + 1)`` for each score.

    ``calibration_scores`` are normality scores (higher is more normal) of held-out
    normal samples, in any order; low ``scores`` get small p-values.
    """
    calibration = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    at_most = np.searchsorted(calibration, scores, side="right")
    return (1.0 + at_most) / (len(calibration) + 1.0)


def benjamini_hochberg(p_values, fdr):
    """Boolean mask of the hypotheses the Benjamini–Hochberg procedure rejects at ``fdr``.

    Rejects the ``k`` smallest p-values, where ``k`` is the largest rank with
    ``p_(k) <= k * fdr / m`` (``m`` p-values in all).
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    rejected = np.zeros(m, dtype=bool)
    if m == 0:
        return rejected
    order = np.argsort(p, kind="stable")
    below = p[order] <= fdr * np.arange(1, m + 1) / m
    if below.any():
        k = np.flatnonzero(below)[-1] + 1
        rejected[order[:k]] = True
    return rejected
