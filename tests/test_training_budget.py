"""Defaults that adapt to the data: the "auto" budget, integer input units, channels-last."""

import math

import numpy as np
import pytest
import torch

from skae import AEAnomalyDetector, ConvAutoEncoder, DenseAutoEncoder, LinearAutoEncoder
from skae._runtime import AUTO_EPOCH_BOUNDS, AUTO_SAMPLE_PASSES, auto_batch_size, auto_max_epochs

TINY_CONV = dict(latent_dim=3, channels=(4,), random_state=0, device="cpu")


def _images(n, side=8, seed=0):
    """Smooth random uint8 images (a coarse pattern upsampled): structure to learn."""
    rng = np.random.RandomState(seed)
    low = rng.randint(0, 256, size=(n, side // 4, side // 4))
    return np.kron(low, np.ones((4, 4), dtype=np.int64)).astype(np.uint8)


# ---------------------------------------------------------------------- the budget rule
@pytest.mark.parametrize("n_train", [60, 200, 500, 2000, 10_000, 60_000, 200_000])
def test_auto_budget_inside_documented_bounds(n_train):
    batch = auto_batch_size(n_train, 64)
    epochs = auto_max_epochs(n_train)
    assert 16 <= batch <= 64 and batch <= max(16, n_train // 16)
    assert AUTO_EPOCH_BOUNDS[0] <= epochs <= AUTO_EPOCH_BOUNDS[1]
    passes = epochs * n_train
    if AUTO_EPOCH_BOUNDS[0] < epochs < AUTO_EPOCH_BOUNDS[1]:
        assert AUTO_SAMPLE_PASSES <= passes < AUTO_SAMPLE_PASSES + n_train
    # Every set gets at least 16 steps per epoch or its whole data in one batch of 16.
    assert math.ceil(n_train / batch) >= min(16, math.ceil(n_train / 16))


def test_tiny_set_gets_many_steps_and_a_large_set_few_epochs():
    tiny, large = 60, 60_000
    tiny_batch, large_batch = auto_batch_size(tiny, 64), auto_batch_size(large, 64)
    assert tiny_batch == 16 and large_batch == 64
    assert auto_max_epochs(tiny) * math.ceil(tiny / tiny_batch) >= 1800  # 450 x 4 steps
    assert auto_max_epochs(large) == AUTO_EPOCH_BOUNDS[0]


def test_fitted_budget_attributes_and_stop_reason():
    X = _images(60)
    ae = ConvAutoEncoder(**TINY_CONV).fit(X)
    assert not ae.early_stopping_  # 6 held-out samples would be too few
    assert ae.batch_size_ == 16
    assert ae.max_epochs_ == auto_max_epochs(60)
    assert 1 <= ae.n_epochs_ <= ae.max_epochs_
    assert ae.history_[-1, "stop_reason"] == ae.stop_reason_
    assert ae.stop_reason_.startswith(("converged", "max_epochs"))
    # The cosine schedule lowers the learning rate as training goes on.
    assert ae.net_.optimizer_.param_groups[0]["lr"] < ae.lr


def test_plateau_stops_before_the_budget():
    # A learning rate too small to change anything: the loss is flat from the start, so
    # the plateau rule must end training long before the 1,000-epoch budget.
    X = np.random.RandomState(0).rand(64, 4)
    ae = DenseAutoEncoder(latent_dim=1, hidden_layer_sizes=(4,), lr=1e-12, random_state=0,
                          device="cpu").fit(X)
    assert ae.n_epochs_ < ae.max_epochs_
    assert ae.stop_reason_.startswith("converged: the training loss")


def test_explicit_int_keeps_its_meaning():
    ae = ConvAutoEncoder(max_epochs=3, batch_size=8, **TINY_CONV).fit(_images(40))
    assert (ae.max_epochs_, ae.batch_size_, ae.n_epochs_) == (3, 8, 3)
    assert ae.stop_reason_ == "max_epochs reached (3 epochs)"
    assert ae.net_.optimizer_.param_groups[0]["lr"] == ae.lr  # no schedule


def test_auto_holds_out_a_validation_set_when_there_is_enough_data():
    X = _images(200)
    ae = ConvAutoEncoder(**TINY_CONV).fit(X)
    assert ae.early_stopping_ and ae.max_epochs_ == auto_max_epochs(180)
    assert "valid_loss" in ae.history_[-1]
    assert ae.stop_reason_.startswith(("converged: the validation loss", "max_epochs"))
    assert not ConvAutoEncoder(max_epochs=2, **TINY_CONV).fit(X).early_stopping_


def test_early_stopping_reason():
    rng = np.random.RandomState(0)
    ae = DenseAutoEncoder(latent_dim=1, hidden_layer_sizes=(4,), early_stopping=True,
                          n_iter_no_change=2, max_epochs=200, lr=1e-6, random_state=0,
                          device="cpu").fit(rng.rand(60, 4))
    assert ae.stop_reason_.startswith("converged: the validation loss")


def test_linear_auto_is_full_batch_lbfgs():
    ae = LinearAutoEncoder(latent_dim=2, random_state=0, device="cpu")
    ae.fit(np.random.RandomState(0).rand(50, 5))
    assert (ae.batch_size_, ae.max_epochs_) == (-1, 50)


# ---------------------------------------------------------------------- input units
@pytest.mark.parametrize("dtype, maximum", [(np.uint8, 255), (np.uint16, 65535)])
def test_integer_images_train_like_the_scaled_floats(dtype, maximum):
    X8 = _images(48)
    X = (X8.astype(np.int64) * (maximum // 255)).astype(dtype)
    X_scaled = (X / maximum).astype(np.float32)
    params = dict(max_epochs=3, batch_size=16, **TINY_CONV)
    ae_int = ConvAutoEncoder(**params).fit(X)
    ae_float = ConvAutoEncoder(**params).fit(X_scaled)
    assert ae_int.input_scale_ == maximum and ae_float.input_scale_ == 1.0
    assert ae_int.output_activation_ == ae_float.output_activation_ == "sigmoid"
    np.testing.assert_allclose(ae_int.loss_curve_, ae_float.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(ae_int.transform(X), ae_float.transform(X_scaled),
                               rtol=1e-4, atol=1e-5)
    # Outputs come back in the caller's units.
    rec = ae_int.reconstruct(X)
    assert rec.dtype == np.float32 and rec.max() > 1
    np.testing.assert_allclose(rec / maximum, ae_float.reconstruct(X_scaled),
                               rtol=1e-4, atol=1e-5)
    codes = ae_int.transform(X)
    np.testing.assert_allclose(ae_int.inverse_transform(codes) / maximum,
                               ae_float.inverse_transform(codes), rtol=1e-4, atol=1e-5)
    # A float copy of the same values gives the same codes: the divisor is the model's.
    np.testing.assert_allclose(ae_int.transform(X.astype(np.float64)), codes, rtol=1e-5)
    assert X.dtype == dtype  # the caller's array is untouched


def test_uint8_memmap_and_dataset_match_the_array(tmp_path):
    X = _images(48)
    path = tmp_path / "x.u8"
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    mm = np.memmap(path, dtype=np.uint8, mode="r", shape=X.shape)

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return torch.from_numpy(X[i].copy())

    params = dict(max_epochs=2, batch_size=16, **TINY_CONV)
    reference = ConvAutoEncoder(**params).fit(X).transform(X)
    for source in (mm, Images()):
        ae = ConvAutoEncoder(**params).fit(source)
        assert ae.input_scale_ == 255
        np.testing.assert_allclose(ae.transform(source), reference, rtol=1e-5, atol=1e-6)


def test_inpaint_returns_the_callers_units():
    X = _images(48)
    ae = ConvAutoEncoder(max_epochs=2, batch_size=16, **TINY_CONV).fit(X)
    mask = np.zeros(X.shape, dtype=bool)
    mask[:, 2:4, 2:4] = True
    filled = ae.inpaint(X, mask)
    np.testing.assert_array_equal(filled[~mask], X[~mask].astype(np.float32))
    assert filled[mask].max() > 1  # holes filled in 0-255 units, not in [0, 1]


def test_input_scale_none_and_float():
    X = _images(32)
    ae = ConvAutoEncoder(input_scale=None, max_epochs=1, batch_size=16, **TINY_CONV).fit(X)
    assert ae.input_scale_ == 1.0 and ae.output_activation_ == "identity"
    ae = ConvAutoEncoder(input_scale=4095, max_epochs=1, batch_size=16, **TINY_CONV)
    assert ae.fit(X.astype(np.uint16)).input_scale_ == 4095.0


def test_detector_on_uint8_images():
    X = _images(40)
    detector = AEAnomalyDetector(
        ConvAutoEncoder(max_epochs=2, batch_size=16, **TINY_CONV), random_state=0
    ).fit(X)
    scores = detector.score_samples(X)
    assert scores.dtype == np.float64 and np.all(np.isfinite(scores))
    assert detector.autoencoder_.input_scale_ == 255


# ---------------------------------------------------------------------- channels-last
def test_channels_last_is_refused_with_the_fix():
    X = np.random.RandomState(0).rand(10, 16, 16, 3)
    with pytest.raises(ValueError, match=r"channels-last.*np\.moveaxis\(X, -1, 1\)"):
        ConvAutoEncoder(max_epochs=1, **TINY_CONV).fit(X)
    ae = ConvAutoEncoder(max_epochs=1, batch_size=5, **TINY_CONV).fit(np.moveaxis(X, -1, 1))
    assert ae.image_shape_ == (3, 16, 16)
    with pytest.raises(ValueError, match="channels-last"):
        ae.transform(X)


def test_channels_first_with_few_channels_still_accepted():
    X = np.random.RandomState(0).rand(6, 3, 8, 8)  # (n, C, H, W), C = 3
    ae = ConvAutoEncoder(max_epochs=1, batch_size=3, **TINY_CONV).fit(X)
    assert ae.image_shape_ == (3, 8, 8)
