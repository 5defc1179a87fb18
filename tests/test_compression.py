"""Tests of skae.compression: bitstreams, round trips, errors, rate–distortion helper."""

import functools
import pickle
import zlib

import matplotlib
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skae import ConvAutoEncoder, DenseAutoEncoder
from skae.compression._entropy import (
    check_body_size,
    entropy_decode,
    entropy_encode,
    fit_probabilities,
)
from skae.compression import (
    AutoEncoderCodec,
    InvalidPayloadError,
    PCACodec,
    plot_rate_distortion,
    rate_distortion_curve,
)
from skae.datasets import load_fashion_mnist_subset
from skae.nn import QuantisedEncoder
from skae.nn._quantiser import _RateGradient

matplotlib.use("Agg")
torch.set_num_threads(1)


def _tiny_dense(**params):
    return DenseAutoEncoder(
        **{"latent_dim": 3, "hidden_layer_sizes": (16,), "max_epochs": 3,
           "batch_size": 32, "random_state": 0, **params}
    )


def _tiny_conv(**params):
    return ConvAutoEncoder(
        **{"latent_dim": 6, "channels": (4, 8), "max_epochs": 15, "batch_size": 64, "lr": 3e-3,
           "random_state": 0, **params}
    )


@pytest.fixture(scope="module")
def images():
    X, _ = load_fashion_mnist_subset(return_X_y=True)
    return X[:600], X[600:700]


@pytest.fixture(scope="module")
def image_codec(images):
    return AutoEncoderCodec(_tiny_conv(), bits=3).fit(images[0])


@functools.lru_cache(maxsize=None)
def _table_codec(bits):
    X = np.random.default_rng(0).normal(size=(96, 5))
    return AutoEncoderCodec(_tiny_dense(max_epochs=1), bits=bits).fit(X)


# ------------------------------------------------------------------ round trips
def test_image_round_trip_is_exact(image_codec, images):
    X = images[1]
    payload = image_codec.compress(X)
    decoded = image_codec.decompress(payload)
    assert isinstance(payload, bytes)
    assert decoded.shape == X.shape and decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, image_codec.reconstruct(X))
    np.testing.assert_array_equal(
        decoded, image_codec.inverse_transform(image_codec.transform(X))
    )
    assert image_codec.bits_per_value(payload) == 8 * len(payload) / X.size
    # Entropy coding beats the raw bit depth; the payload is within a header of it.
    raw_bits = len(X) * image_codec.latent_dim_ * image_codec.bits
    assert 8 * len(payload) < raw_bits + 8 * 40


def test_input_not_modified(image_codec, images):
    X = images[1].copy()
    X.setflags(write=False)
    image_codec.decompress(image_codec.compress(X))
    np.testing.assert_array_equal(X, images[1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bits=st.sampled_from([1, 2, 3, 5, 8, 12]),
    n_samples=st.integers(1, 40),
    dtype=st.sampled_from([np.float32, np.float64, np.int64]),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
)
def test_tabular_round_trip_property(bits, n_samples, dtype, seed, scale):
    codec = _table_codec(bits)
    X = (np.random.default_rng(seed).normal(size=(n_samples, 5)) * scale).astype(dtype)
    payload = codec.compress(X)
    decoded = codec.decompress(payload)
    expected_dtype = np.float64 if dtype == np.float64 else np.float32
    assert decoded.dtype == expected_dtype and decoded.shape == X.shape
    np.testing.assert_array_equal(decoded, codec.reconstruct(X))
    levels = codec.transform(X)
    assert levels.dtype == np.int64 and levels.min() >= 0 and levels.max() < 2**bits


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_samples=st.integers(1, 30), layout=st.sampled_from(["hw", "chw", "flat"]))
def test_image_layouts_round_trip_property(image_codec, images, n_samples, layout):
    """Images given as (n, H, W) at fit come back in that shape whatever the batch size."""
    X = images[1][:n_samples]
    decoded = image_codec.decompress(image_codec.compress(X))
    np.testing.assert_array_equal(decoded, image_codec.reconstruct(X))
    # The codec fitted on (n, H, W) also reads (n, 1, H, W); flat rows are refused.
    if layout == "chw":
        decoded_chw = image_codec.decompress(image_codec.compress(X[:, None]))
        np.testing.assert_array_equal(decoded_chw, decoded)
    elif layout == "flat":
        with pytest.raises(ValueError):
            image_codec.compress(X.reshape(len(X), 1, -1, 2))


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_levels=st.integers(2, 300),
    n_samples=st.integers(1, 50),
    latent_dim=st.integers(1, 6),
)
def test_entropy_coder_round_trip_property(data, n_levels, n_samples, latent_dim):
    """Any levels round-trip under any table, even levels the table makes unlikely."""
    levels = np.array(
        data.draw(
            st.lists(
                st.integers(0, n_levels - 1),
                min_size=n_samples * latent_dim,
                max_size=n_samples * latent_dim,
            )
        )
    ).reshape(n_samples, latent_dim)
    train = data.draw(st.lists(st.integers(0, n_levels - 1), min_size=latent_dim,
                               max_size=latent_dim))
    probabilities = fit_probabilities(np.array(train)[None], n_levels)
    body = entropy_encode(levels, probabilities)
    np.testing.assert_array_equal(entropy_decode(body, probabilities, n_samples), levels)


def test_entropy_coder_rate_near_entropy():
    rng = np.random.default_rng(0)
    p = np.array([0.7, 0.2, 0.05, 0.05])
    levels = rng.choice(4, size=(4000, 2), p=p)
    probabilities = fit_probabilities(levels, 4)
    ideal_bits = -np.log2(probabilities[np.arange(2), levels]).sum()
    n_bits = 8 * len(entropy_encode(levels, probabilities))
    # ANS gets within a fraction of a percent of the ideal code length, plus a few words.
    assert 0.99 * ideal_bits < n_bits < 1.005 * ideal_bits + 96


@pytest.mark.parametrize("n_levels", [2, 8, 256, 65536])
@pytest.mark.parametrize("p_max", [0.5, 0.99, 1 - 1e-6, 1 - 1e-9, 1.0])
def test_body_size_check_never_refuses_a_real_payload(n_levels, p_max):
    """The cheapest message (every value the most probable level) still passes the check.

    That message is the one the bound on the sample count is derived from; level 0 and
    the last level are the two ends of the coder's cumulative table.
    """
    for top in (0, n_levels - 1):
        probabilities = np.full((3, n_levels), (1 - p_max) / (n_levels - 1))
        probabilities[:, top] = p_max
        probabilities = (probabilities / probabilities.sum(1, keepdims=True)).astype(
            np.float32
        )
        for n_samples in (1, 50, 20000):
            levels = np.full((n_samples, 3), top)
            body = entropy_encode(levels, probabilities)
            check_body_size(body, probabilities, n_samples)
            np.testing.assert_array_equal(
                entropy_decode(body, probabilities, n_samples), levels
            )


# ------------------------------------------------------------------ errors
def test_corrupted_payloads_raise(image_codec, images):
    payload = image_codec.compress(images[1][:20])
    for cut in [0, 1, 3, 4, 10, 20, 21, len(payload) // 2, len(payload) - 1]:
        with pytest.raises(InvalidPayloadError):
            image_codec.decompress(payload[:cut])
    for position in range(len(payload)):
        corrupted = bytearray(payload)
        corrupted[position] ^= 0x10
        with pytest.raises(InvalidPayloadError):
            image_codec.decompress(bytes(corrupted))
    with pytest.raises(InvalidPayloadError, match="magic"):
        image_codec.decompress(b"JFIF" + payload[4:])
    with pytest.raises(InvalidPayloadError, match="version"):
        image_codec.decompress(payload[:4] + b"\x07" + payload[5:])
    with pytest.raises(InvalidPayloadError, match="checksum"):
        image_codec.decompress(payload + b"\x00\x00\x00\x00")
    with pytest.raises(TypeError, match="bytes"):
        image_codec.decompress("not bytes")


def test_payload_of_another_model_raises(image_codec, images):
    other = AutoEncoderCodec(_tiny_conv(random_state=1, max_epochs=1), bits=3).fit(images[0])
    payload = other.compress(images[1][:5])
    with pytest.raises(InvalidPayloadError, match="another model"):
        image_codec.decompress(payload)
    pca_payload = PCACodec(6, bits=3).fit(images[0]).compress(images[1][:5])
    with pytest.raises(InvalidPayloadError, match="another model"):
        image_codec.decompress(pca_payload)


def test_forged_crc_still_fails_on_fingerprint(image_codec, images):
    """A payload with a valid checksum but another fingerprint is refused."""
    payload = bytearray(image_codec.compress(images[1][:5]))
    payload[6] ^= 0xFF
    head_end = 6 + 8 + 1 + 1 + 1  # magic..bits, 1-byte latent_dim and n_samples
    crc = zlib.crc32(bytes(payload[head_end + 4 :]), zlib.crc32(bytes(payload[:head_end])))
    payload[head_end : head_end + 4] = crc.to_bytes(4, "little")
    with pytest.raises(InvalidPayloadError, match="another model"):
        image_codec.decompress(bytes(payload))


def test_bad_levels_and_shapes(image_codec, images):
    with pytest.raises(ValueError, match="integers in"):
        image_codec.inverse_transform(np.full((2, image_codec.latent_dim_), 8))
    with pytest.raises(ValueError, match="integers in"):
        image_codec.inverse_transform(np.full((2, image_codec.latent_dim_), 0.5))
    with pytest.raises(ValueError, match="columns"):
        image_codec.inverse_transform(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="shape"):
        image_codec.compress(np.zeros((2, 14, 14)))


def test_non_skae_autoencoder_rejected():
    from sklearn.decomposition import PCA

    with pytest.raises(TypeError, match="skae autoencoder"):
        AutoEncoderCodec(PCA()).fit(np.random.default_rng(0).normal(size=(20, 4)))


def test_default_autoencoder_for_tables():
    X = np.random.default_rng(0).normal(size=(40, 4))
    codec = AutoEncoderCodec(bits=2).fit(X)
    assert isinstance(codec.autoencoder_, DenseAutoEncoder)
    assert codec.autoencoder is None


# ------------------------------------------------------------------ training
def test_pickle_keeps_decoding(image_codec, images):
    payload = image_codec.compress(images[1][:10])
    restored = pickle.loads(pickle.dumps(image_codec))
    np.testing.assert_array_equal(
        restored.decompress(payload), image_codec.decompress(payload)
    )
    assert restored.fingerprint_ == image_codec.fingerprint_


def test_fitted_attributes(image_codec):
    assert image_codec.probabilities_.shape == (6, 8)
    np.testing.assert_allclose(image_codec.probabilities_.sum(1), 1, rtol=1e-5)
    assert image_codec.entropy_model_nbytes_ == 6 * 8 * 4
    assert image_codec.decoder_nbytes_ > 0
    assert 0 < image_codec.train_bits_per_value_ <= 6 * 3 / 784
    assert len(image_codec.fingerprint_) == 16
    # The autoencoder's own transform gives the quantised codes scaled to [0, 1].
    assert not hasattr(image_codec.autoencoder_, "_build_encoder_decoder") or (
        "_build_encoder_decoder" not in vars(image_codec.autoencoder_)
    )


def test_rate_gradient_is_gradient_of_penalised_loss():
    torch.manual_seed(0)
    x = torch.randn(5, 3, requires_grad=True)
    y = torch.randn(5, 3, requires_grad=True)
    rate = (x**2).sum() * y.sum()
    out = _RateGradient.apply(x * 2, rate, 0.3)
    (out.sum()).backward()
    grad_trick = x.grad.clone(), y.grad.clone()
    x.grad = y.grad = None
    ((x * 2).sum() + 0.3 * (x**2).sum() * y.sum()).backward()
    torch.testing.assert_close(grad_trick[0], x.grad)
    torch.testing.assert_close(grad_trick[1], y.grad)


def test_quantised_encoder_modes():
    torch.manual_seed(0)
    quantiser = QuantisedEncoder(torch.nn.Linear(4, 3), 3, bits=2)
    x = torch.randn(16, 4)
    quantiser.train()
    noisy = quantiser(x)
    quantiser.eval()
    rounded = quantiser(x) * 3
    torch.testing.assert_close(rounded, torch.round(rounded))
    assert noisy.min() >= -0.5 / 3 and noisy.max() <= 1 + 0.5 / 3
    quantiser.train()
    assert quantiser(x[:1]).shape == (1, 3)  # a batch of one uses running statistics


def test_rate_weight_shrinks_payload():
    X = np.random.default_rng(0).normal(size=(400, 8))
    ae = _tiny_dense(latent_dim=6, max_epochs=20, lr=1e-2)
    plain = AutoEncoderCodec(ae, bits=6).fit(X)
    thrifty = AutoEncoderCodec(ae, bits=6, rate_weight=0.2).fit(X)
    assert len(thrifty.compress(X)) < 0.8 * len(plain.compress(X))
    assert np.mean((thrifty.reconstruct(X) - X) ** 2) > np.mean((plain.reconstruct(X) - X) ** 2)


def test_quantisation_aware_training_beats_mean(image_codec, images):
    X = images[1]
    mse_codec = np.mean((image_codec.reconstruct(X) - X) ** 2)
    mse_mean = np.mean((images[0].mean(0) - X) ** 2)
    assert mse_codec < 0.8 * mse_mean


def test_pca_codec_round_trip(images):
    codec = PCACodec(8, bits=4).fit(images[0])
    payload = codec.compress(images[1])
    decoded = codec.decompress(payload)
    np.testing.assert_array_equal(decoded, codec.reconstruct(images[1]))
    assert decoded.shape == images[1].shape
    mse = np.mean((decoded - images[1]) ** 2)
    assert mse < np.mean((images[0].mean(0) - images[1]) ** 2)


# ------------------------------------------------------------------ rate–distortion
def test_rate_distortion_curve(image_codec, images):
    X_fit, X = images
    curve = rate_distortion_curve(
        X,
        {"skae": image_codec,
         "skae unfitted": AutoEncoderCodec(_tiny_conv(max_epochs=1), bits=2)},
        X_fit=X_fit,
        pca_components=(4, 8),
        pca_bits=(3,),
        jpeg_qualities=(5, 50),
        jpeg2000_bpp=(0.5,),
    )
    assert set(curve["codec"]) == {"skae", "skae unfitted", "pca", "jpeg", "jpeg2000"}
    assert set(curve.loc[curve["codec"].str.startswith("skae"), "family"]) == {"skae"}
    skae_row = curve[curve["codec"] == "skae"].iloc[0]
    assert skae_row["n_bytes"] == len(image_codec.compress(X))
    assert skae_row["bpp"] == 8 * skae_row["n_bytes"] / X.size
    jpeg = curve[curve["codec"] == "jpeg"].set_index(["mode", "setting"])
    # One mosaic file costs less than 100 files with a header each, at equal quality.
    assert jpeg.loc[("mosaic", "q=50"), "n_bytes"] < jpeg.loc[("per-image", "q=50"), "n_bytes"]
    assert jpeg.loc[("mosaic", "q=50"), "psnr"] > jpeg.loc[("mosaic", "q=5"), "psnr"]
    assert curve["ssim"].between(-1, 1).all()
    ax = plot_rate_distortion(curve)
    assert len(ax.get_lines()) == 6  # skae, pca, jpeg x2 modes, jpeg2000 x2 modes


def test_rate_distortion_tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    curve = rate_distortion_curve(
        X[100:], [AutoEncoderCodec(_tiny_dense(), bits=4)], X_fit=X[:100],
        pca_components=(2, 4), pca_bits=(4,),
    )
    assert set(curve["codec"]) == {"skae bits=4", "pca"}
    assert curve["ssim"].isna().all()
    with pytest.raises(ValueError, match="X_fit"):
        rate_distortion_curve(X, baselines=("pca",))
    with pytest.raises(ValueError, match="Unknown baselines"):
        rate_distortion_curve(X, baselines=("png",))
