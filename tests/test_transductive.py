"""TransductiveNoveltyDetector: known rates on synthetic batches, images, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skae import ConvAutoEncoder, TransductiveNoveltyDetector


def _batch(seed, n_control=200, n_known=160, n_unknown=40):
    """Control items and new items near a 3-d plane in 6-d; the unknown kind is a
    compact group off the plane. ``y``: 0 for control, -1 for new items."""
    rng = np.random.RandomState(seed)
    mixing = np.random.RandomState(0).normal(size=(3, 6))

    def known(n):
        return rng.normal(size=(n, 3)) @ mixing + 0.1 * rng.normal(size=(n, 6))

    unknown = rng.normal(size=(n_unknown, 3)) @ mixing * 0.2 + 1.5
    X = np.vstack([known(n_control), known(n_known), unknown])
    y = np.r_[np.zeros(n_control), np.full(n_known + n_unknown, -1)]
    is_unknown = np.r_[np.zeros(n_control + n_known, bool), np.ones(n_unknown, bool)]
    return X, y, is_unknown


def test_false_discovery_rate_and_power_over_batches():
    # The rate bounds an average over batches: one batch's share of false discoveries
    # varies, so 20 of them.
    false_discovery, power = [], []
    for seed in range(20):
        X, y, is_unknown = _batch(seed)
        flagged = TransductiveNoveltyDetector(
            "passthrough", random_state=seed).fit_predict(X, y) == -1
        false_discovery.append(np.sum(flagged & ~is_unknown) / max(flagged.sum(), 1))
        power.append(np.mean(flagged[is_unknown]))
    assert np.mean(false_discovery) <= 0.1
    assert np.mean(power) > 0.9


def test_p_values_of_new_known_items_are_uniform():
    # No unknown kind: the new items are exchangeable with the calibration items.
    below = []
    for seed in range(20):
        X, y, _ = _batch(seed, n_unknown=0)
        detector = TransductiveNoveltyDetector("passthrough", random_state=seed).fit(X, y)
        p = detector.p_values_[y == -1]
        below.append([np.mean(p <= a) for a in (0.1, 0.3, 0.5)])
    np.testing.assert_allclose(np.mean(below, axis=0), [0.1, 0.3, 0.5], atol=0.04)


def test_attributes_and_split():
    X, y, _ = _batch(0)
    before = X.copy()
    detector = TransductiveNoveltyDetector("passthrough", n_calibration=50,
                                           random_state=0).fit(X, y)
    np.testing.assert_array_equal(X, before)
    assert len(detector.calibration_indices_) == 50
    assert len(detector.reference_indices_) == 150
    assert not np.intersect1d(detector.calibration_indices_, detector.reference_indices_).size
    assert np.isnan(detector.p_values_[y != -1]).all()
    new = y == -1
    assert np.all((detector.p_values_[new] > 0) & (detector.p_values_[new] <= 1))
    assert detector.p_values_[new].min() >= 1 / 51
    assert set(np.unique(detector.labels_[~new])) == {1}
    assert detector.embedding_ is None
    # The novelty score of an item is the share of its neighbours that are not
    # reference items, plus a tie-break below one step of that share.
    share = np.floor(detector.novelty_scores_ * 10 + 1e-9) / 10
    assert np.all(detector.novelty_scores_ - share < 1 / 11)


def test_images_go_to_the_embedding_in_their_shape():
    rng = np.random.RandomState(0)
    images = rng.uniform(size=(40, 8, 8)).astype(np.float32)
    y = np.r_[np.zeros(20), np.full(20, -1)]
    embedding = ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=2, device="cpu")
    detector = TransductiveNoveltyDetector(embedding, n_neighbors=5, random_state=0)
    labels = detector.fit_predict(images, y)
    assert labels.shape == (40,)
    assert detector.embedding_.image_shape_ == (1, 8, 8)
    assert detector.embedding.image_shape is None  # the user's embedding is not fitted


def test_a_string_label_marks_the_new_items():
    X, y, is_unknown = _batch(1)
    kinds = np.where(y == -1, "core", "control")
    detector = TransductiveNoveltyDetector("passthrough", new_label="core", random_state=0)
    flagged = detector.fit_predict(X, kinds) == -1
    assert flagged[is_unknown].mean() > 0.8


def test_bad_input_gets_clear_errors():
    X, y, _ = _batch(0)
    detector = TransductiveNoveltyDetector("passthrough", random_state=0)
    with pytest.raises(ValueError, match="requires y"):
        detector.fit(X, None)
    with pytest.raises(ValueError, match="got 399 labels for 400 samples"):
        detector.fit(X, y[:-1])
    with pytest.raises(ValueError, match="no new item"):
        detector.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="both for reference"):
        detector.fit(X[199:], y[199:])  # one control item
    with pytest.raises(ValueError, match="n_neighbors=400 must be below"):
        TransductiveNoveltyDetector("passthrough", n_neighbors=400).fit(X, y)
    with_nan = X.copy()
    with_nan[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detector.fit(with_nan, y)
    with pytest.raises(ValueError, match="channels-last"):
        detector.fit(np.zeros((400, 8, 8, 3)), y)


@settings(max_examples=25, deadline=None)
@given(n_control=st.integers(1, 30), n_new=st.integers(0, 30),
       shape=st.sampled_from([(3,), (5, 4), (1, 4, 4)]),
       dtype=st.sampled_from([np.float32, np.float64, np.uint8, np.int64]))
def test_any_sizes_shapes_and_dtypes(n_control, n_new, shape, dtype):
    X = np.random.RandomState(0).uniform(0, 9, size=(n_control + n_new, *shape)).astype(dtype)
    before = X.copy()
    y = np.r_[np.zeros(n_control), np.full(n_new, -1)]
    detector = TransductiveNoveltyDetector("passthrough", n_neighbors=2, random_state=0)
    try:
        labels = detector.fit_predict(X, y)
    except ValueError as error:
        # Only the documented refusals: no new item, too few control items, too few items.
        assert any(m in str(error) for m in ("no new item", "both for reference",
                                             "must be below", "minimum of 2")), error
        assert n_new == 0 or n_control < 3 or n_control + n_new <= 2
        return
    assert labels.shape == (n_control + n_new,) and set(labels) <= {-1, 1}
    p = detector.p_values_[y == -1]
    assert np.all((p > 0) & (p <= 1))
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("n_control, expected", [(50, 25), (200, 100), (2000, 200)])
def test_auto_calibration_size(n_control, expected):
    # 100 at fdr=0.1, or a tenth of the control items, at most half of them.
    X, y, _ = _batch(0, n_control=n_control, n_known=40, n_unknown=10)
    detector = TransductiveNoveltyDetector("passthrough", random_state=0).fit(X, y)
    assert len(detector.calibration_indices_) == expected
    assert len(detector.reference_indices_) == n_control - expected
