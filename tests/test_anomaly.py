"""Tests of AEAnomalyDetector: sklearn's outlier contract, scores, error maps, bad input."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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


# sklearn's estimator checks of the detector run in tests/test_common.py.


# ---------------------------------------------------------------------- the outlier API
@pytest.fixture(scope="module")
def bags(fashion):
    """Bags (class 8) as the normal class: 150 to train on; the 50 other bags and the
    1,800 images of the other classes held out. On sneakers, the class the other tests
    use, the distance to the mean image already reaches an AUROC of 0.98."""
    X, y = fashion
    train = np.flatnonzero(y == 8)[:150]
    held_out = np.setdiff1d(np.arange(len(X)), train)
    return X[train], X[held_out], y[held_out] != 8


def _auroc(is_anomaly, anomaly_score):
    return roc_auc_score(is_anomaly, anomaly_score)


def _image_baselines(X_train, X_test, is_anomaly):
    """AUROC of classical scores of the same held-out images, fitted on the same ones."""
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    mean = X_train.mean(axis=0)
    pca = PCA(n_components=8, random_state=0).fit(flat_train)
    knn = NearestNeighbors(n_neighbors=5).fit(flat_train)
    return {
        # The distance to the mean image, raw and smoothed as the detector smooths its
        # residuals (error_smoothing=1): what a decoder that ignores its code scores.
        "mean image": _auroc(is_anomaly, ((flat_test - mean.ravel()) ** 2).mean(axis=1)),
        "mean image, smoothed": _auroc(
            is_anomaly, (gaussian_filter(X_test - mean, sigma=(0, 1, 1)) ** 2).mean(axis=(1, 2))
        ),
        "PCA, 8 components": _auroc(
            is_anomaly,
            ((pca.inverse_transform(pca.transform(flat_test)) - flat_test) ** 2).mean(axis=1),
        ),
        "raw-pixel kNN": _auroc(is_anomaly, knn.kneighbors(flat_test)[0].mean(axis=1)),
    }


# Per method, the baselines it must beat on held-out images, and by how much. Measured
# with random_state=0 (AUROC): mean image 0.755, smoothed 0.771, PCA 0.745, raw-pixel
# kNN 0.829, the detector on an untrained network 0.58 (latent) / 0.67 (hybrid); the
# detector 0.946 (hybrid), 0.839 (reconstruction), 0.939 (latent). Random states 1 and 2
# give 0.89 / 0.80-0.82 / 0.85-0.89.
BEATS = {
    "hybrid": (("mean image", "mean image, smoothed", "PCA, 8 components", "raw-pixel kNN",
                "untrained network"), 0.03),
    "reconstruction": (("mean image", "mean image, smoothed", "PCA, 8 components"), 0.02),
    "latent": (("raw-pixel kNN", "untrained network"), 0.02),
}


@pytest.mark.parametrize("method", ["hybrid", "reconstruction", "latent"])
def test_images_rank_other_classes_lower(bags, method):
    X_train, X_test, is_anomaly = bags
    detector = AEAnomalyDetector(_tiny_conv(max_epochs=30), method=method, random_state=0)
    scores = detector.fit(X_train).score_samples(X_test)
    assert scores.dtype == np.float64 and scores.shape == (len(X_test),)
    auroc = _auroc(is_anomaly, -scores)
    baselines = _image_baselines(X_train, X_test, is_anomaly)
    if method != "reconstruction":
        # The same detector on the network at its initial weights (zero epochs).
        untrained = AEAnomalyDetector(
            _tiny_conv(net_params={"max_epochs": 0}), method=method, random_state=0
        ).fit(X_train)
        baselines["untrained network"] = _auroc(is_anomaly, -untrained.score_samples(X_test))
    names, margin = BEATS[method]
    best = max(names, key=baselines.get)
    assert auroc > baselines[best] + margin, (method, auroc, baselines)


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


def test_auto_offset_is_tukey_fence_of_the_held_out_scores(fitted_images):
    detector, X, y = fitted_images
    normal = X[y == 7]
    held_out = detector.calibration_indices_
    assert len(held_out) == int(np.ceil(0.2 * len(normal)))
    calibration_scores = detector.score_samples(normal[held_out])
    np.testing.assert_allclose(np.sort(calibration_scores), detector.calibration_scores_)
    q1, q3 = np.percentile(calibration_scores, [25, 75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    assert detector.offset_ < np.median(calibration_scores)
    # The fence flags a small fraction of the normal data.
    assert np.mean(detector.score_samples(normal) < detector.offset_) < 0.1


@pytest.mark.parametrize("contamination", [0.05, 0.5])
def test_contamination_sets_training_outlier_fraction(contamination):
    X, y = load_breast_cancer(return_X_y=True)
    X_train = X[y == 1]
    detector = AEAnomalyDetector(
        _tiny_dense(), contamination=contamination, novelty=False, random_state=0
    ).fit(X_train)
    assert detector.calibration_indices_ is None
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
def test_default_table_detector_finds_an_unseen_digit():
    # Normal: 800 digits of the classes 1-9; held out: the other 717 of them and every 0,
    # a digit never seen in training. Baselines on the same split, in the standardised
    # units the detector works in: the distance to the mean row (what a decoder that
    # ignores its code gives) and PCA with as many components as the code (16).
    # Measured AUROC: detector 0.936 (0.92, 0.93 with random states 1, 2), mean 0.568,
    # PCA 0.829; raw kNN (5 neighbours) reaches 0.945, which the detector does not beat.
    X, y = load_digits(return_X_y=True)
    normal = np.random.RandomState(0).permutation(np.flatnonzero(y != 0))
    X_train = X[normal[:800]]
    X_test = np.concatenate([X[normal[800:]], X[y == 0]])
    is_anomaly = np.r_[np.zeros(len(normal) - 800, bool), np.ones(np.sum(y == 0), bool)]
    detector = AEAnomalyDetector(random_state=0).fit(X_train)
    assert isinstance(detector.autoencoder_, DenseAutoEncoder)
    assert isinstance(detector.scaler_, StandardScaler)
    auroc = roc_auc_score(is_anomaly, -detector.score_samples(X_test))
    scaler = StandardScaler().fit(X_train)
    Z_train, Z_test = scaler.transform(X_train), scaler.transform(X_test)
    mean = roc_auc_score(is_anomaly, ((Z_test - Z_train.mean(axis=0)) ** 2).mean(axis=1))
    pca = PCA(n_components=detector.autoencoder_.latent_dim, random_state=0).fit(Z_train)
    pca_error = ((pca.inverse_transform(pca.transform(Z_test)) - Z_test) ** 2).mean(axis=1)
    pca = roc_auc_score(is_anomaly, pca_error)
    assert auroc > max(mean, pca) + 0.05, (auroc, mean, pca)


def test_default_autoencoder_for_images_is_convolutional(fashion, monkeypatch):
    import skae._anomaly as anomaly

    made = {}

    def tiny_default(X, purpose="representation", random_state=None):
        made["random_state"] = random_state
        return _tiny_conv(random_state=random_state)

    monkeypatch.setattr(anomaly, "default_autoencoder", tiny_default)
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
    # novelty=True holds out one of the three samples: two codes, one neighbour each.
    for novelty, n_neighbors in ((True, 1), (False, 2)):
        detector = AEAnomalyDetector(_tiny_dense(), n_neighbors=10, novelty=novelty,
                                     random_state=0).fit(X)
        assert detector.neighbors_.n_neighbors == n_neighbors
        assert np.all(np.isfinite(detector.score_samples(X)))


def test_score_parts_explain_the_score():
    X = np.random.RandomState(0).normal(size=(120, 6)).astype(np.float32)
    detector = AEAnomalyDetector(
        DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=3, random_state=0),
        random_state=0,
    ).fit(X)
    X_new = np.vstack([X[:5], X[:5] + 8.0])
    parts = detector.score_parts(X_new)
    assert parts.shape == (10, len(detector.term_names_)) == (10, 2)
    np.testing.assert_allclose(-parts.mean(axis=1), detector.score_samples(X_new))
    # Far-off samples are more unusual in every part.
    assert (parts[5:] > parts[:5]).all()


def test_encode_gives_the_codes_of_the_scaled_input():
    """``encode`` scales as the detector does before its autoencoder's ``transform``:
    the codes the latent term is computed from, and they differ from unscaled codes."""
    rng = np.random.RandomState(0)
    X = (rng.normal(size=(120, 6)) * [1, 10, 100, 1, 1, 1000]).astype(np.float32)
    detector = AEAnomalyDetector(
        DenseAutoEncoder(latent_dim=3, hidden_layer_sizes=(8,), max_epochs=3, random_state=0),
        random_state=0,
    ).fit(X)
    assert detector.scaler_ is not None
    X_before = X.copy()
    codes = detector.encode(X[:20])
    np.testing.assert_array_equal(X, X_before)
    assert codes.shape == (20, 3) and codes.dtype == np.float32
    expected = detector.autoencoder_.transform(detector.scaler_.transform(X[:20]))
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
    unscaled = detector.autoencoder_.transform(X[:20])
    assert not np.allclose(codes, unscaled, atol=1e-3)
    with pytest.raises(ValueError, match="features"):
        detector.encode(X[:5, :4])
