"""FusedAnomalyDetector: several detectors on their own columns, one calibrated score."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skae import AEAnomalyDetector, FusedAnomalyDetector, LinearAutoEncoder


def _two_sources(n_per_kind=80, seed=0, kinds=(0, 1, 2)):
    """Columns 0-3: noise that says nothing of the kind; columns 4-7: the kinds apart."""
    rng = np.random.default_rng(seed)
    y = np.repeat(kinds, n_per_kind)
    centres = 5 * np.eye(4)[y]
    X = np.hstack([rng.normal(size=(len(y), 4)), centres + rng.normal(size=(len(y), 4))])
    return X.astype(np.float32), y


def _detector(**kwargs):
    return FusedAnomalyDetector([
        ("noise", IsolationForest(n_estimators=50, random_state=0), slice(0, 4)),
        ("kinds", AEAnomalyDetector(LinearAutoEncoder(latent_dim=4)), slice(4, 8)),
    ], random_state=0, **kwargs)


def test_auto_weights_follow_the_source_that_finds_a_left_out_kind():
    X, y = _two_sources()
    fused = _detector().fit(X, y)
    assert fused.weights_[1] >= 0.8
    np.testing.assert_allclose(fused.weights_.sum(), 1)
    validation = fused.validation_auroc_
    assert set(validation) == {"noise", "kinds", "fused"}
    assert validation["fused"] >= max(validation["noise"], validation["kinds"]) - 1e-12
    # A kind never seen in training (the fourth centre) is found on new data.
    new_known, _ = _two_sources(seed=1)
    new_kind, _ = _two_sources(n_per_kind=40, seed=2, kinds=(3,))
    scores = fused.score_samples(np.vstack([new_known, new_kind]))
    is_new = np.r_[np.zeros(len(new_known)), np.ones(len(new_kind))]
    assert roc_auc_score(is_new, -scores) > 0.95
    equal = _detector(weights="equal").fit(X, y)
    assert roc_auc_score(is_new, -scores) > roc_auc_score(
        is_new, -equal.score_samples(np.vstack([new_known, new_kind])))


def test_score_is_the_weighted_mean_of_standardised_scores():
    X, y = _two_sources()
    fused = _detector(weights=[1, 3]).fit(X, y)
    np.testing.assert_allclose(fused.weights_, [0.25, 0.75])
    assert fused.validation_auroc_ is None
    parts = np.column_stack([
        fused.named_detectors_[name].score_samples(X[:, cols])
        for name, cols in (("noise", slice(0, 4)), ("kinds", slice(4, 8)))
    ])
    expected = ((parts - fused.score_center_) / fused.score_scale_) @ [0.25, 0.75]
    np.testing.assert_allclose(fused.score_samples(X), expected)
    np.testing.assert_array_equal(fused.detectors_[1][2], [4, 5, 6, 7])


def test_without_labels_the_weights_are_equal_and_decisions_calibrated():
    X, _ = _two_sources(n_per_kind=300)
    fused = _detector(contamination=0.05).fit(X)
    np.testing.assert_allclose(fused.weights_, [0.5, 0.5])
    new, _ = _two_sources(n_per_kind=600, seed=5)
    assert 0.02 <= np.mean(fused.predict(new) == -1) <= 0.09
    assert 0.02 <= np.mean(fused.p_values(new) <= 0.05) <= 0.09
    assert not hasattr(fused, "fit_predict")
    assert set(np.unique(fused.predict_at_fdr(new, fdr=0.1))) <= {-1, 1}


def test_columns_by_name_and_by_callable():
    X, y = _two_sources()
    frame = pd.DataFrame(X, columns=[f"noise{i}" for i in range(4)]
                         + [f"kind{i}" for i in range(4)])
    by_name = FusedAnomalyDetector([
        ("noise", IsolationForest(n_estimators=50, random_state=0),
         [f"noise{i}" for i in range(4)]),
        ("kinds", AEAnomalyDetector(LinearAutoEncoder(latent_dim=4)),
         lambda df: [c for c in df.columns if c.startswith("kind")]),
    ], weights="equal", random_state=0).fit(frame, y)
    by_position = _detector(weights="equal").fit(X, y)
    np.testing.assert_array_equal(by_name.detectors_[1][2], [4, 5, 6, 7])
    np.testing.assert_allclose(by_name.score_samples(frame), by_position.score_samples(X),
                               rtol=1e-6)
    np.testing.assert_array_equal(by_name.feature_names_in_, frame.columns)


def test_nested_parameters_and_clone():
    fused = _detector()
    assert fused.get_params()["noise__n_estimators"] == 50
    fused.set_params(noise__n_estimators=7, kinds__method="latent")
    assert fused.detectors[0][1].n_estimators == 7
    assert fused.detectors[1][1].method == "latent"
    assert fused.detectors[1][2] == slice(4, 8)
    assert clone(fused).get_params()["noise__n_estimators"] == 7
    fused.set_params(noise=IsolationForest(n_estimators=3))
    assert fused.detectors[0][1].n_estimators == 3
    assert fused.detectors[0][2] == slice(0, 4)


@pytest.mark.parametrize(
    ("detectors", "message"),
    [
        ([], "non-empty list"),
        ([("a", IsolationForest())], "non-empty list of \\(name, detector, columns\\)"),
        ([("a", LinearAutoEncoder(latent_dim=1), [0])], "needs fit and score_samples"),
        ([("a", IsolationForest(), slice(9, 12))], "select no column"),
        ([("a", IsolationForest(), [0]), ("a", IsolationForest(), [1])], "unique"),
    ],
)
def test_bad_detectors_are_refused_clearly(detectors, message):
    X, _ = _two_sources()
    with pytest.raises(ValueError, match=message):
        FusedAnomalyDetector(detectors).fit(X)


def test_bad_data_is_refused_clearly():
    X, y = _two_sources()
    with pytest.raises(ValueError, match="10 labels for 240 samples"):
        _detector().fit(X, y[:10])
    with pytest.raises(ValueError, match="weights must be 2 non-negative"):
        _detector(weights=[1, -1]).fit(X, y)
    with pytest.raises(ValueError, match="weights must be 2 non-negative"):
        _detector(weights=[1, 1, 1]).fit(X, y)
    with_nan = X.copy()
    with_nan[3, 6] = np.nan  # a missing measured feature
    with pytest.raises(ValueError, match="NaN"):
        _detector().fit(with_nan, y)
    fitted = _detector(weights="equal").fit(X)
    with pytest.raises(ValueError, match="NaN"):
        fitted.score_samples(with_nan)
    with pytest.raises(ValueError, match="8 features"):
        fitted.score_samples(X[:, :6])


def test_input_is_not_modified():
    X, y = _two_sources()
    X_before, y_before = X.copy(), y.copy()
    _detector().fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
