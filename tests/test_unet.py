"""ConvAutoEncoder(architecture="unet"): skip connections and residual output for restoration."""

import os

import numpy as np
import onnxruntime
import torch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage import data as skimage_data
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skae import ConvAutoEncoder, VariationalConvAutoEncoder
from skae.compression import AutoEncoderCodec
from skae.corruption import BlockMask, GaussianNoise
from skae.export import export_encoder
from skae.persistence import load, save

CPU = dict(random_state=0, device="cpu")


def _unet(**params):
    return ConvAutoEncoder(**{"latent_dim": 4, "channels": (4, 8), "architecture": "unet",
                              "max_epochs": 1, "batch_size": 16, **CPU, **params})


def _psnr(a, b):
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


@pytest.fixture(scope="module")
def camera_patches():
    """32x32 patches of scikit-image's photograph ``camera``: the top half to train on,
    the bottom half to test on (no pixel shared)."""
    image = skimage_data.camera().astype(np.float32) / 255.0
    def tiles(part, step):
        return np.stack([part[i:i + 32, j:j + 32]
                         for i in range(0, part.shape[0] - 31, step)
                         for j in range(0, part.shape[1] - 31, step)])
    return tiles(image[:256], 8), tiles(image[256:], 32)


@pytest.fixture(scope="module")
def blind_denoiser(camera_patches):
    train, _ = camera_patches
    return ConvAutoEncoder(
        8, channels=(16, 32), architecture="unet", residual=True, layers_per_level=2,
        corruption=GaussianNoise((0.0, 0.2)), max_epochs=6, batch_size=32, lr=2e-3, **CPU,
    ).fit(train)


@pytest.mark.parametrize("sigma", [0.05, 0.15])
def test_blind_denoiser_beats_the_noise_and_the_bottleneck_at_every_level(
    blind_denoiser, camera_patches, sigma
):
    """One model for a range of noise levels; the same budget as a bottleneck."""
    train, test = camera_patches
    noisy = test + np.random.default_rng(1).normal(0, sigma, test.shape).astype(np.float32)
    restored = blind_denoiser.reconstruct(noisy)
    bottleneck = ConvAutoEncoder(
        64, channels=(16, 32), layers_per_level=2, corruption=GaussianNoise((0.0, 0.2)),
        max_epochs=6, batch_size=32, lr=2e-3, **CPU,
    ).fit(train)
    gain = _psnr(restored, test) - _psnr(noisy, test)
    assert gain > (1.0 if sigma < 0.1 else 4.0)
    assert _psnr(restored, test) > _psnr(bottleneck.reconstruct(noisy), test) + 2.0


def test_residual_output_stays_in_the_data_range(blind_denoiser, camera_patches):
    _, test = camera_patches
    noisy = test + np.random.default_rng(2).normal(0, 0.3, test.shape).astype(np.float32)
    assert blind_denoiser.output_activation_ == "sigmoid"  # clean patches lie in [0, 1]
    out = blind_denoiser.reconstruct(noisy)
    assert out.min() >= 0.0 and out.max() <= 1.0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.one_of(
        st.tuples(st.integers(4, 19)),  # 1-D signals
        st.tuples(st.integers(4, 13), st.integers(4, 13)),  # odd and even image sizes
        st.tuples(st.sampled_from([2, 3]), st.integers(4, 9), st.integers(4, 9)),
    ),
    residual=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64, np.uint8]),
)
def test_any_shape_comes_back_unchanged(shape, residual, dtype):
    rng = np.random.default_rng(0)
    X = (rng.random((12, *shape)) * (255 if dtype == np.uint8 else 1)).astype(dtype)
    ae = _unet(residual=residual, channels=(4, 4, 4)).fit(X)
    out = ae.reconstruct(X)
    assert out.shape == X.shape and np.isfinite(out).all()
    codes = ae.transform(X)
    spatial = [-(-s // 4) for s in (shape if len(shape) < 3 else shape[1:])]
    assert codes.shape == (12, 4 * int(np.prod(spatial)))
    assert len(ae.get_feature_names_out()) == codes.shape[1]


def test_inpaint_keeps_known_pixels_exactly_and_fills_holes(camera_patches):
    train, test = camera_patches
    ae = _unet(channels=(8, 16), corruption=BlockMask(8, fill="mean"), max_epochs=3).fit(train)
    X = test[:20].astype(np.float64) + 1e-9  # values a float32 round trip changes
    mask = np.zeros(X.shape, dtype=bool)
    mask[:, 5:13, 17:25] = True
    X_nan = np.where(mask, np.nan, X)
    before = X_nan.copy()
    out = ae.inpaint(X_nan, mask)
    np.testing.assert_array_equal(X_nan, before)
    np.testing.assert_array_equal(out[~mask], X[~mask])
    assert np.isfinite(out).all() and out.dtype == np.float64
    with pytest.raises(ValueError, match="broadcast|shape"):
        ae.inpaint(X, mask[:, :16])
    X_bad = X.copy()
    X_bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite|NaN"):
        ae.inpaint(X_bad, mask)


def test_fit_pairs_learns_the_map(camera_patches):
    train, test = camera_patches
    noisy = train + np.random.default_rng(3).normal(0, 0.1, train.shape).astype(np.float32)
    ae = _unet(channels=(8, 16), residual=True, max_epochs=3).fit_pairs(noisy, train)
    noisy_test = test + np.random.default_rng(4).normal(0, 0.1, test.shape).astype(np.float32)
    assert _psnr(ae.reconstruct(noisy_test), test) > _psnr(noisy_test, test) + 2.0


def test_save_load_and_export_give_the_same_outputs(tmp_path, camera_patches):
    _, test = camera_patches
    ae = _unet(residual=True, corruption=GaussianNoise(0.1)).fit(test)
    save(ae, tmp_path / "unet.skae")
    loaded = load(tmp_path / "unet.skae")
    assert loaded.get_params()["architecture"] == "unet" and loaded.residual
    np.testing.assert_array_equal(loaded.reconstruct(test), ae.reconstruct(test))
    np.testing.assert_array_equal(loaded.transform(test), ae.transform(test))
    onnx_path = export_encoder(ae, os.fspath(tmp_path / "encoder.onnx"))
    session = onnxruntime.InferenceSession(onnx_path)
    codes = session.run(None, {"x": test.reshape(-1, 1, 32, 32)})[0]
    np.testing.assert_allclose(codes, ae.transform(test), atol=1e-5)


def test_clone_and_pipeline(camera_patches):
    _, test = camera_patches
    ae = _unet()
    assert clone(ae).get_params() == ae.get_params()
    flat = test.reshape(len(test), -1)
    pipe = make_pipeline(FunctionTransformer(), _unet(image_shape=(32, 32))).fit(flat)
    assert pipe.transform(flat).shape == (len(test), 4 * 16 * 16)
    assert not hasattr(pipe, "inverse_transform")


def test_what_a_unet_cannot_do(camera_patches):
    _, test = camera_patches
    ae = _unet().fit(test)
    assert not hasattr(ae, "inverse_transform")  # the decoder needs the skips
    assert hasattr(ConvAutoEncoder(), "inverse_transform")
    with pytest.raises(ValueError, match="needs architecture='unet'"):
        ConvAutoEncoder(channels=(4,), residual=True, max_epochs=1, **CPU).fit(test)
    with pytest.raises(ValueError, match="contrastive"):
        _unet(contrastive=[GaussianNoise(0.1)]).fit(test)
    with pytest.raises(ValueError, match="skip connections"):
        AutoEncoderCodec(_unet()).fit(test)
    with pytest.raises(ValueError, match="too small"):
        _unet(channels=(4,) * 7).fit(test)  # 6 levels need 64 pixels
    with pytest.raises(ValueError, match="architecture"):
        ConvAutoEncoder(architecture="resnet").fit(test)
    assert "architecture" not in VariationalConvAutoEncoder().get_params()


def test_the_corruption_reports_where_it_masked():
    """``with_mask`` draws what ``__call__`` draws and marks exactly the hidden pixels."""
    from skae.corruption import PixelDropout, SeededCorruption

    X = 0.5 + 0.1 * torch.rand(16, 2, 12, 12, generator=torch.Generator().manual_seed(0))
    steps = [GaussianNoise(0.05), BlockMask(4, fill=-1.0), PixelDropout(0.1, fill=-1.0)]
    plain = SeededCorruption(steps, 3, "cpu")(X)
    out, mask = SeededCorruption(steps, 3, "cpu").with_mask(X)
    torch.testing.assert_close(out, plain, rtol=0, atol=0)
    assert mask.shape == (16, 1, 12, 12)
    torch.testing.assert_close(mask.expand_as(out), out == -1.0, rtol=0, atol=0)
    assert SeededCorruption([GaussianNoise(0.1)], 0, "cpu").with_mask(X)[1] is None


def test_mask_channel_network_is_told_where_the_holes_are(camera_patches):
    train, test = camera_patches
    ae = _unet(channels=(8, 16), mask_channel=True, corruption=BlockMask(8, fill="mean"),
               max_epochs=2).fit(train)
    assert ae.net_.module_.encoder.stem[0].in_channels == 2  # the image and its mask
    mask = np.zeros(test.shape, dtype=bool)
    mask[:, 10:18, 3:11] = True
    out = ae.inpaint(test, mask)
    np.testing.assert_array_equal(out[~mask], test[~mask])
    # The same holes, not marked: the network sees other input, so fills differently.
    unmarked = ConvAutoEncoder.reconstruct(ae, np.where(mask, out, test))
    assert not np.allclose(unmarked[mask], out[mask])
    # One pass by default: the network was trained on first guesses, not on its output.
    np.testing.assert_array_equal(out, ae.inpaint(test, mask, n_iter=1))
    assert not np.array_equal(out, ae.inpaint(test, mask, n_iter=3))
    with pytest.raises(ValueError, match="n_iter must be a positive int or 'auto'"):
        ae.inpaint(test, mask, n_iter="once")
    with pytest.raises(ValueError, match="mask_channel=True needs architecture='unet'"):
        ConvAutoEncoder(channels=(4,), mask_channel=True, max_epochs=1, **CPU).fit(test)


def test_mask_channel_model_saves_and_exports(tmp_path, camera_patches):
    _, test = camera_patches
    ae = _unet(mask_channel=True, corruption=BlockMask(6, fill="mean")).fit(test)
    mask = np.zeros(test.shape, dtype=bool)
    mask[:, :6, :6] = True
    save(ae, tmp_path / "masked.skae")
    loaded = load(tmp_path / "masked.skae")
    np.testing.assert_array_equal(loaded.inpaint(test, mask), ae.inpaint(test, mask))
    exported = torch.export.load(
        export_encoder(ae, os.fspath(tmp_path / "encoder.pt2"), format="torch.export")
    ).module()
    codes = exported(torch.from_numpy(test[:, None])).detach().numpy()
    np.testing.assert_allclose(codes, ae.transform(test), atol=1e-5)
