"""Behaviour of DenseAutoEncoder, ConvAutoEncoder and LinearAutoEncoder."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier
from skorch.callbacks import LRScheduler

from skae import (
    ConvAutoEncoder,
    DenseAutoEncoder,
    LinearAutoEncoder,
    TrainingDivergedError,
)

FAST = dict(max_epochs=2, batch_size=64, random_state=0, device="cpu")


def small_conv(**params):
    return ConvAutoEncoder(**{"latent_dim": 4, "channels": (4, 8), **FAST, **params})


def small_dense(**params):
    return DenseAutoEncoder(**{"latent_dim": 3, "hidden_layer_sizes": (16,), **FAST, **params})


# --------------------------------------------------------------------------- PCA
def test_linear_autoencoder_spans_pca_subspace(digits):
    X, _ = digits
    k = 5
    ae = LinearAutoEncoder(latent_dim=k, random_state=0).fit(X)
    pca = PCA(n_components=k).fit(X)
    decoder_weight = ae.decoder_[0].weight.detach().numpy()  # (n_features, k)
    assert subspace_angles(decoder_weight, pca.components_.T).max() < 0.05
    ae_error = np.mean((ae.reconstruct(X) - X) ** 2)
    pca_error = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    assert ae_error <= 1.02 * pca_error
    assert ae.score(X) == pytest.approx(-ae_error, rel=1e-4)


# --------------------------------------------------------------------------- quality
def _untrained(make, X):
    """The same network, fitted for zero epochs: its initial weights."""
    return make(net_params={"max_epochs": 0}).fit(X)


def _held_out_knn_accuracy(codes_train, y_train, codes_test, y_test):
    return KNeighborsClassifier(5).fit(codes_train, y_train).score(codes_test, y_test)


def test_dense_codes_beat_the_mean_image_and_an_untrained_encoder(digits):
    # Held-out digits. Baselines on the same split: the mean training image as every
    # reconstruction, and the codes of the same network at its initial weights (what a
    # model whose decoder ignored its code would leave). kNN on 4-d codes of held-out
    # digits, for reference: PCA 0.83, raw pixels 0.96.
    X, y = digits
    X_train, y_train, X_test, y_test = X[:1200], y[:1200], X[1200:], y[1200:]

    def make(**params):
        return DenseAutoEncoder(latent_dim=4, hidden_layer_sizes=(64,), max_epochs=30,
                                batch_size=64, random_state=0, device="cpu", **params)

    ae = make().fit(X_train)
    mse = np.mean((ae.reconstruct(X_test) - X_test) ** 2)
    mse_mean_image = np.mean((X_train.mean(axis=0) - X_test) ** 2)
    assert mse < 0.6 * mse_mean_image, (mse, mse_mean_image)  # measured 0.039 vs 0.074
    untrained = _untrained(make, X_train)
    assert untrained.n_epochs_ == 0
    accuracy = _held_out_knn_accuracy(ae.transform(X_train), y_train, ae.transform(X_test),
                                      y_test)
    baseline = _held_out_knn_accuracy(untrained.transform(X_train), y_train,
                                      untrained.transform(X_test), y_test)
    assert accuracy > baseline + 0.15, (accuracy, baseline)  # measured 0.80 vs 0.50


def test_conv_codes_beat_the_mean_image_pca_and_an_untrained_encoder(fashion_subset):
    # Held-out images; baselines on the same split: the mean training image, PCA with
    # as many components as the code, the network at its initial weights. kNN on raw
    # pixels, for reference: 0.73.
    X, y = fashion_subset
    X_train, y_train, X_test, y_test = X[:1500], y[:1500], X[1500:], y[1500:]

    def make(**params):
        return ConvAutoEncoder(latent_dim=4, channels=(8, 16), max_epochs=15, batch_size=64,
                               lr=3e-3, random_state=0, device="cpu", **params)

    ae = make().fit(X_train)
    flat_train, flat_test = X_train.reshape(1500, -1), X_test.reshape(500, -1)
    pca = PCA(n_components=4, random_state=0).fit(flat_train)
    mse = np.mean((ae.reconstruct(X_test) - X_test) ** 2)
    mse_mean_image = np.mean((X_train.mean(axis=0) - X_test) ** 2)
    mse_pca = np.mean((pca.inverse_transform(pca.transform(flat_test)) - flat_test) ** 2)
    # Measured: 0.032, mean image 0.087, PCA 0.038.
    assert mse < 0.5 * mse_mean_image, (mse, mse_mean_image)
    assert mse < 0.95 * mse_pca, (mse, mse_pca)
    untrained = _untrained(make, X_train)
    accuracy = _held_out_knn_accuracy(ae.transform(X_train), y_train, ae.transform(X_test),
                                      y_test)
    baseline = _held_out_knn_accuracy(untrained.transform(X_train), y_train,
                                      untrained.transform(X_test), y_test)
    assert accuracy > baseline + 0.15, (accuracy, baseline)  # measured 0.68 vs 0.43


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    "shape, params, network_shape",
    [
        ((28, 28), {}, (1, 28, 28)),
        ((3, 17, 9), {}, (3, 17, 9)),
        ((40,), {}, (1, 40)),
        ((17 * 9,), {"image_shape": (17, 9)}, (1, 17, 9)),
        ((2 * 8 * 8,), {"image_shape": (2, 8, 8)}, (2, 8, 8)),
    ],
)
def test_conv_accepts_images_signals_and_flat_rows(shape, params, network_shape):
    X = np.random.RandomState(0).rand(20, *shape)
    ae = small_conv(**params).fit(X)
    assert ae.image_shape_ == network_shape
    assert ae.sample_shape_ == shape
    codes = ae.transform(X)
    assert codes.shape == (20, 4) and codes.dtype == np.float64
    assert ae.inverse_transform(codes).shape == X.shape
    assert ae.reconstruct(X).shape == X.shape
    assert ae.reconstruction_error(X).shape == (20,)


def test_conv_transform_accepts_flat_rows_of_fitted_images(fashion_subset):
    X = fashion_subset[0][:100]
    ae = small_conv().fit(X)
    np.testing.assert_allclose(ae.transform(X.reshape(100, -1)), ae.transform(X), rtol=1e-6)
    np.testing.assert_allclose(ae.transform(X[:, None]), ae.transform(X), rtol=1e-6)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 6),
    channels=st.integers(1, 3),
    height=st.integers(4, 13),
    width=st.integers(4, 13),
    dtype=st.sampled_from([np.float32, np.float64, np.uint8, np.int64]),
)
def test_conv_shapes_and_dtypes(n, channels, height, width, dtype):
    X = (np.random.RandomState(n).rand(n, channels, height, width) * 3).astype(dtype)
    ae = small_conv(max_epochs=1).fit(X)
    codes = ae.transform(X)
    expected = np.float64 if dtype == np.float64 else np.float32
    assert codes.shape == (n, 4) and codes.dtype == expected
    assert np.all(np.isfinite(codes))
    assert ae.inverse_transform(codes).shape == X.shape


def test_conv_too_small_input_is_a_clear_error():
    X = np.random.rand(10, 3, 3)
    with pytest.raises(ValueError, match="too small for 2 downsampling level"):
        small_conv().fit(X)


def test_dense_dataframe_feature_names_and_pandas_output():
    X = pd.DataFrame(np.random.RandomState(0).rand(30, 5), columns=list("abcde"))
    ae = small_dense().set_output(transform="pandas").fit(X)
    np.testing.assert_array_equal(ae.feature_names_in_, list("abcde"))
    codes = ae.transform(X)
    assert list(codes.columns) == ["denseautoencoder0", "denseautoencoder1", "denseautoencoder2"]
    assert ae.inverse_transform(codes).shape == (30, 5)


# --------------------------------------------------------------------------- reproducibility
def test_same_random_state_gives_identical_codes(fashion_subset):
    X = fashion_subset[0][:200]
    first = small_conv().fit(X).transform(X)
    second = small_conv().fit(X).transform(X)
    np.testing.assert_array_equal(first, second)
    other = small_conv(random_state=1).fit(X).transform(X)
    assert not np.allclose(first, other)


def test_random_state_does_not_touch_global_torch_rng():
    state = torch.random.get_rng_state()
    small_dense().fit(np.random.rand(20, 4))
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize("make", [small_conv, small_dense])
def test_pickle_and_clone_round_trips(make, fashion_subset):
    X = fashion_subset[0][:100].reshape(100, -1)
    ae = make().fit(X)
    restored = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(restored.transform(X), ae.transform(X))
    np.testing.assert_array_equal(restored.reconstruct(X), ae.reconstruct(X))
    refit = clone(ae).fit(X)
    np.testing.assert_array_equal(refit.transform(X), ae.transform(X))


# --------------------------------------------------------------------------- training
def test_early_stopping_stops_and_keeps_history():
    X = np.random.RandomState(0).rand(200, 6)
    ae = small_dense(max_epochs=50, early_stopping=True, n_iter_no_change=1, tol=0.5)
    ae.fit(X)
    assert ae.n_epochs_ < 50
    assert len(ae.loss_curve_) == ae.n_epochs_ == len(ae.history_)
    assert "valid_loss" in ae.history_[-1]


def test_extra_callbacks_are_used_but_not_modified():
    scheduler = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    ae = small_dense(callbacks=[scheduler], max_epochs=3).fit(np.random.rand(20, 4))
    fitted = dict(ae.net_.callbacks_)
    assert any(isinstance(cb, LRScheduler) for cb in fitted.values())
    assert not hasattr(scheduler, "lr_scheduler_")  # the caller's instance is untouched
    assert ae.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5**3)


def test_optimizer_and_net_params_reach_skorch():
    ae = small_dense(optimizer="sgd", optimizer_params={"momentum": 0.9}).fit(np.random.rand(20, 4))
    assert isinstance(ae.net_.optimizer_, torch.optim.SGD)
    assert ae.net_.optimizer_.param_groups[0]["momentum"] == 0.9
    ae = small_dense(net_params={"max_epochs": 1}).fit(np.random.rand(20, 4))
    assert ae.n_epochs_ == 1


def test_verbose_prints_table_and_silent_by_default(capsys):
    small_dense().fit(np.random.rand(20, 4))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    small_dense(verbose=1).fit(np.random.rand(20, 4))
    assert "train_loss" in capsys.readouterr().out


def test_diverging_training_raises():
    X = np.random.RandomState(0).rand(64, 4) * 1e3
    ae = small_dense(optimizer="sgd", lr=1e6, max_epochs=5)
    with pytest.raises(TrainingDivergedError, match="Training diverged"):
        ae.fit(X)
    assert not hasattr(ae, "net_")


def test_bce_needs_unit_interval_data():
    with pytest.raises(ValueError, match=r"loss='bce' needs every value of X in \[0, 1\]"):
        small_dense(loss="bce").fit(np.random.rand(20, 4) * 2)
    ae = small_dense(loss="bce").fit(np.random.rand(20, 4))
    assert ae.output_activation_ == "sigmoid"


def test_output_activation_auto_follows_data_range():
    assert small_dense().fit(np.random.rand(20, 3)).output_activation_ == "sigmoid"
    assert small_dense().fit(np.random.randn(20, 3)).output_activation_ == "identity"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_request_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA device"):
        small_dense(device="cuda").fit(np.random.rand(20, 4))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("make", [small_conv, small_dense])
def test_non_finite_input_is_rejected(make, bad):
    X = np.random.rand(20, 16)
    X[3, 5] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        make().fit(X)
    ae = make().fit(np.random.rand(20, 16))
    with pytest.raises(ValueError, match="NaN|infinity"):
        ae.transform(X)


@pytest.mark.parametrize("make", [small_conv, small_dense])
def test_too_few_samples(make):
    with pytest.raises(ValueError, match="0 sample"):
        make().fit(np.empty((0, 16)))
    with pytest.raises(ValueError, match="1 sample"):
        make().fit(np.random.rand(1, 16))


@pytest.mark.parametrize("make", [small_conv, small_dense, LinearAutoEncoder])
def test_methods_before_fit_raise_not_fitted(make):
    ae = make()
    X = np.random.rand(5, 16)
    for method in (ae.transform, ae.reconstruct, ae.reconstruction_error, ae.score):
        with pytest.raises(NotFittedError):
            method(X)
    with pytest.raises(NotFittedError):
        ae.inverse_transform(np.zeros((5, ae.latent_dim)))


def test_wrong_shapes_at_transform():
    dense = small_dense().fit(np.random.rand(20, 6))
    with pytest.raises(ValueError, match="6 features"):
        dense.transform(np.random.rand(5, 7))
    with pytest.raises(ValueError, match="dim 3"):
        dense.fit(np.random.rand(5, 2, 3))
    with pytest.raises(ValueError, match="latent_dim=3"):
        dense.inverse_transform(np.random.rand(5, 4))
    conv = small_conv().fit(np.random.rand(20, 12, 12))
    with pytest.raises(ValueError, match=r"fitted on samples of shape \(12, 12\)"):
        conv.transform(np.random.rand(5, 12, 13))
    with pytest.raises(ValueError, match="144 features"):
        conv.transform(np.random.rand(5, 100))
    with pytest.raises(ValueError, match="5-D input"):
        small_conv().fit(np.random.rand(5, 1, 1, 8, 8))
    with pytest.raises(ValueError, match="image_shape"):
        small_conv(image_shape=(5, 5)).fit(np.random.rand(5, 30))


def test_caller_arrays_are_never_modified(fashion_subset):
    X = fashion_subset[0][:50].copy()
    before = X.copy()
    ae = small_conv().fit(X)
    ae.transform(X), ae.reconstruct(X), ae.score(X)
    codes = ae.transform(X)
    codes_before = codes.copy()
    ae.inverse_transform(codes)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(codes, codes_before)
