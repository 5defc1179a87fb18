"""Calibrated decisions of AEAnomalyDetector: held-out offset, conformal p-values, BH.

Synthetic data with known rates: normal samples from one Gaussian, anomalies from a
shifted one, so the false-positive rate and the false discovery proportion can be
checked against what the parameters promise.
"""

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from skae import AEAnomalyDetector, DenseAutoEncoder
from skae._conformal import benjamini_hochberg

TINY = dict(latent_dim=2, hidden_layer_sizes=(16,), max_epochs=5, batch_size=64,
            device="cpu")


def _normal(n, seed):
    rng = np.random.RandomState(seed)
    mixing = np.random.RandomState(0).normal(size=(3, 8))  # normal data near a 3-d plane
    return rng.normal(size=(n, 3)) @ mixing + 0.1 * rng.normal(size=(n, 8))


def _detector(**params):
    return AEAnomalyDetector(DenseAutoEncoder(**TINY, random_state=0), **params)


@pytest.fixture(scope="module")
def calibrated():
    X_train = _normal(5000, seed=1)  # 1,000 held out, the most ever held out
    detector = _detector(contamination=0.1, random_state=0).fit(X_train)
    return detector, X_train


def test_held_out_samples_are_not_trained_on(calibrated):
    detector, X_train = calibrated
    held_out = detector.calibration_indices_
    assert len(held_out) == 1000 and len(np.unique(held_out)) == 1000
    assert detector.calibration_scores_.shape == (1000,)
    assert np.all(np.diff(detector.calibration_scores_) >= 0)
    # The scaler, fitted on the training part only, differs from one fitted on all rows.
    train = np.setdiff1d(np.arange(len(X_train)), held_out)
    np.testing.assert_allclose(detector.scaler_.mean_, X_train[train].mean(axis=0))


def test_contamination_is_the_false_positive_rate_on_new_normal_data(calibrated):
    detector, _ = calibrated
    new_normal = _normal(4000, seed=2)
    rate = np.mean(detector.predict(new_normal) == -1)
    # 1,000 calibration scores: the 10 % quantile's coverage has a spread of about 1 %.
    assert 0.07 < rate < 0.13


def test_p_values_are_uniform_on_new_normal_data_and_small_for_anomalies(calibrated):
    detector, _ = calibrated
    p_normal = detector.p_values(_normal(4000, seed=3))
    assert np.all((p_normal > 0) & (p_normal <= 1))
    assert p_normal.min() >= 1 / 1001
    for level in (0.05, 0.2, 0.5):
        # Three spreads of a quantile of 1,000 calibration scores, plus the test sample's.
        spread = 3 * np.sqrt(level * (1 - level) / 1000) + 0.01
        assert np.mean(p_normal <= level) == pytest.approx(level, abs=spread)
    anomalies = _normal(200, seed=4) + 6.0
    assert np.median(detector.p_values(anomalies)) < 0.05


def test_p_values_formula(calibrated):
    detector, _ = calibrated
    X = _normal(50, seed=5)
    scores = detector.score_samples(X)
    expected = [(1 + np.sum(detector.calibration_scores_ <= s)) / 1001 for s in scores]
    np.testing.assert_allclose(detector.p_values(X), expected)


def test_predict_at_fdr_controls_the_false_discovery_proportion(calibrated):
    detector, _ = calibrated
    normal, anomalies = _normal(900, seed=6), _normal(100, seed=7) + 6.0
    X = np.vstack([normal, anomalies])
    is_anomaly = np.r_[np.zeros(900, bool), np.ones(100, bool)]
    flagged = detector.predict_at_fdr(X, fdr=0.1) == -1
    assert flagged[is_anomaly].mean() > 0.8  # power
    false_discovery_proportion = np.sum(flagged & ~is_anomaly) / max(flagged.sum(), 1)
    assert false_discovery_proportion <= 0.15
    # A stricter target flags a subset.
    strict = detector.predict_at_fdr(X, fdr=0.01) == -1
    assert np.all(flagged[strict])


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.RandomState(0)
    p = np.r_[rng.uniform(size=80), rng.uniform(0, 0.01, size=20)]
    for q in (0.05, 0.1, 0.3):
        np.testing.assert_array_equal(
            benjamini_hochberg(p, q), false_discovery_control(p, method="bh") <= q
        )
    assert not benjamini_hochberg(np.array([]), 0.1).any()
    assert not benjamini_hochberg(np.array([0.5, 0.9]), 0.1).any()


@pytest.mark.parametrize("fdr", [0, 1, -0.1, 1.5, "0.1", True, None])
def test_bad_fdr_is_refused(calibrated, fdr):
    detector, X = calibrated
    with pytest.raises(ValueError, match="fdr"):
        detector.predict_at_fdr(X[:5], fdr=fdr)


def test_methods_available_by_novelty():
    novelty = _detector(random_state=0)
    outliers = _detector(novelty=False, random_state=0)
    assert not hasattr(novelty, "fit_predict")
    assert hasattr(novelty, "p_values") and hasattr(novelty, "predict_at_fdr")
    assert hasattr(outliers, "fit_predict")
    assert not hasattr(outliers, "p_values") and not hasattr(outliers, "predict_at_fdr")


def test_novelty_false_flags_the_training_share_and_calibrates_in_sample():
    X = _normal(300, seed=8)
    detector = _detector(novelty=False, contamination=0.1, random_state=0)
    labels = detector.fit_predict(X)
    assert np.sum(labels == -1) == 30
    np.testing.assert_allclose(detector.calibration_scores_,
                               np.sort(detector.score_samples(X)))


def test_split_is_reproducible_and_depends_on_the_seed():
    X = _normal(100, seed=9)
    a = _detector(random_state=0).fit(X).calibration_indices_
    b = _detector(random_state=0).fit(X).calibration_indices_
    c = _detector(random_state=1).fit(X).calibration_indices_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_too_few_samples_to_hold_out():
    with pytest.raises(ValueError, match="novelty=False"):
        _detector().fit(_normal(2, seed=0))
    _detector(novelty=False).fit(_normal(2, seed=0))  # in-sample calibration works


def test_input_not_modified_by_the_split():
    X = _normal(60, seed=10)
    before = X.copy()
    _detector(random_state=0).fit(X)
    np.testing.assert_array_equal(X, before)
