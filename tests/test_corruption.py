"""Training-input corruptions: behaviour, validation, seeding, training-only use."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skae import ConvAutoEncoder, DenseAutoEncoder
from skae.corruption import (
    BlockMask,
    GaussianNoise,
    PixelDropout,
    SaltAndPepper,
    SeededCorruption,
    make_corruption,
)
from skae.datasets import load_fashion_mnist_subset

ALL = [
    GaussianNoise(0.3),
    GaussianNoise((0.1, 0.5), clip=(0, 1)),
    SaltAndPepper(0.1),
    SaltAndPepper((0.0, 0.3), salt_vs_pepper=0.2, low=-1, high=2),
    PixelDropout(0.3),
    PixelDropout((0.1, 0.4), fill="mean"),
    BlockMask(5),
    BlockMask((3, 7), n_blocks=(0, 3), fill="mean"),
]
SHAPES = [(6, 20), (6, 2, 30), (6, 3, 12, 10)]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def images():
    X, _ = load_fashion_mnist_subset(return_X_y=True)
    return X[:300]


@pytest.mark.parametrize("corruption", ALL, ids=repr)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shape_dtype_input_untouched_and_seeded(corruption, shape):
    X = torch.rand(shape, generator=gen(1))
    X_before = X.clone()
    out = corruption(X, gen(0))
    assert out.shape == X.shape and out.dtype == X.dtype
    assert torch.isfinite(out).all()
    assert torch.equal(X, X_before)
    assert torch.equal(out, corruption(X, gen(0)))
    assert not torch.equal(out, corruption(X, gen(1)))


@pytest.mark.parametrize("corruption", ALL, ids=repr)
def test_repr_and_pickle(corruption):
    text = repr(corruption)
    assert text.startswith(type(corruption).__name__ + "(")
    restored = pickle.loads(pickle.dumps(corruption))
    assert repr(restored) == text
    X = torch.rand(4, 1, 9, 9, generator=gen(2))
    assert torch.equal(restored(X, gen(0)), corruption(X, gen(0)))


def test_gaussian_noise_statistics():
    X = torch.zeros(200, 1000)
    out = GaussianNoise(0.3)(X, gen())
    assert abs(out.std().item() - 0.3) < 0.005
    assert abs(out.mean().item()) < 0.005
    ranged = GaussianNoise((0.1, 0.5))(X, gen())
    per_sample = ranged.std(dim=1)
    assert 0.09 < per_sample.min() < 0.15 and 0.45 < per_sample.max() < 0.51
    clipped = GaussianNoise(1.0, clip=(0, 1))(torch.full((10, 100), 0.5), gen())
    assert clipped.min() == 0 and clipped.max() == 1


def test_salt_and_pepper_statistics():
    X = torch.full((50, 1000), 0.5)
    out = SaltAndPepper(0.2, salt_vs_pepper=0.25)(X, gen())
    hit = out != 0.5
    assert abs(hit.float().mean().item() - 0.2) < 0.01
    assert set(out[hit].unique().tolist()) == {0.0, 1.0}
    assert abs((out == 1).float().sum().item() / hit.sum().item() - 0.25) < 0.02


def test_pixel_dropout_rate_and_channels():
    X = torch.ones(20, 3, 32, 32)
    out = PixelDropout(0.3)(X, gen())
    dropped = out == 0
    assert torch.equal(dropped.all(dim=1), dropped.any(dim=1))  # channels together
    assert abs(dropped.float().mean().item() - 0.3) < 0.01
    table = PixelDropout(0.3)(torch.ones(20, 500), gen())
    assert abs((table == 0).float().mean().item() - 0.3) < 0.02


def test_dropout_mean_fill_uses_neighbours():
    X = torch.full((4, 1, 16, 16), 0.7)
    out = PixelDropout(0.5, fill="mean")(X, gen())
    assert torch.allclose(out, X)  # the local mean of a constant image is the constant
    table = torch.arange(12.0).reshape(3, 4).repeat(10, 1)
    out = PixelDropout(0.5, fill="mean")(table, gen())
    assert torch.allclose(out.mean(0), table.mean(0), atol=1.0)


@pytest.mark.parametrize("size", [4, (3, 6)])
def test_block_mask_blocks(size):
    h, w = (size, size) if isinstance(size, int) else size
    X = torch.ones(500, 1, 20, 20)
    out = BlockMask(size, fill=0.0)(X, gen())
    holes = out[:, 0] == 0
    counts = holes.sum(dim=(1, 2))
    assert counts.max() == h * w and counts.min() >= 1
    full = counts == h * w
    for image in holes[full][:20]:  # a full block is an h x w rectangle
        rows, cols = torch.nonzero(image, as_tuple=True)
        assert rows.max() - rows.min() + 1 == h and cols.max() - cols.min() + 1 == w
    # Every pixel can be hidden, corners included (blocks may be cut by the border).
    assert holes.any(dim=0).all()


def test_block_mask_count_range_and_1d():
    out = BlockMask(3, n_blocks=(0, 2))(torch.ones(300, 2, 50), gen())
    holes = (out == 0).all(dim=1)
    assert holes.any(dim=1).float().mean() < 0.9  # some samples get no block
    assert holes.sum(dim=1).max() <= 6
    table = BlockMask(4)(torch.ones(50, 30), gen())
    runs = (table == 0).sum(dim=1)
    assert runs.max() == 4


@pytest.mark.parametrize(
    "factory, error",
    [
        (lambda: GaussianNoise(-0.1), ValueError),
        (lambda: GaussianNoise("a"), TypeError),
        (lambda: GaussianNoise((0.5, 0.1)), ValueError),
        (lambda: GaussianNoise(0.1, clip=(1, 0)), ValueError),
        (lambda: GaussianNoise(0.1, clip=1), ValueError),
        (lambda: SaltAndPepper(1.5), ValueError),
        (lambda: SaltAndPepper(0.1, salt_vs_pepper=2), ValueError),
        (lambda: SaltAndPepper(0.1, low=1, high=0), ValueError),
        (lambda: PixelDropout(1.0), ValueError),
        (lambda: PixelDropout(-0.1), ValueError),
        (lambda: PixelDropout(0.1, fill="median"), ValueError),
        (lambda: BlockMask(0), ValueError),
        (lambda: BlockMask(2.5), ValueError),
        (lambda: BlockMask((2, 3, 4)), ValueError),
        (lambda: BlockMask(3, n_blocks=0), ValueError),
        (lambda: BlockMask(3, n_blocks=(3, 1)), ValueError),
    ],
)
def test_parameter_validation(factory, error):
    with pytest.raises(error):
        factory()


def test_make_corruption():
    assert make_corruption(None, 0, "cpu") is None
    assert make_corruption([], 0, "cpu") is None
    seeded = make_corruption([GaussianNoise(0.1), PixelDropout(0.2)], 3, "cpu")
    assert isinstance(seeded, SeededCorruption) and len(seeded.steps) == 2
    with pytest.raises(TypeError, match="callable"):
        make_corruption([GaussianNoise(0.1), "noise"], 0, "cpu")
    X = torch.rand(4, 10, generator=gen())
    first = seeded(X)
    again = pickle.loads(pickle.dumps(make_corruption([GaussianNoise(0.1)], 3, "cpu")))
    assert torch.equal(again(X), make_corruption([GaussianNoise(0.1)], 3, "cpu")(X))
    assert not torch.equal(first, seeded(X))  # the generator advances between batches


class RecordingCorruption:
    """Counts its calls and sets every input to zero."""

    def __init__(self):
        self.calls = 0

    def __call__(self, X, generator):
        self.calls += 1
        assert torch.is_grad_enabled()
        return torch.zeros_like(X)


def test_corruption_in_training_only_targets_clean(images):
    X = images[:128].reshape(128, -1)
    recorder = RecordingCorruption()
    ae = DenseAutoEncoder(
        4, hidden_layer_sizes=(16,), corruption=recorder, max_epochs=3, batch_size=64,
        random_state=0,
    ).fit(X)
    assert recorder.calls == 3 * 2  # every training batch
    # Inputs were all zeros, targets clean: the loss cannot reach 0 (it would if the
    # targets were corrupted too); the net learns the mean image.
    assert ae.loss_curve_[-1] > 0.5 * X.var(axis=0).mean()
    calls = recorder.calls
    ae.transform(X), ae.reconstruct(X), ae.score(X), ae.reconstruction_error(X)
    assert recorder.calls == calls  # inference sees data as given
    # With zero inputs in training, inference on real inputs differs from zeros.
    assert not np.allclose(ae.reconstruct(X), ae.reconstruct(np.zeros_like(X)))


class Invert:
    """A deterministic corruption: ``1 - X`` (the negative of an image in [0, 1])."""

    def __call__(self, X, generator):
        return 1.0 - X


def test_network_trains_on_the_corruption_output(images):
    # Training with a corruption c is training on the pairs (c(X), X): same losses, step
    # for step, as fit_pairs on inputs corrupted beforehand; not those of a plain fit.
    X = images[:128].reshape(128, -1)
    params = dict(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=3, batch_size=32,
                  lr=1e-2, early_stopping=False, random_state=0, device="cpu")
    corrupted = DenseAutoEncoder(corruption=Invert(), **params).fit(X)
    pairs = DenseAutoEncoder(**params).fit_pairs(1.0 - X, X)
    plain = DenseAutoEncoder(**params).fit(X)
    np.testing.assert_allclose(corrupted.loss_curve_, pairs.loss_curve_, rtol=1e-5)
    assert not np.allclose(corrupted.loss_curve_, plain.loss_curve_, rtol=1e-3)
    np.testing.assert_allclose(corrupted.transform(X), pairs.transform(X), rtol=1e-4,
                               atol=1e-5)


def test_corruption_seeded_by_random_state(images):
    X = images[:200]
    params = dict(channels=(4,), latent_dim=4, max_epochs=2, corruption=GaussianNoise(0.3))
    a = ConvAutoEncoder(**params, random_state=0).fit(X).loss_curve_
    b = ConvAutoEncoder(**params, random_state=0).fit(X).loss_curve_
    c = ConvAutoEncoder(**params, random_state=1).fit(X).loss_curve_
    assert a == b and a != c


def test_denoising_autoencoder_denoises(images):
    rng = np.random.default_rng(0)
    X = images
    noisy = (X + 0.3 * rng.standard_normal(X.shape)).astype(np.float32)
    ae = ConvAutoEncoder(
        32, channels=(8, 16), max_epochs=15, batch_size=32, lr=3e-3,
        corruption=GaussianNoise(0.3), random_state=0,
    ).fit(X[:250])
    mse_noisy = np.mean((noisy[250:] - X[250:]) ** 2)
    mse_denoised = np.mean((ae.reconstruct(noisy[250:]) - X[250:]) ** 2)
    assert mse_denoised < 0.5 * mse_noisy


def test_estimator_with_corruption_is_clonable_and_picklable(images):
    ae = ConvAutoEncoder(4, channels=(4,), max_epochs=1, random_state=0,
                         corruption=[GaussianNoise(0.1), BlockMask(6)])
    assert repr(clone(ae).corruption) == repr(ae.corruption)
    ae.fit(images[:64])
    restored = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(restored.transform(images[:5]), ae.transform(images[:5]))
