"""Tests of skae.preprocessing.ImageAligner: alignment, invariance, dtypes, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import rotate, shift
from sklearn.pipeline import make_pipeline

from skae import ConvAutoEncoder
from skae.datasets import make_particles
from skae.preprocessing import ImageAligner


@pytest.fixture(scope="module")
def particles():
    return make_particles(0, 60, image_size=48, noise=0.0, random_state=0)


def _of_kind(data, kind):
    return data.images[data.target == data.target_names.index(kind)]


def _correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_rotated_and_shifted_copies_align_to_nearly_the_same_image(particles):
    diatom = _of_kind(particles, "diatom")[0]
    copies = np.stack([shift(rotate(diatom, angle, reshape=False, order=1), offset, order=1)
                       for angle, offset in [(0, (0, 0)), (35, (3, -2)), (100, (-4, 1)),
                                             (160, (2, 4))]])
    aligned = ImageAligner().fit_transform(copies)
    before = [_correlation(copies[0], c) for c in copies[1:]]
    after = [_correlation(aligned[0], a) for a in aligned[1:]]
    assert min(after) > 0.9
    assert min(after) > max(before)


def test_principal_axis_horizontal_and_centre_of_mass_central(particles):
    for image in _of_kind(particles, "fibre")[:3]:
        aligned = ImageAligner().fit_transform(image[None])[0]
        weights = np.maximum(aligned - np.median(aligned), 0)
        rows, cols = np.indices(aligned.shape)
        centre = (np.asarray(aligned.shape) - 1) / 2
        centroid = np.array([np.sum(rows * weights), np.sum(cols * weights)]) / weights.sum()
        np.testing.assert_allclose(centroid, centre, atol=1.0)
        spread_rows = np.sum(weights * (rows - centroid[0]) ** 2)
        spread_cols = np.sum(weights * (cols - centroid[1]) ** 2)
        assert spread_cols > 3 * spread_rows


def test_heavier_end_goes_left():
    image = np.zeros((1, 21, 21))
    image[0, 10, 3:18] = 1.0
    image[0, 9:12, 3:6] = 3.0  # a heavy head on the left
    aligned = ImageAligner().fit_transform(image)[0]
    assert aligned[:, :10].sum() > aligned[:, 11:].sum()
    mirrored = ImageAligner().fit_transform(image[:, :, ::-1])[0]
    np.testing.assert_allclose(mirrored, aligned, atol=1e-6)


def test_flip_aligns_mirror_images():
    rng = np.random.RandomState(0)
    image = np.zeros((25, 25))
    image[12, 4:21] = 1.0
    image[8:12, 14:17] = 1.0  # a bump on one side
    image = np.clip(image + 0.01 * rng.rand(25, 25), 0, None)
    pair = np.stack([image, image[::-1]])
    without = ImageAligner().fit_transform(pair)
    with_flip = ImageAligner(flip=True).fit_transform(pair)
    assert _correlation(*with_flip) > 0.95
    assert _correlation(*with_flip) > _correlation(*without)


def test_options_turn_steps_off(particles):
    image = _of_kind(particles, "fibre")[:1]
    np.testing.assert_allclose(
        ImageAligner(center=False, rotate=False).fit_transform(image), image, atol=1e-6
    )
    rotated_only = ImageAligner(center=False).fit_transform(image)
    assert not np.allclose(rotated_only, image)


def test_dark_objects_on_light_background(particles):
    image = _of_kind(particles, "fibre")[:1]
    bright = ImageAligner().fit_transform(image)
    dark = ImageAligner(polarity="dark").fit_transform(1 - image)
    np.testing.assert_allclose(1 - dark, bright, atol=1e-5)


def test_signals_are_centred():
    signal = np.zeros((1, 21))
    signal[0, 2:5] = 1.0
    out = ImageAligner().fit_transform(signal)
    assert out.shape == (1, 21)
    assert np.argmax(out[0]) == pytest.approx(10, abs=1)


def test_channels_share_one_alignment():
    rng = np.random.RandomState(0)
    image = np.zeros((2, 1, 19, 19))
    image[0, 0, 3:16, 8:10] = 1.0
    image[1, 0] = image[0, 0]
    two_channels = np.concatenate([image, 0.5 * image], axis=1)
    out = ImageAligner().fit_transform(two_channels + 0.001 * rng.rand(*two_channels.shape))
    assert out.shape == (2, 2, 19, 19)
    np.testing.assert_allclose(out[:, 1], 0.5 * out[:, 0], atol=0.01)


def test_blank_images_are_returned_unchanged():
    X = np.full((2, 8, 8), 0.3)
    np.testing.assert_array_equal(ImageAligner().fit_transform(X), X)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    channels=st.sampled_from([None, 1, 2]),
    height=st.integers(3, 12),
    width=st.integers(3, 12),
    dtype=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int64]),
)
def test_shapes_and_dtypes(n, channels, height, width, dtype):
    shape = (n, height, width) if channels is None else (n, channels, height, width)
    rng = np.random.RandomState(0)
    X = (rng.rand(*shape) * 200).astype(dtype)
    before = X.copy()
    out = ImageAligner().fit_transform(X)
    assert out.shape == X.shape
    expected = dtype if dtype in (np.uint8, np.uint16, np.float32) else np.float64
    assert out.dtype == expected
    assert np.all(np.isfinite(out.astype(np.float64)))
    np.testing.assert_array_equal(X, before)


def test_bad_input():
    aligner = ImageAligner().fit(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="features"):
        aligner.transform(np.zeros((2, 9, 9)))
    with pytest.raises(ValueError, match="shape"):
        aligner.transform(np.zeros((2, 4, 16)))
    with pytest.raises(ValueError, match="channels-last"):
        ImageAligner().fit(np.zeros((2, 16, 16, 3)))
    X = np.zeros((2, 8, 8))
    X[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ImageAligner().fit(X)
    with pytest.raises(ValueError, match="polarity"):
        ImageAligner(polarity="light").fit(np.zeros((2, 8, 8)))


def test_codes_of_rotated_copies_are_close_after_alignment(particles):
    """The aligner in front of an autoencoder: rotated copies of a particle get codes
    much closer to each other than to the codes of other kinds."""
    X = particles.images
    rotated = np.stack([rotate(X[0], a, reshape=False, order=1) for a in (0, 60, 130)])
    pipe = make_pipeline(
        ImageAligner(),
        ConvAutoEncoder(latent_dim=8, channels=(8, 16), max_epochs=30, batch_size=16,
                        device="cpu", random_state=0),
    ).fit(np.concatenate([X, rotated]))
    codes = pipe.transform(rotated)
    others = pipe.transform(X[particles.target != particles.target[0]][:20])
    within = np.mean([np.linalg.norm(codes[i] - codes[j]) for i in range(3)
                      for j in range(i + 1, 3)])
    between = np.mean(np.linalg.norm(others[:, None] - codes[None], axis=2))
    assert within < 0.5 * between, (within, between)
