"""Inpainting (``inpaint``), the local-mean first guess, and paired training (``fit_pairs``)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from skae import ConvAutoEncoder, DenseAutoEncoder
from skae._restoration import local_mean_fill
from skae.corruption import BlockMask, GaussianNoise, PixelDropout
from skae.datasets import load_fashion_mnist_subset


@pytest.fixture(scope="module")
def images():
    X, _ = load_fashion_mnist_subset(return_X_y=True)
    return X[:400]


@pytest.fixture(scope="module")
def inpainter(images):
    """A small net trained to fill 10x10 holes (mean-filled, as inpaint starts)."""
    return ConvAutoEncoder(
        48, channels=(16, 32), max_epochs=12, batch_size=32, lr=3e-3, random_state=0,
        corruption=BlockMask(10, fill="mean"),
    ).fit(images[:300])


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((300, 2))
    return latent @ rng.standard_normal((2, 6)) + 0.05 * rng.standard_normal((300, 6))


@pytest.fixture(scope="module")
def dense(table):
    return DenseAutoEncoder(
        2, hidden_layer_sizes=(32,), max_epochs=30, batch_size=32, lr=3e-3,
        random_state=0, corruption=PixelDropout(0.3, fill="mean"),
    ).fit(table)


def square_masks(n, size, shape=(28, 28), seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, *shape), dtype=bool)
    for m in mask:
        i, j = rng.integers(0, shape[0] - size + 1), rng.integers(0, shape[1] - size + 1)
        m[i : i + size, j : j + size] = True
    return mask


def test_known_entries_bit_for_bit_and_input_untouched(inpainter, images):
    X = images[300:340].astype(np.float64) + 1e-9  # values a float32 round trip changes
    mask = square_masks(len(X), 10)
    X_before, mask_before = X.copy(), mask.copy()
    out = inpainter.inpaint(X, mask)
    assert out.dtype == np.float64 and out.shape == X.shape
    np.testing.assert_array_equal(out[~mask], X[~mask])
    assert np.isfinite(out).all() and not np.allclose(out[mask], X[mask])
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(mask, mask_before)
    out32 = inpainter.inpaint(X.astype(np.float32), mask)
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32[~mask], X.astype(np.float32)[~mask])


def test_auto_rounds_are_three_for_a_network_not_told_the_mask(inpainter, images):
    X, mask = images[300:310], square_masks(10, 10, seed=2)
    np.testing.assert_array_equal(inpainter.inpaint(X, mask),
                                  inpainter.inpaint(X, mask, n_iter=3))


def test_inpainting_beats_the_first_guess(inpainter, images):
    X = images[300:]
    mask = square_masks(len(X), 10, seed=1)
    out = inpainter.inpaint(X, mask)
    guess = local_mean_fill(torch.tensor(X[:, None]), torch.tensor(mask[:, None]))
    guess = guess[:, 0].numpy()
    err_net = np.mean((out[mask] - X[mask]) ** 2)
    err_guess = np.mean((guess[mask] - X[mask]) ** 2)
    assert err_net < 0.85 * err_guess
    assert err_net < np.mean((0.0 - X[mask]) ** 2)


def test_masks_of_any_shape(inpainter, images):
    X = images[300:310]
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:28, :28]
    masks = {
        "one mask broadcast to every sample": (np.hypot(yy - 14, xx - 10) < 6),
        "scattered pixels": rng.random(X.shape) < 0.4,
        "scratch": np.broadcast_to(np.abs(yy - xx) <= 1, X.shape),
        "large rectangle": square_masks(len(X), 20, seed=3),
    }
    for name, mask in masks.items():
        out = inpainter.inpaint(X, mask)
        full = np.broadcast_to(mask, X.shape)
        assert out.shape == X.shape, name
        np.testing.assert_array_equal(out[~full], X[~full])
        assert np.isfinite(out).all(), name


def test_flat_rows_and_nan_mask(images):
    X = images[:200].reshape(200, -1)
    ae = ConvAutoEncoder(8, channels=(4,), image_shape=(28, 28), max_epochs=1,
                         random_state=0, corruption=PixelDropout(0.2)).fit(X)
    X_nan = X[:5].copy()
    X_nan[:, 100:300] = np.nan
    out = ae.inpaint(X_nan, n_iter=2, init=0.0)  # mask=None: the NaNs are missing
    assert out.shape == (5, 784) and np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, :100], X[:5, :100])


def test_tables(dense, table):
    X = table[:50].copy()
    mask = np.random.default_rng(0).random(X.shape) < 0.2
    mask[:, 0] = True  # a column missing everywhere starts at 0, the standardised mean
    mask[mask.all(axis=1), 1] = False
    out = dense.inpaint(X, mask)
    np.testing.assert_array_equal(out[~mask], X[~mask])
    err = np.mean((out[mask] - X[mask]) ** 2)
    means = [X[~m, j].mean() if (~m).any() else 0.0 for j, m in enumerate(mask.T)]
    guess = np.where(mask, np.array(means), X)
    assert err < 0.5 * np.mean((guess[mask] - X[mask]) ** 2)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(dense.inpaint(np.asarray(frame), mask), out)


def test_dataframe_feature_names(table):
    frame = pd.DataFrame(table, columns=[f"f{i}" for i in range(table.shape[1])])
    ae = DenseAutoEncoder(2, hidden_layer_sizes=(8,), max_epochs=1, random_state=0)
    ae.fit(frame)
    mask = np.zeros(frame.shape, dtype=bool)
    mask[:, 2] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ae.inpaint(frame, mask)
    np.testing.assert_array_equal(out[:, :2], table[:, :2])
    with pytest.raises(ValueError, match="feature names"):
        ae.inpaint(frame.rename(columns={"f0": "g0"}), mask)


def test_inpaint_errors(inpainter, images):
    X = images[:4]
    good = square_masks(4, 5)
    with pytest.raises(TypeError, match="boolean"):
        inpainter.inpaint(X, good.astype(int))
    with pytest.raises(TypeError, match="boolean"):
        inpainter.inpaint(X, good.astype(float))
    with pytest.raises(ValueError, match="does not match X of shape"):
        inpainter.inpaint(X, good[:, :20])
    with pytest.raises(ValueError, match="does not match X of shape"):
        inpainter.inpaint(X, good[:3])
    all_masked = good.copy()
    all_masked[2] = True
    with pytest.raises(ValueError, match=r"entirely masked \(first indices: \[2\]\)"):
        inpainter.inpaint(X, all_masked)
    with pytest.raises(ValueError, match="entirely masked"):
        inpainter.inpaint(X, np.ones((28, 28), dtype=bool))
    X_nan = X.copy()
    X_nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="outside the mask"):
        inpainter.inpaint(X_nan, good)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        inpainter.inpaint(X[:, :20, :20], good[:, :20, :20])
    with pytest.raises(ValueError, match="n_iter"):
        inpainter.inpaint(X, good, n_iter=0)
    with pytest.raises(ValueError, match="init"):
        inpainter.inpaint(X, good, init="median")
    with pytest.warns(UserWarning, match="no entry"):
        out = inpainter.inpaint(X, np.zeros_like(good))
    np.testing.assert_array_equal(out, X)
    with pytest.raises(Exception, match="not fitted"):
        ConvAutoEncoder().inpaint(X, good)


def test_local_mean_fill():
    X = torch.full((2, 3, 10, 12), 0.25)
    mask = torch.zeros_like(X, dtype=torch.bool)
    mask[:, :, 2:8, 3:9] = True
    X_holes = torch.where(mask, torch.nan, X)
    assert torch.allclose(local_mean_fill(X_holes, mask), X)  # constants stay constant
    # A linear ramp in 1-D is filled (nearly) linearly: harmonic interpolation.
    ramp = torch.linspace(0, 1, 40).reshape(1, 1, 40)
    hole = torch.zeros_like(ramp, dtype=torch.bool)
    hole[..., 10:20] = True
    filled = local_mean_fill(torch.where(hole, 0.0, ramp), hole)
    assert (filled - ramp).abs().max() < 0.05
    assert torch.equal(filled[~hole], ramp[~hole])
    table = torch.tensor([[1.0, 2.0], [3.0, 0.0], [5.0, 6.0]])
    tmask = torch.tensor([[False, False], [True, True], [False, False]])
    np.testing.assert_allclose(local_mean_fill(table, tmask)[1].numpy(), [3.0, 4.0])


def test_fit_pairs_learns_the_mapping(images):
    rng = np.random.default_rng(0)
    clean = images
    noisy = np.clip(clean + 0.3 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    ae = ConvAutoEncoder(32, channels=(8, 16), max_epochs=15, batch_size=32, lr=3e-3,
                         random_state=0)
    assert ae.fit_pairs(noisy[:300], clean[:300]) is ae
    assert ae.output_activation_ == "sigmoid"
    restored = ae.reconstruct(noisy[300:])
    assert restored.shape == noisy[300:].shape
    assert np.mean((restored - clean[300:]) ** 2) < 0.75 * np.mean(
        (noisy[300:] - clean[300:]) ** 2
    )


def test_fit_pairs_output_activation_from_targets(table):
    shifted = table - table.min() + 0.01
    target = shifted / shifted.max()  # in [0, 1]
    ae = DenseAutoEncoder(2, hidden_layer_sizes=(8,), max_epochs=1, random_state=0)
    ae.fit_pairs(target + np.random.default_rng(0).normal(0, 0.5, target.shape), target)
    assert ae.output_activation_ == "sigmoid"


def test_fit_ignores_y_and_fit_pairs_validates(table):
    params = dict(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    a = DenseAutoEncoder(**params).fit(table, y=table[::-1])
    b = DenseAutoEncoder(**params).fit(table)
    assert a.loss_curve_ == b.loss_curve_
    ae = DenseAutoEncoder(**params)
    with pytest.raises(ValueError, match="same shape"):
        ae.fit_pairs(table, table[:-1])
    with pytest.raises(ValueError, match="features"):
        ae.fit_pairs(table, table[:, :-1])
    with pytest.raises(ValueError):
        DenseAutoEncoder(latent_dim=0).fit_pairs(table, table)


class Invert:
    """A deterministic corruption: ``1 - X`` (the negative of an image in [0, 1])."""

    def __call__(self, X, generator):
        return 1.0 - X


def test_fit_pairs_with_corruption_corrupts_inputs_only(images):
    # fit_pairs(X, T) with a corruption c trains on the pairs (c(X), T): the losses are
    # those of fit_pairs(c(X), T) without one, step for step. Corrupted targets (c(T))
    # or uncorrupted inputs give other losses.
    X, T = images[:64], images[64:128]
    params = dict(latent_dim=8, channels=(4,), max_epochs=2, batch_size=16,
                  lr=1e-2, early_stopping=False, random_state=0, device="cpu")
    ae = ConvAutoEncoder(corruption=Invert(), **params).fit_pairs(X, T)
    reference = ConvAutoEncoder(**params).fit_pairs(1.0 - X, T)
    np.testing.assert_allclose(ae.loss_curve_, reference.loss_curve_, rtol=1e-5)
    both = ConvAutoEncoder(**params).fit_pairs(1.0 - X, 1.0 - T)
    assert not np.allclose(ae.loss_curve_, both.loss_curve_, rtol=1e-3)
    noisy = ConvAutoEncoder(**params, corruption=GaussianNoise(0.1)).fit_pairs(X, T)
    assert np.isfinite(noisy.loss_curve_).all()
