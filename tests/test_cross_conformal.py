"""CrossConformalDetector: out-of-fold calibration of any outlier detector.

Synthetic data with known rates (normal samples near a 3-d plane in 8-d, anomalies
shifted far from it), a recording detector that shows what each clone saw, and bad
input.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest

from skae import AEAnomalyDetector, ConvAutoEncoder, CrossConformalDetector, DenseAutoEncoder


def _normal(n, seed):
    rng = np.random.RandomState(seed)
    mixing = np.random.RandomState(0).normal(size=(3, 8))
    return rng.normal(size=(n, 3)) @ mixing + 0.1 * rng.normal(size=(n, 8))


def _anomalies(n, seed):
    return _normal(n, seed) + 8.0


class RecordingDetector(OutlierMixin, BaseEstimator):
    """Minus the distance to the training mean; remembers what it was fitted on."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        self.seen_X_ = X
        self.seen_y_ = y
        self.mean_ = np.asarray(X, dtype=float).reshape(len(X), -1).mean(axis=0)
        return self

    def score_samples(self, X):
        X = np.asarray(X, dtype=float).reshape(len(X), -1)
        return -np.linalg.norm(X - self.mean_, axis=1)


def test_every_sample_is_scored_by_the_clone_that_did_not_see_it():
    X = _normal(50, seed=0)
    detector = CrossConformalDetector(RecordingDetector(), cv=5, random_state=0).fit(X)
    held_out = np.concatenate(detector.fold_indices_)
    np.testing.assert_array_equal(np.sort(held_out), np.arange(50))
    for clone, rows in zip(detector.estimators_, detector.fold_indices_):
        seen = np.setdiff1d(np.arange(50), rows)
        np.testing.assert_array_equal(clone.seen_X_, X[seen])
        expected = -np.linalg.norm(X[rows] - X[seen].mean(axis=0), axis=1)
        train = clone.score_samples(X[seen])
        q1, median, q3 = np.percentile(train, [25, 50, 75])
        np.testing.assert_allclose(detector.out_of_fold_scores_[rows],
                                   (expected - median) / (q3 - q1))
    assert detector.calibration_scores_.shape == (50,)
    np.testing.assert_array_equal(detector.calibration_scores_,
                                  np.sort(detector.out_of_fold_scores_))
    # The clones get different seeds drawn from random_state.
    seeds = {clone.random_state for clone in detector.estimators_}
    assert len(seeds) == 5


def test_score_is_the_mean_of_the_standardised_clone_scores():
    X = _normal(40, seed=0)
    detector = CrossConformalDetector(RecordingDetector(), cv=4, random_state=0).fit(X)
    new = _normal(7, seed=1)
    expected = np.mean([(clone.score_samples(new) - center) / scale for clone, center, scale
                        in zip(detector.estimators_, detector.score_center_,
                               detector.score_scale_)], axis=0)
    np.testing.assert_allclose(detector.score_samples(new), expected)
    np.testing.assert_allclose(detector.decision_function(new),
                               detector.score_samples(new) - detector.offset_)


def test_p_values_pool_each_clones_comparison_with_its_own_fold():
    X = _normal(40, seed=0)
    detector = CrossConformalDetector(RecordingDetector(), cv=4, random_state=0).fit(X)
    new = np.vstack([_normal(5, seed=1), _anomalies(2, seed=2)])
    counts = np.zeros(len(new))
    for clone, center, scale, rows in zip(detector.estimators_, detector.score_center_,
                                          detector.score_scale_, detector.fold_indices_):
        score = (clone.score_samples(new) - center) / scale
        counts += (detector.out_of_fold_scores_[rows][None, :] <= score[:, None]).sum(axis=1)
    np.testing.assert_allclose(detector.p_values(new), (1 + counts) / 41)
    np.testing.assert_allclose(detector.p_values(new)[-2:], 1 / 41)


def test_labels_are_passed_on_with_their_rows():
    X = _normal(30, seed=0)
    y = np.arange(30) % 3
    detector = CrossConformalDetector(RecordingDetector(), cv=3, random_state=0).fit(X, y)
    for clone, rows in zip(detector.estimators_, detector.fold_indices_):
        np.testing.assert_array_equal(clone.seen_y_, np.delete(y, rows))


def test_an_autoencoder_detector_trains_on_its_whole_fold():
    autoencoder = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2,
                                   batch_size=16, device="cpu")
    detector = CrossConformalDetector(AEAnomalyDetector(autoencoder), cv=2,
                                      random_state=0).fit(_normal(40, seed=0))
    for clone in detector.estimators_:
        assert clone.novelty is False  # its own held-out fifth would be wasted
        assert clone.calibration_indices_ is None
    assert detector.detector.novelty is True  # the user's detector is not modified


@pytest.mark.parametrize("contamination", [0.05, 0.1])
def test_contamination_is_the_false_positive_rate_on_new_normal_data(contamination):
    rates = []
    for seed in range(4):
        detector = CrossConformalDetector(
            IsolationForest(n_estimators=50), cv=5, contamination=contamination,
            random_state=seed).fit(_normal(300, seed))
        rates.append(np.mean(detector.predict(_normal(4000, 100 + seed)) == -1))
    # 300 calibration scores: each seed's rate has a spread of about 1.5 points; the
    # averaged score makes the rate conservative, if anything.
    assert contamination - 0.03 < np.mean(rates) < contamination + 0.02


def test_fdr_decision_flags_anomalies_where_a_held_out_fifth_cannot():
    # The false discovery rate is an average over calibration sets: one set's share of
    # false discoveries varies a lot (0 to 0.3 here), so 20 of them.
    false_discovery, power = [], []
    for seed in range(20):
        control = _normal(150, seed)
        batch = np.vstack([_normal(540, 1000 + seed), _anomalies(60, 2000 + seed)])
        is_anomaly = np.r_[np.zeros(540, bool), np.ones(60, bool)]
        detector = CrossConformalDetector(RecordingDetector(), cv=5,
                                          random_state=seed).fit(control)
        flagged = detector.predict_at_fdr(batch, fdr=0.1) == -1
        false_discovery.append(np.sum(flagged & ~is_anomaly) / max(flagged.sum(), 1))
        power.append(np.mean(flagged[is_anomaly]))
    assert np.mean(false_discovery) <= 0.1
    assert np.mean(power) > 0.9
    # Calibrated on a held-out fifth (30 scores), no p-value is below 1/31, and BH at
    # 0.1 over 600 items would need about 194 items below every calibration score.
    split = AEAnomalyDetector(DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,),
                                               max_epochs=2, device="cpu"),
                              random_state=0).fit(control)
    assert split.p_values(batch).min() == pytest.approx(1 / 31)
    assert not (split.predict_at_fdr(batch, fdr=0.1) == -1).any()


@settings(max_examples=20, deadline=None)
@given(n_samples=st.integers(2, 40), cv=st.integers(2, 6),
       shape=st.sampled_from([(3,), (4, 5), (1, 4, 4)]),
       dtype=st.sampled_from([np.float32, np.float64, np.uint8, np.int64]))
def test_any_shape_and_dtype(n_samples, cv, shape, dtype):
    X = (np.random.RandomState(0).uniform(0, 9, size=(n_samples, *shape))).astype(dtype)
    before = X.copy()
    detector = CrossConformalDetector(RecordingDetector(), cv=cv, random_state=0)
    if n_samples < cv:
        with pytest.raises(ValueError, match=f"needs at least {cv} samples"):
            detector.fit(X)
        return
    detector.fit(X)
    for clone in detector.estimators_:
        assert clone.seen_X_.shape[1:] == shape  # images keep their shape
    p = detector.p_values(X[:3])
    assert p.dtype == np.float64 and np.all((p > 0) & (p <= 1))
    assert p.min() >= 1 / (n_samples + 1)
    np.testing.assert_array_equal(X, before)


def test_images_with_a_convolutional_autoencoder():
    images = np.random.RandomState(0).uniform(size=(24, 8, 8)).astype(np.float32)
    autoencoder = ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=2, batch_size=8,
                                  device="cpu")
    detector = CrossConformalDetector(AEAnomalyDetector(autoencoder), cv=3,
                                      random_state=0).fit(images)
    assert detector.sample_shape_ == (8, 8)
    assert detector.score_samples(images[:4]).shape == (4,)
    with pytest.raises(ValueError, match=r"samples of shape \(4, 16\)"):
        detector.score_samples(np.zeros((2, 4, 16), np.float32))


def test_a_dataframe_reaches_the_detector_with_its_column_names():
    frame = pd.DataFrame(_normal(30, seed=0), columns=[f"f{i}" for i in range(8)])
    detector = CrossConformalDetector(RecordingDetector(), cv=3, random_state=0).fit(frame)
    assert all(isinstance(c.seen_X_, pd.DataFrame) for c in detector.estimators_)
    np.testing.assert_array_equal(detector.feature_names_in_, frame.columns)


def test_bad_input_gets_clear_errors():
    X = _normal(20, seed=0)
    detector = CrossConformalDetector(RecordingDetector(), cv=5, random_state=0)
    with pytest.raises(ValueError, match="got 19 labels for 20 samples"):
        detector.fit(X, np.zeros(19))
    with pytest.raises(ValueError, match="needs at least 5 samples"):
        detector.fit(X[:4])
    with_nan = X.copy()
    with_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detector.fit(with_nan)
    with pytest.raises(ValueError, match="channels-last"):
        detector.fit(np.zeros((20, 8, 8, 3)))
    detector.fit(X)
    with pytest.raises(ValueError, match="8 features"):
        detector.score_samples(X[:, :5])
    with pytest.raises(ValueError, match="fdr must be"):
        detector.predict_at_fdr(X, fdr=1.5)
    assert not hasattr(detector, "fit_predict")
