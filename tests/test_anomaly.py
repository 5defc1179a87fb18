"""Tests of AEAnomalyDetector: sklearn's outlier contract, scores, error maps, bad input."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import AEAnomalyDetector, ConvAutoEncoder, DenseAutoEncoder
from skae.datasets import load_fashion_mnist_subset


def _tiny_dense(**params):
    return DenseAutoEncoder(
        latent_dim=2, hidden_layer_sizes=(8,), max_epochs=3, device="cpu", **params
    )


def _tiny_conv(**params):
    settings = dict(
        latent_dim=8, channels=(8, 16), max_epochs=5, batch_size=16, lr=3e-3, device="cpu"
    )
    return ConvAutoEncoder(**{**settings, **params})


@pytest.fixture(scope="module")
def fashion():
    return load_fashion_mnist_subset(return_X_y=True)


@pytest.fixture(scope="module")
def fitted_images(fashion):
    X, y = fashion
    detector = AEAnomalyDetector(_tiny_conv(), random_state=0).fit(X[y == 7])
    return detector, X, y


@parametrize_with_checks(
    [
        AEAnomalyDetector(_tiny_dense(), random_state=0),
        AEAnomalyDetector(
            _tiny_dense(), method="reconstruction", contamination=0.1, random_state=0
        ),
    ],
    expected_failed_checks=lambda estimator: {
        "check_methods_subset_invariance": (
            "float32 torch matrix products differ with the batch size at the 1e-7 level "
            "(the check's tolerance); scores agree to about 1e-6."
        )
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------- the outlier API
@pytest.mark.parametrize("method", ["hybrid", "reconstruction", "latent"])
def test_images_rank_other_classes_lower(fitted_images, method):
    detector, X, y = fitted_images
    if method != "hybrid":
        detector = clone(detector).set_params(method=method).fit(X[y == 7])
    scores = detector.score_samples(X)
    assert scores.dtype == np.float64 and scores.shape == (len(X),)
    # Sneakers (7) normal; sandals (5) and ankle boots (9) are the hard anomalies.
    assert roc_auc_score(y != 7, -scores) > 0.9


def test_outlier_contract(fitted_images):
    detector, X, y = fitted_images
    scores = detector.score_samples(X)
    decision = detector.decision_function(X)
    np.testing.assert_allclose(decision, scores - detector.offset_)
    predicted = detector.predict(X)
    assert predicted.dtype.kind == "i"
    assert set(np.unique(predicted)) <= {-1, 1}
    np.testing.assert_array_equal(predicted, np.where(decision < 0, -1, 1))
    # More anomalies flagged among other classes than among the normal class.
    assert np.mean(predicted[y != 7] == -1) > np.mean(predicted[y == 7] == -1)


def test_training_scores_are_centred_and_auto_offset_is_tukey_fence(fitted_images):
    detector, X, y = fitted_images
    train_scores = detector.score_samples(X[y == 7])
    q1, q3 = np.percentile(train_scores, [25, 75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    assert detector.offset_ < np.median(train_scores)
    # The fence flags a small fraction of the training data.
    assert np.mean(train_scores < detector.offset_) < 0.1


@pytest.mark.parametrize("contamination", [0.05, 0.5])
def test_contamination_sets_training_outlier_fraction(contamination):
    X, y = load_breast_cancer(return_X_y=True)
    X_train = X[y == 1]
    detector = AEAnomalyDetector(
        _tiny_dense(), contamination=contamination, random_state=0
    ).fit(X_train)
    fraction = np.mean(detector.predict(X_train) == -1)
    assert fraction == pytest.approx(contamination, abs=1.5 / len(X_train))
    assert np.mean(detector.fit_predict(X_train) == -1) == pytest.approx(fraction)


def test_hybrid_terms_and_their_scale(fitted_images):
    detector, X, y = fitted_images
    assert detector.term_names_ == ("reconstruction", "latent")
    assert detector.term_center_.shape == detector.term_scale_.shape == (2,)
    assert np.all(detector.term_scale_ > 0)
    assert detector.neighbors_.n_neighbors == 5
    assert isinstance(detector.autoencoder_, ConvAutoEncoder)
    assert detector.scaler_ is None  # images are not standardised


def test_hybrid_score_is_mean_of_single_term_scores():
    X, y = load_breast_cancer(return_X_y=True)
    X_train = X[y == 1]
    scores = {
        method: AEAnomalyDetector(_tiny_dense(), method=method, random_state=0)
        .fit(X_train)
        .score_samples(X[:50])
        for method in ("hybrid", "reconstruction", "latent")
    }
    np.testing.assert_allclose(
        scores["hybrid"],
        (scores["reconstruction"] + scores["latent"]) / 2,
        rtol=1e-5,
        atol=1e-5,
    )


def test_reproducible_with_random_state():
    X, y = load_breast_cancer(return_X_y=True)
    a = AEAnomalyDetector(_tiny_dense(), random_state=3).fit(X).score_samples(X[:20])
    b = AEAnomalyDetector(_tiny_dense(), random_state=3).fit(X).score_samples(X[:20])
    np.testing.assert_array_equal(a, b)


def test_autoencoder_parameter_is_cloned():
    X = np.random.RandomState(0).rand(30, 4)
    autoencoder = _tiny_dense()
    detector = AEAnomalyDetector(autoencoder, random_state=0).fit(X)
    assert detector.autoencoder_ is not autoencoder
    assert not hasattr(autoencoder, "net_")


# ---------------------------------------------------------------------- error maps
def test_error_map_images(fitted_images):
    detector, X, y = fitted_images
    maps = detector.error_map(X[:10])
    assert maps.shape == (10, 28, 28) and maps.dtype == np.float64
    recon = detector.reconstruct(X[:10])
    assert recon.shape == (10, 28, 28)
    # The residual is smoothed by a Gaussian of error_smoothing pixels, then squared.
    expected = gaussian_filter(X[:10] - recon, sigma=(0, 1.0, 1.0)) ** 2
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-9)
    # Without smoothing: plain squared errors, whose mean is the autoencoder's mse.
    raw = AEAnomalyDetector(_tiny_conv(max_epochs=1), error_smoothing=0).fit(X[y == 7])
    raw_maps = raw.error_map(X[:10])
    np.testing.assert_allclose(
        raw_maps, (X[:10] - raw.reconstruct(X[:10])) ** 2, rtol=1e-5, atol=1e-9
    )
    np.testing.assert_allclose(
        raw_maps.mean(axis=(1, 2)),
        raw.autoencoder_.reconstruction_error(X[:10]),
        rtol=1e-4,
    )


def test_error_map_finds_the_corrupted_pixels(fitted_images):
    detector, X, y = fitted_images
    clean = X[y == 7][:20].copy()
    damaged = clean.copy()
    damaged[:, 2:8, 2:8] = 1.0  # a white square in a corner sneakers leave empty
    maps = detector.error_map(damaged)
    inside = maps[:, 2:8, 2:8].mean()
    outside = np.delete(maps.reshape(20, -1), np.ravel_multi_index(
        np.meshgrid(np.arange(2, 8), np.arange(2, 8)), (28, 28)).ravel(), axis=1).mean()
    assert inside > 10 * outside
    assert np.all(detector.score_samples(damaged) < detector.score_samples(clean))


def test_tables_are_standardised_and_error_map_in_scaled_units():
    X, y = load_breast_cancer(return_X_y=True)
    X_normal = X[y == 1]
    detector = AEAnomalyDetector(_tiny_dense(), random_state=0).fit(X_normal)
    assert isinstance(detector.scaler_, StandardScaler)
    maps = detector.error_map(X[:5])
    recon = detector.reconstruct(X[:5])
    assert maps.shape == recon.shape == (5, X.shape[1])
    scaled = detector.scaler_.transform(X[:5])
    np.testing.assert_allclose(
        maps, (scaled - detector.scaler_.transform(recon)) ** 2, rtol=1e-6, atol=1e-9
    )


def test_flat_rows_with_conv_autoencoder_are_not_scaled(fashion):
    X, y = fashion
    flat = X[y == 7][:50].reshape(-1, 784)
    detector = AEAnomalyDetector(
        _tiny_conv(image_shape=(28, 28), max_epochs=1), random_state=0
    ).fit(flat)
    assert detector.scaler_ is None
    assert detector.error_map(flat[:3]).shape == (3, 784)


# ---------------------------------------------------------------------- defaults
def test_default_autoencoder_for_tables_detects_other_digits():
    X, y = load_digits(return_X_y=True)
    normal = y == 0
    X_train, X_test, y_test = X[normal][:60], X[60:], y[60:]
    detector = AEAnomalyDetector(random_state=0).fit(X_train)
    assert isinstance(detector.autoencoder_, DenseAutoEncoder)
    assert isinstance(detector.scaler_, StandardScaler)
    assert roc_auc_score(y_test != 0, -detector.score_samples(X_test)) > 0.95


def test_default_autoencoder_for_images_is_convolutional(fashion, monkeypatch):
    import skae._anomaly as anomaly

    made = {}

    def tiny_default(random_state=None):
        made["random_state"] = random_state
        return _tiny_conv(random_state=random_state)

    monkeypatch.setattr(anomaly, "default_image_autoencoder", tiny_default)
    X, y = fashion
    detector = AEAnomalyDetector(random_state=0).fit(X[y == 3][:100])
    assert isinstance(detector.autoencoder_, ConvAutoEncoder)
    assert made["random_state"] is not None
    assert detector.sample_shape_ == (28, 28) and detector.n_features_in_ == 784


def test_detector_in_pipeline_and_dataframe():
    import pandas as pd

    data = load_breast_cancer(as_frame=True)
    X = data.data[data.target == 1]
    pipe = make_pipeline(
        StandardScaler(), AEAnomalyDetector(_tiny_dense(), scale=False, random_state=0)
    )
    assert pipe.fit(X).predict(X).shape == (len(X),)
    detector = AEAnomalyDetector(_tiny_dense(), random_state=0).fit(X)
    np.testing.assert_array_equal(detector.feature_names_in_, X.columns)
    assert isinstance(X, pd.DataFrame)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("contamination", [0.0, 0.6, -0.1, "high"])
def test_contamination_out_of_range(contamination):
    X = np.random.RandomState(0).rand(20, 4)
    with pytest.raises(ValueError, match="contamination"):
        AEAnomalyDetector(_tiny_dense(), contamination=contamination).fit(X)


def test_one_sample_is_rejected():
    with pytest.raises(ValueError, match="minimum of 2"):
        AEAnomalyDetector(_tiny_dense()).fit(np.ones((1, 4)))


def test_bad_method_and_autoencoder():
    X = np.random.RandomState(0).rand(20, 4)
    with pytest.raises(ValueError, match="method"):
        AEAnomalyDetector(_tiny_dense(), method="pca").fit(X)
    with pytest.raises(ValueError, match="autoencoder"):
        AEAnomalyDetector(PCA()).fit(X)


def test_nan_and_wrong_shapes_are_rejected(fitted_images):
    detector, X, y = fitted_images
    bad = X[:3].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detector.score_samples(bad)
    with pytest.raises(ValueError, match="features"):
        detector.score_samples(X[:3, :, :20])
    with pytest.raises(ValueError, match="shape"):
        detector.score_samples(X[:3].reshape(3, 784, 1))
    with pytest.raises(ValueError, match="features"):
        detector.predict(X[:3].reshape(3, -1)[:, :100])


def test_input_is_not_modified(fashion):
    X, y = fashion
    X_train = X[y == 2][:100]
    before = X_train.copy()
    detector = AEAnomalyDetector(_tiny_conv(), random_state=0).fit(X_train)
    detector.error_map(X_train)
    np.testing.assert_array_equal(X_train, before)


def test_small_training_set_caps_neighbours():
    X = np.random.RandomState(0).rand(3, 4)
    detector = AEAnomalyDetector(_tiny_dense(), n_neighbors=10, random_state=0).fit(X)
    assert detector.neighbors_.n_neighbors == 2
    assert np.all(np.isfinite(detector.score_samples(X)))
