"""The contrastive term of the autoencoders (``contrastive=``) and SimCLR's loss."""

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.utils._param_validation import InvalidParameterError

from skae import ConvAutoEncoder, DenseAutoEncoder
from skae.augmentation import RandomAffine, RandomFlip, RandomIntensity, RandomShift
from skae.losses import nt_xent_loss
from skae.persistence import load, save

IMAGES = load_digits().images[:300] / 16
FAST = dict(latent_dim=4, channels=(4, 8), max_epochs=3, batch_size=32, random_state=0,
            device="cpu")


def _flip_ratio(ae, X):
    """Code distance between each image and its mirror image, relative to the distance
    between unrelated images: 0 means the codes ignore the mirroring."""
    Z, Z_mirrored = ae.transform(X), ae.transform(X[:, :, ::-1].copy())
    other = Z[np.random.RandomState(0).permutation(len(X))]
    return np.linalg.norm(Z - Z_mirrored, axis=1).mean() / np.linalg.norm(Z - other,
                                                                          axis=1).mean()


def test_codes_become_invariant_to_the_augmentation():
    X = load_digits().images[:600] / 16
    params = dict(latent_dim=8, channels=(8, 16), max_epochs=8, batch_size=64,
                  random_state=0, device="cpu")
    plain = ConvAutoEncoder(**params).fit(X)
    invariant = ConvAutoEncoder(contrastive=RandomFlip(), **params).fit(X)
    # Measured: 0.66 without the term, 0.27 with it (seeds 0-2 alike).
    assert _flip_ratio(invariant, X) < 0.5 * _flip_ratio(plain, X)


def test_history_records_both_parts_of_the_loss():
    ae = ConvAutoEncoder(contrastive=[RandomAffine(), RandomIntensity()],
                         contrastive_weight=0.5, **FAST).fit(IMAGES)
    total, reconstruction, contrastive = (
        np.array(ae.history_[:, key])
        for key in ("train_loss", "reconstruction_loss", "contrastive_loss")
    )
    np.testing.assert_allclose(total, reconstruction + 0.5 * contrastive, rtol=1e-5)
    assert np.array_equal(ae.loss_curve_, total)
    assert contrastive[-1] < contrastive[0]
    assert ae.net_.module_.projection is not None


def test_without_contrastive_nothing_changes():
    plain = ConvAutoEncoder(**FAST).fit(IMAGES)
    same = ConvAutoEncoder(contrastive_weight=3.0, contrastive_temperature=0.1,
                           **FAST).fit(IMAGES)
    assert same.net_.module_.projection is None
    assert "contrastive_loss" not in same.history_[-1]
    np.testing.assert_array_equal(plain.transform(IMAGES), same.transform(IMAGES))


def test_zero_weight_trains_the_plain_autoencoder():
    plain = ConvAutoEncoder(**FAST).fit(IMAGES)
    zero = ConvAutoEncoder(contrastive=RandomShift(1), contrastive_weight=0.0,
                           **FAST).fit(IMAGES)
    # Same initial weights and batches; only the batch the encoder sees is larger.
    np.testing.assert_allclose(zero.history_[:, "reconstruction_loss"], plain.loss_curve_,
                               rtol=1e-4)
    np.testing.assert_allclose(zero.transform(IMAGES), plain.transform(IMAGES), atol=1e-4)


def test_reproducible_with_random_state():
    params = dict(contrastive=[RandomAffine(), RandomFlip()], **FAST)
    a = ConvAutoEncoder(**params).fit(IMAGES).transform(IMAGES)
    b = ConvAutoEncoder(**params).fit(IMAGES).transform(IMAGES)
    np.testing.assert_array_equal(a, b)


def test_dense_autoencoder_and_a_plain_callable():
    X = IMAGES.reshape(len(IMAGES), -1)

    def jitter(batch, generator):
        noise = torch.randn(batch.shape, generator=generator, device=generator.device)
        return batch + 0.05 * noise.to(batch.device)

    ae = DenseAutoEncoder(latent_dim=3, hidden_layer_sizes=(16,), max_epochs=2,
                          contrastive=jitter, random_state=0).fit(X)
    assert ae.transform(X).shape == (len(X), 3)
    assert len(ae.history_[:, "contrastive_loss"]) == 2


def test_bf16_mixed_precision_runs():
    ae = ConvAutoEncoder(contrastive=RandomFlip(), precision="bf16-mixed", **FAST)
    assert np.isfinite(ae.fit(IMAGES).loss_curve_).all()


def test_persistence_pickle_and_clone(tmp_path):
    ae = ConvAutoEncoder(contrastive=[RandomAffine(scale=(0.9, 1.0)), RandomIntensity()],
                         contrastive_temperature=0.2, **FAST).fit(IMAGES)
    path = tmp_path / "ae.safetensors"
    save(ae, path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.transform(IMAGES), ae.transform(IMAGES))
    assert repr(loaded.contrastive) == repr(ae.contrastive)
    unpickled = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(unpickled.transform(IMAGES), ae.transform(IMAGES))
    assert clone(ae).get_params()["contrastive_temperature"] == 0.2


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(contrastive_weight=-1.0), InvalidParameterError, "contrastive_weight"),
        (dict(contrastive_temperature=0.0), InvalidParameterError, "contrastive_temperature"),
        (dict(contrastive="flip"), InvalidParameterError, "contrastive"),
        (dict(contrastive=[RandomFlip(), 3]), TypeError, "Each step of contrastive"),
        (dict(contrastive=lambda X, g: X[:, :, :-1]), ValueError, "keep the batch's shape"),
    ],
)
def test_bad_contrastive_parameters(params, error, match):
    with pytest.raises(error, match=match):
        ConvAutoEncoder(**{**FAST, **params}).fit(IMAGES)


def test_lbfgs_is_refused():
    X = IMAGES.reshape(len(IMAGES), -1)
    ae = DenseAutoEncoder(latent_dim=2, optimizer="lbfgs", contrastive=RandomIntensity())
    with pytest.raises(ValueError, match="stochastic optimizer"):
        ae.fit(X)


def test_with_corruption_fit_pairs_and_early_stopping():
    from skae.corruption import GaussianNoise

    noisy = IMAGES + 0.1 * np.random.RandomState(0).rand(*IMAGES.shape)
    ae = ConvAutoEncoder(contrastive=RandomFlip(), corruption=GaussianNoise(0.1),
                         early_stopping=True, **FAST)
    ae.fit_pairs(noisy, IMAGES)
    assert len(ae.history_[:, "valid_loss"]) == len(ae.history_[:, "contrastive_loss"])
    assert np.isfinite(ae.loss_curve_).all()


def test_codec_refuses_a_contrastive_autoencoder():
    from skae.compression import AutoEncoderCodec

    codec = AutoEncoderCodec(ConvAutoEncoder(contrastive=RandomFlip(), **FAST))
    with pytest.raises(ValueError, match="contrastive=None"):
        codec.fit(IMAGES)


def test_affine_augmentation_on_signals_says_what_to_use():
    signals = np.random.RandomState(0).rand(40, 32)
    ae = ConvAutoEncoder(image_shape=(32,), contrastive=RandomAffine(), **FAST)
    with pytest.raises(ValueError, match="RandomShift or RandomFlip for signals"):
        ae.fit(signals)


def test_nt_xent_loss_values():
    z = torch.eye(6)
    assert float(nt_xent_loss(z, z, temperature=0.05)) < 1e-6
    # All projections equal: the partner is one of 2n - 1 equally likely rows.
    same = torch.ones(5, 3)
    assert float(nt_xent_loss(same, same)) == pytest.approx(math.log(9), rel=1e-5)
    single = torch.ones(1, 3, requires_grad=True)
    loss = nt_xent_loss(single, single)
    loss.backward()
    assert float(loss.detach()) == 0.0 and single.grad is not None
    with pytest.raises(ValueError, match="same shape"):
        nt_xent_loss(torch.ones(3, 2), torch.ones(4, 2))
