"""Variational autoencoders: codes, samples, likelihoods, and the estimators built on them."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import (
    AEAnomalyDetector,
    DenseAutoEncoder,
    EncoderClassifier,
    FewLabelClassifier,
    VariationalConvAutoEncoder,
    VariationalDenseAutoEncoder,
)
from skae._callbacks import StopOnNonFiniteLoss
from skae._training import SignedEarlyStopping
from skae.augmentation import RandomShift
from skae.compression import AutoEncoderCodec
from skae.corruption import GaussianNoise
from skae.exceptions import TrainingDivergedError
from skae.persistence import load, save

CPU = dict(device="cpu", random_state=0)
CONV = dict(latent_dim=4, channels=(4, 8), max_epochs=3, batch_size=16, lr=1e-2,
            n_importance_samples=8, **CPU)
DENSE = dict(latent_dim=2, hidden_layer_sizes=(16,), max_epochs=3, batch_size=32,
             n_importance_samples=8, **CPU)


@pytest.fixture(scope="module")
def images(fashion_subset):
    X, y = fashion_subset
    return X[:200], y[:200]


@pytest.fixture(scope="module")
def table():
    rng = np.random.RandomState(0)
    return rng.normal(size=(150, 6)) @ rng.normal(size=(6, 6))


@pytest.fixture(scope="module")
def conv_vae(images):
    return VariationalConvAutoEncoder(**CONV).fit(images[0])


@pytest.fixture(scope="module")
def dense_vae(table):
    return VariationalDenseAutoEncoder(**DENSE).fit(table)


def _noise(shape, seed=1):
    return np.random.RandomState(seed).rand(*shape).astype(np.float32)


# ---------------------------------------------------------------------- codes
def test_transform_is_the_deterministic_posterior_mean(conv_vae, images):
    X = images[0][:50]
    codes = conv_vae.transform(X)
    assert codes.shape == (50, 4) and codes.dtype == np.float32
    assert_array_equal(codes, conv_vae.transform(X))
    # reconstruct decodes the mean: inverse_transform(transform(X)).
    assert_allclose(conv_vae.reconstruct(X), conv_vae.inverse_transform(codes), atol=1e-5)
    assert conv_vae.reconstruct(X).shape == X.shape
    assert conv_vae.get_feature_names_out()[0] == "variationalconvautoencoder0"


def test_sample_is_reproducible_with_a_seed(conv_vae, dense_vae):
    first = conv_vae.sample(5, random_state=0)
    assert first.shape == (5, 28, 28) and np.isfinite(first).all()
    assert_array_equal(first, conv_vae.sample(5, random_state=0))
    assert not np.allclose(first, conv_vae.sample(5, random_state=1))
    noisy = dense_vae.sample(4, noise=True, random_state=0)
    assert noisy.shape == (4, 6)
    assert_array_equal(noisy, dense_vae.sample(4, noise=True, random_state=0))
    assert not np.allclose(noisy, dense_vae.sample(4, random_state=0))
    with pytest.raises(ValueError, match="n_samples"):
        conv_vae.sample(0)


# ---------------------------------------------------------------------- likelihoods
def test_score_samples_is_finite_and_higher_on_training_like_data(conv_vae, images):
    X, _ = images
    normal = conv_vae.score_samples(X)
    noise = conv_vae.score_samples(_noise(X.shape))
    assert normal.shape == (len(X),) and normal.dtype == np.float64
    assert np.isfinite(normal).all() and np.isfinite(noise).all()
    assert normal.mean() > noise.mean() + 20
    assert_array_equal(normal, conv_vae.score_samples(X))  # the same draws every call
    assert conv_vae.score(X) == pytest.approx(normal.mean())


def test_score_samples_is_in_the_units_of_the_data(images, fashion_subset):
    # uint8 images reach the network divided by 255: the same network, and a density
    # of the data as given, lower by 784 log(255) (the Jacobian of the scaling).
    raw = (np.rint(images[0] * 255)).astype(np.uint8)
    as_uint8 = VariationalConvAutoEncoder(**CONV).fit(raw[:100])
    as_float = VariationalConvAutoEncoder(**CONV).fit(raw[:100] / np.float32(255))
    assert as_uint8.input_scale_ == 255
    expected = as_float.score_samples(raw[100:] / np.float32(255)) - 784 * math.log(255)
    assert_allclose(as_uint8.score_samples(raw[100:]), expected, rtol=1e-5)


def test_more_importance_samples_tighten_the_bound(dense_vae, table):
    elbo = dense_vae.set_params(n_importance_samples=1).score(table)
    iwae = dense_vae.set_params(n_importance_samples=64).score(table)
    dense_vae.set_params(n_importance_samples=8)
    assert iwae > elbo


def test_history_records_the_two_parts_of_the_loss(dense_vae):
    last = dense_vae.history_[-1]
    assert last["kl"] >= 0
    assert last["train_loss"] == pytest.approx(last["nll"] + dense_vae.beta * last["kl"],
                                               rel=1e-4)
    # One variance per feature.
    assert tuple(dense_vae.net_.module_.log_variance.shape) == (1, 6)


def test_history_has_the_parts_when_training_stops_early(table):
    # tol=10: no epoch improves enough, so early stopping ends the second epoch.
    vae = VariationalDenseAutoEncoder(**DENSE, early_stopping=True, n_iter_no_change=1,
                                      tol=10.0).fit(table)
    assert vae.n_epochs_ < DENSE["max_epochs"]
    assert all("kl" in row and "nll" in row for row in vae.history_)


def test_global_variance_and_beta(table):
    vae = VariationalDenseAutoEncoder(**{**DENSE, "variance": "global", "beta": 4.0})
    vae.fit(table)
    assert tuple(vae.net_.module_.log_variance.shape) == (1, 1)
    assert np.isfinite(vae.score_samples(table)).all()
    # The variance is the mean squared error at posterior draws on the training data,
    # close to that of the mean reconstruction.
    variance = float(vae.net_.module_.log_variance.exp())
    assert 0.5 < variance / vae.reconstruction_error(table).mean() < 2


def test_grid_search_over_latent_dim_without_a_scorer(table):
    vae = VariationalDenseAutoEncoder(**DENSE)
    search = GridSearchCV(vae, {"latent_dim": [1, 2]}, cv=KFold(2), error_score="raise")
    search.fit(table)
    assert search.best_params_["latent_dim"] in (1, 2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# ---------------------------------------------------------------------- bernoulli
def test_bernoulli_likelihood_on_unit_interval_data(images):
    X, _ = images
    vae = VariationalConvAutoEncoder(**CONV, likelihood="bernoulli").fit(X)
    assert vae.output_activation_ == "sigmoid"
    assert vae.net_.module_.log_variance is None
    scores = vae.score_samples(X)
    assert np.isfinite(scores).all() and (scores < 0).all()  # log-probabilities
    assert scores.mean() > vae.score_samples(_noise(X.shape)).mean()
    draws = vae.sample(3, noise=True, random_state=0)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="bernoulli.*outside"):
        vae.score_samples(X * 2)


def test_bernoulli_refuses_data_outside_the_unit_interval(table):
    vae = VariationalDenseAutoEncoder(**DENSE, likelihood="bernoulli")
    with pytest.raises(ValueError, match=r"likelihood='bernoulli' models values in \[0, 1\]"):
        vae.fit(table)
    with pytest.raises(ValueError, match="output_activation"):
        vae.set_params(output_activation="identity").fit(np.abs(table) / 100)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"beta": -1.0}, "beta"),
        ({"n_importance_samples": 0}, "n_importance_samples"),
        ({"n_importance_samples": 2.5}, "n_importance_samples"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"variance": "per_sample"}, "variance"),
    ],
)
def test_bad_parameters_are_refused(table, params, match):
    with pytest.raises(ValueError, match=match):
        VariationalDenseAutoEncoder(**{**DENSE, **params}).fit(table)


# ---------------------------------------------------------------------- training options
def test_corruption_and_contrastive_train(images):
    X = images[0][:64]
    denoising = VariationalConvAutoEncoder(**{**CONV, "max_epochs": 1},
                                           corruption=GaussianNoise(0.1)).fit(X)
    assert np.isfinite(denoising.loss_curve_).all()
    contrastive = VariationalConvAutoEncoder(**{**CONV, "max_epochs": 1},
                                             contrastive=[RandomShift(1)]).fit(X)
    assert {"nll", "kl", "contrastive_loss"} <= set(contrastive.history_[-1])


def test_early_stopping_threshold_works_for_negative_losses():
    # skorch's relative threshold is threshold * score: for a negative loss it would
    # accept a worse epoch as an improvement.
    stopper = SignedEarlyStopping(threshold=0.1, threshold_mode="rel")
    assert stopper._calc_new_threshold(-10.0) == pytest.approx(-11.0)
    assert stopper._calc_new_threshold(10.0) == pytest.approx(9.0)


def test_divergence_rule_reads_a_negative_loss_by_its_size():
    # A negative log-likelihood that rises from -1275 to 2271 nats is a bad epoch, not
    # a loss 10,000 times larger; a rise of 10,000 times its size is divergence.
    class Net:
        lr = 0.01

        def __init__(self):
            self.history = []

    net, stopper = Net(), StopOnNonFiniteLoss().initialize()
    stopper.reference_loss_ = -1275.0
    net.history.append({"train_loss": 2271.0})
    stopper.on_epoch_end(net)  # no error
    assert stopper.reference_loss_ == -1275.0
    net.history.append({"train_loss": 1.3e7})
    with pytest.raises(TrainingDivergedError, match="exploded"):
        stopper.on_epoch_end(net)
    positive = StopOnNonFiniteLoss().initialize()
    positive.reference_loss_ = 2.0
    net.history.append({"train_loss": 2.1e4})
    with pytest.raises(TrainingDivergedError, match="exploded"):
        positive.on_epoch_end(net)


# ---------------------------------------------------------------------- persistence, export
def test_persistence_round_trip(conv_vae, images, tmp_path):
    path = tmp_path / "vae.safetensors"
    save(conv_vae, path)
    loaded = load(path)
    assert type(loaded) is VariationalConvAutoEncoder
    X = images[0][:40]
    assert_array_equal(loaded.transform(X), conv_vae.transform(X))
    assert_array_equal(loaded.score_samples(X), conv_vae.score_samples(X))
    assert_array_equal(loaded.sample(3, random_state=0), conv_vae.sample(3, random_state=0))


@pytest.mark.filterwarnings("ignore:.*LeafSpec:FutureWarning")
def test_onnx_export_of_the_encoder_gives_the_posterior_mean(conv_vae, images, tmp_path):
    # onnx and onnxruntime are in the test extra, as for tests/test_export.py.
    import onnxruntime as ort

    from skae.export import export_encoder

    path = export_encoder(conv_vae, tmp_path / "encoder.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    X = images[0][:10]
    (codes,) = session.run(None, {"x": X.reshape(10, 1, 28, 28)})
    assert_allclose(codes, conv_vae.transform(X), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------- composers
def test_anomaly_detector_ranks_by_likelihood(fashion_subset):
    X, y = fashion_subset
    sneakers, others = X[y == 7], X[y != 7][:40]
    detector = AEAnomalyDetector(VariationalConvAutoEncoder(**CONV), method="likelihood",
                                 random_state=0).fit(sneakers[:160])
    assert detector.term_names_ == ("likelihood",)
    scores = detector.score_samples(np.concatenate([sneakers[160:], others]))
    is_anomaly = np.r_[np.zeros(40), np.ones(40)]
    assert roc_auc_score(is_anomaly, -scores) > 0.8
    assert detector.score_parts(others[:3]).shape == (3, 1)
    assert set(detector.predict(others[:5])) <= {-1, 1}


def test_likelihood_method_needs_a_variational_autoencoder(table):
    plain = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=1, **CPU)
    with pytest.raises(ValueError, match="only a variational autoencoder.*DenseAutoEncoder"):
        AEAnomalyDetector(plain, method="likelihood").fit(table)
    with pytest.raises(ValueError, match="the default DenseAutoEncoder"):
        AEAnomalyDetector(method="likelihood").fit(table)


def _few_labels(y, n_per_class):
    y_few = np.full_like(y, -1)
    for c in np.unique(y):
        y_few[np.flatnonzero(y == c)[:n_per_class]] = c
    return y_few


def test_few_label_pipeline_accepts_a_vae(images):
    X, y = images
    pipe = Pipeline([
        ("vae", VariationalConvAutoEncoder(**CONV)),
        ("scale", StandardScaler()),
        ("clf", FewLabelClassifier(LogisticRegression(max_iter=500))),
    ]).fit(X, _few_labels(y, 5))
    assert pipe["clf"].n_labeled_ == 50
    assert pipe.predict(X[:10]).shape == (10,)


def test_encoder_classifier_accepts_a_vae(images):
    X, y = images
    clf = EncoderClassifier(VariationalConvAutoEncoder(**CONV), max_epochs=2, **CPU)
    clf.fit(X, _few_labels(y, 5))
    assert clf.predict_proba(X[:10]).shape == (10, 10)


@pytest.mark.slow  # UMAP compiles its kernels on first use
def test_discovery_pipeline_accepts_a_vae(images):
    import hdbscan  # umap-learn and hdbscan are dependencies of skae
    import umap

    from skae.discovery import predict_clusters

    X, _ = images
    pipe = Pipeline([
        ("vae", VariationalConvAutoEncoder(**CONV)),
        ("umap", umap.UMAP(n_components=2, n_neighbors=10, n_epochs=30, random_state=0)),
        ("cluster", hdbscan.HDBSCAN(min_cluster_size=10, prediction_data=True)),
    ])
    labels = pipe.fit_predict(X[:150])
    assert labels.shape == (150,)
    assert predict_clusters(pipe, X[150:]).shape == (50,)


def test_codec_refuses_a_vae(images):
    codec = AutoEncoderCodec(VariationalConvAutoEncoder(**CONV), bits=2)
    with pytest.raises(ValueError, match="outputs a distribution"):
        codec.fit(images[0][:40])
