"""Per-sample losses: pixel losses, SSIM, perceptual loss, and their use in estimators."""

import pickle

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from torch import nn

from skae import ConvAutoEncoder, DenseAutoEncoder
from skae.datasets import load_fashion_mnist_subset
from skae.losses import (
    LOSSES,
    MultiScaleFilterBank,
    PerceptualLoss,
    ReconstructionCriterion,
    SSIMLoss,
    get_loss_function,
)


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def images():
    X, _ = load_fashion_mnist_subset(return_X_y=True)
    return X[:200]


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("shape", [(5, 1, 16, 16), (5, 3, 12, 20), (5, 2, 40)], ids=str)
def test_per_sample_zero_on_match_and_positive_otherwise(name, shape):
    loss = get_loss_function(name)
    x, y = rand(*shape, seed=0), rand(*shape, seed=1)
    same = loss(x, x)
    assert same.shape == (shape[0],)
    differ = loss(y, x)
    assert differ.shape == (shape[0],) and (differ > same + 1e-3).all()
    if name != "bce":  # the cross-entropy of a match is the target's entropy
        assert torch.allclose(same, torch.zeros_like(same), atol=1e-5)
    # Per-sample: each value depends on its own pair only.
    assert torch.allclose(loss(y[:2], x[:2]), differ[:2], atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradients_flow(name):
    x = rand(3, 1, 14, 14, seed=0).requires_grad_(True)
    y = rand(3, 1, 14, 14, seed=1)
    get_loss_function(name)(torch.sigmoid(x), y).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_ssim_matches_scikit_image_away_from_borders():
    loss = SSIMLoss(window_size=11, sigma=1.5, data_range=1.0)
    rng = np.random.default_rng(0)
    a = rng.random((40, 40))
    b = np.clip(a + 0.2 * rng.standard_normal((40, 40)), 0, 1)
    _, full = structural_similarity(
        a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, full=True,
    )
    ours = loss._ssim_map(
        torch.tensor(a[None, None], dtype=torch.float64),
        torch.tensor(b[None, None], dtype=torch.float64),
    )[0, 0].numpy()
    # Borders differ only by the padding convention (torch reflect vs scipy reflect).
    np.testing.assert_allclose(ours[6:-6, 6:-6], full[6:-6, 6:-6], atol=1e-6)


def test_ssim_properties():
    loss = SSIMLoss()
    x = rand(4, 1, 20, 20)
    ssim = loss.ssim(x, x.flip(0))
    assert ((ssim >= -1) & (ssim <= 1)).all()
    assert torch.allclose(loss(x, x.flip(0)), loss(x.flip(0), x), atol=1e-6)  # symmetric
    noisy = (x + 0.1 * rand(4, 1, 20, 20, seed=3)).clamp(0, 1)
    noisier = (x + 0.4 * rand(4, 1, 20, 20, seed=3)).clamp(0, 1)
    assert (loss(noisy, x) < loss(noisier, x)).all()
    mixed = SSIMLoss(alpha=0.5)
    expected = 0.5 * loss(noisy, x) + 0.5 * (noisy - x).abs().flatten(1).mean(1)
    assert torch.allclose(mixed(noisy, x), expected)
    # data_range matters: 8-bit values with data_range=255 equal [0, 1] values with 1.
    assert torch.allclose(SSIMLoss(data_range=255)(noisy * 255, x * 255), loss(noisy, x),
                          atol=1e-5)
    # Tiny images (smaller than the window) still work.
    assert torch.isfinite(loss(rand(2, 1, 3, 3), rand(2, 1, 3, 3, seed=1))).all()


@pytest.mark.parametrize("loss", [LOSSES["ssim"], LOSSES["perceptual"]], ids=repr)
def test_image_losses_reject_tables(loss):
    with pytest.raises(ValueError, match=r"images \(n, C, H, W\)"):
        loss(rand(4, 10), rand(4, 10))


@pytest.mark.parametrize(
    "factory",
    [
        lambda: SSIMLoss(window_size=4),
        lambda: SSIMLoss(sigma=0),
        lambda: SSIMLoss(data_range=-1),
        lambda: SSIMLoss(alpha=1.5),
        lambda: PerceptualLoss(distance="cosine"),
        lambda: PerceptualLoss(pixel_weight=-1),
        lambda: PerceptualLoss(layer_weights=[1, -1]),
        lambda: MultiScaleFilterBank(0),
    ],
)
def test_invalid_parameters(factory):
    with pytest.raises(ValueError):
        factory()


def test_perceptual_rejects_non_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        PerceptualLoss(lambda x: x)


def test_filter_bank_features_see_every_difference():
    bank = MultiScaleFilterBank(n_scales=3)
    feats = bank(rand(2, 3, 28, 28))
    assert [tuple(f.shape) for f in feats] == [(2, 9, 28, 28), (2, 9, 14, 14), (2, 12, 7, 7)]
    assert [tuple(f.shape) for f in bank(rand(2, 1, 50))] == [(2, 2, 50), (2, 2, 25),
                                                             (2, 3, 13)]
    assert not any(p.requires_grad for p in bank.parameters())
    loss = PerceptualLoss()
    x = rand(2, 1, 16, 16)
    assert (loss(x + 0.1, x) > 0).all()  # a uniform shift is seen (coarse image kept)
    # Edges weigh more than the pixel error alone: a high-frequency error costs more
    # than a smooth one of the same mean absolute size.
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 0.2 - 0.1
    smooth = torch.full((16, 16), 0.1)
    assert (loss(x + checker, x) > loss(x + smooth, x)).all()


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU(),
                               nn.Dropout(0.5))

    def forward(self, x):
        a = self.a(x)
        return {"a": a, "b": self.b(a)}


def test_perceptual_loss_with_user_module():
    torch.manual_seed(0)
    features = TwoLayers()
    state = {k: v.clone() for k, v in features.state_dict().items()}
    loss = PerceptualLoss(features, layer_weights=[1.0, 0.5], distance="l2",
                          pixel_weight=0.1)
    x = rand(3, 1, 12, 12).requires_grad_(True)
    y = rand(3, 1, 12, 12, seed=1)
    value = loss(x, y)
    value.sum().backward()
    assert x.grad.abs().sum() > 0
    # The user's module is untouched: still training mode, no gradients, same weights.
    assert features.training
    assert all(p.grad is None and p.requires_grad for p in features.parameters())
    assert all(torch.equal(state[k], v) for k, v in features.state_dict().items())
    # The frozen copy is in eval mode: deterministic despite Dropout.
    assert torch.equal(loss(x, y), loss(x, y))
    frozen = loss._features_on("cpu")
    a, b = frozen(x.detach()), frozen(y)
    expected = (
        (a["a"] - b["a"]).pow(2).flatten(1).mean(1)
        + 0.5 * (a["b"] - b["b"]).pow(2).flatten(1).mean(1)
        + 0.1 * (x.detach() - y).pow(2).flatten(1).mean(1)
    )
    assert torch.allclose(loss(x.detach(), y), expected)
    with pytest.raises(ValueError, match="layer_weights has 3"):
        PerceptualLoss(features, layer_weights=[1, 1, 1])(x, y)
    restored = pickle.loads(pickle.dumps(loss))
    assert torch.allclose(restored(x.detach(), y), loss(x.detach(), y))


def test_criterion_checks_per_sample_shape():
    criterion = ReconstructionCriterion(lambda a, b: (a - b).pow(2).mean())
    with pytest.raises(ValueError, match="one value per sample"):
        criterion(rand(3, 4), rand(3, 4, seed=1))
    with pytest.raises(ValueError, match="Unknown loss"):
        get_loss_function("psnr")


@pytest.mark.parametrize("loss", ["ssim", "ssim_l1", "perceptual"])
def test_conv_autoencoder_trains_with_image_losses(images, loss):
    ae = ConvAutoEncoder(8, channels=(8,), loss=loss, max_epochs=3, lr=3e-3,
                         random_state=0).fit(images[:100])
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]
    errors = ae.reconstruction_error(images[:10])
    assert errors.shape == (10,) and errors.dtype == np.float64
    np.testing.assert_allclose(
        errors, get_loss_function(loss)(
            torch.tensor(ae.reconstruct(images[:10])[:, None]),
            torch.tensor(images[:10, None]),
        ).numpy(), rtol=1e-4, atol=1e-6,
    )


def test_perceptual_user_module_is_not_trained(images):
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    before = [p.clone() for p in features.parameters()]
    ae = ConvAutoEncoder(8, channels=(8,), loss=PerceptualLoss(features), max_epochs=1,
                         random_state=0).fit(images[:50])
    n_trained = sum(p.numel() for group in ae.net_.optimizer_.param_groups
                    for p in group["params"])
    assert n_trained == sum(p.numel() for p in ae.net_.module_.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, features.parameters()))


def test_dense_autoencoder_with_image_loss_fails_clearly(images):
    with pytest.raises(ValueError, match="ConvAutoEncoder"):
        DenseAutoEncoder(2, loss="ssim", max_epochs=1).fit(images[:20].reshape(20, -1))
