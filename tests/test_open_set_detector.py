"""OpenSetDetector: items unlike every known kind, from a classifier of the known kinds."""

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.naive_bayes import GaussianNB

from skae import ConvAutoEncoder, FusedAnomalyDetector, OpenSetDetector
from skae.semi_supervised import EncoderClassifier

CENTRES = 6.0 * np.array([[1, 0], [-1, 0], [0, 1]])


def _kinds(n_per_kind, seed):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_kind)
    return rng.normal(size=(len(y), 2)) + CENTRES[y], y


def _unknown(n, seed):
    """A kind between the known ones (where no classifier is sure of any)."""
    return np.random.default_rng(seed).normal(scale=0.7, size=(n, 2)) + [0.0, 1.5]


@pytest.mark.parametrize("method", ["energy", "max_logit", "max_proba"])
def test_unknown_kind_scores_below_the_known_kinds(method):
    X, y = _kinds(100, 0)
    detector = OpenSetDetector(LogisticRegression(), method=method, random_state=0).fit(X, y)
    new_known, _ = _kinds(50, 1)
    scores = detector.score_samples(np.vstack([new_known, _unknown(50, 2)]))
    assert roc_auc_score(np.r_[np.zeros(150), np.ones(50)], -scores) > 0.95
    assert detector.known_classes_.tolist() == [0, 1, 2]
    assert (detector.classifier_.predict(new_known[:3]) == [0, 0, 0]).all()


def test_false_positive_rate_on_new_known_items_is_the_contamination():
    rates = []
    for seed in range(5):
        X, y = _kinds(200, seed)
        detector = OpenSetDetector(LogisticRegression(), contamination=0.1,
                                   random_state=seed).fit(X, y)
        new_known, _ = _kinds(1000, seed + 100)
        rates.append(np.mean(detector.predict(new_known) == -1))
    assert 0.06 < np.mean(rates) < 0.14


def test_calibration_rows_are_held_out_labelled_rows():
    X, y = _kinds(50, 0)
    y = y.copy()
    y[::7] = -1
    detector = OpenSetDetector(EncoderClassifier(_tiny_dense(), max_epochs=3, device="cpu"),
                               random_state=0).fit(X, y)
    held_out = detector.calibration_indices_
    assert len(held_out) == int(np.ceil(0.2 * (y != -1).sum()))
    assert (y[held_out] != -1).all()
    assert len(detector.calibration_scores_) == len(held_out)


def test_p_values_and_fdr_decision():
    X, y = _kinds(150, 0)
    detector = OpenSetDetector(LogisticRegression(), random_state=0).fit(X, y)
    new_known, _ = _kinds(100, 3)
    p = detector.p_values(new_known)
    assert ((p > 0) & (p <= 1)).all()
    flagged = detector.predict_at_fdr(np.vstack([new_known, _unknown(100, 4)]), fdr=0.1)
    assert (flagged[300:] == -1).mean() > 0.5
    assert (flagged[:300] == -1).sum() <= 0.2 * max(1, (flagged == -1).sum())


def test_two_known_kinds_binary_decision_values():
    X, y = _kinds(80, 0)
    two = y < 2
    detector = OpenSetDetector(LogisticRegression(), random_state=0).fit(X[two], y[two])
    scores = detector.score_samples(np.array([[6.0, 0.0], [-6.0, 0.0], [0.0, 0.0]]))
    assert scores[2] < min(scores[0], scores[1])


def _tiny_dense():
    from skae import DenseAutoEncoder

    return DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2,
                            batch_size=64, random_state=0, device="cpu")


def test_images_with_the_default_classifier_layout():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    images = rng.random((40, 8, 8)).astype(np.float32) * 0.2
    images[y == 1, 2:6, 2:6] += 0.8
    before = images.copy()
    classifier = EncoderClassifier(
        ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=2, random_state=0,
                        device="cpu"), max_epochs=5, device="cpu")
    detector = OpenSetDetector(classifier, random_state=0).fit(images, y)
    assert detector.score_samples(images[:3]).shape == (3,)
    np.testing.assert_array_equal(images, before)
    with pytest.raises(ValueError, match="shape"):
        detector.score_samples(images[:3, :4, :4])


def test_inside_the_fused_detector():
    X, y = _kinds(100, 0)
    noise = np.random.default_rng(1).normal(size=(len(X), 2))
    table = np.hstack([noise, X])
    fused = FusedAnomalyDetector([
        ("noise", IsolationForest(n_estimators=20, random_state=0), [0, 1]),
        ("kinds", OpenSetDetector(LogisticRegression()), [2, 3]),
    ], random_state=0).fit(table, y)
    assert fused.weights_[1] > fused.weights_[0]


@pytest.mark.parametrize("y, message", [
    (None, "requires y to be passed"),
    (np.zeros(10), "labels for"),
    (np.zeros(300), "at least 2 kinds"),
    (np.full(300, -1), "no labelled sample"),
])
def test_bad_labels(y, message):
    X, _ = _kinds(100, 0)
    with pytest.raises(ValueError, match=message):
        OpenSetDetector(LogisticRegression()).fit(X, y)


def test_classifier_without_the_needed_method():
    X, y = _kinds(30, 0)
    with pytest.raises(ValueError, match="decision_function"):
        OpenSetDetector(GaussianNB()).fit(X, y)
    OpenSetDetector(GaussianNB(), method="max_proba").fit(X, y)


def test_a_classifier_that_learns_minus_one_as_a_kind_is_refused():
    X, y = _kinds(30, 0)
    y = y.copy()
    y[:20] = -1
    with pytest.raises(ValueError, match="unlabelled marker -1"):
        OpenSetDetector(LogisticRegression()).fit(X, y)


def test_nan_in_X_is_refused():
    X, y = _kinds(30, 0)
    X = X.copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        OpenSetDetector(LogisticRegression()).fit(X, y)
