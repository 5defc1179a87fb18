"""Batch augmentations of :mod:`skae.augmentation`."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skae.augmentation import RandomAffine, RandomFlip, RandomIntensity, RandomShift


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_affine_identity_and_mirror():
    X = torch.rand(16, 2, 9, 7)
    identity = RandomAffine(scale=1.0, rotation=0.0, translate=0.0, flip=False)
    torch.testing.assert_close(identity(X, _generator()), X, atol=1e-5, rtol=0)
    mirror_only = RandomAffine(scale=1.0, rotation=0.0, translate=0.0, flip=True)
    out = mirror_only(X, _generator())
    kept = [torch.allclose(o, x, atol=1e-5) for o, x in zip(out, X)]
    mirrored = [torch.allclose(o, x.flip(-1), atol=1e-5) for o, x in zip(out, X)]
    assert all(k or m for k, m in zip(kept, mirrored))
    assert 0 < sum(mirrored) < len(X)


def test_affine_zoom_enlarges_a_centred_square():
    X = torch.zeros(4, 1, 20, 20)
    X[:, :, 8:12, 8:12] = 1.0
    zoomed = RandomAffine(scale=0.5, rotation=0.0, translate=0.0, flip=False)(X, _generator())
    # Half the side is visible, so the 4x4 square covers about 8x8 pixels.
    assert zoomed.sum(dim=(1, 2, 3)).min() > 2 * X.sum(dim=(1, 2, 3)).max()


def test_affine_rotation_keeps_shapes_on_wide_images():
    # A round blob on a 16x48 image must stay round when turned (no shear).
    rows, cols = torch.meshgrid(torch.arange(16.0), torch.arange(48.0), indexing="ij")
    blob = torch.exp(-((rows - 7.5) ** 2 + (cols - 23.5) ** 2) / (2 * 2.5**2))
    X = blob.expand(64, 1, 16, 48).contiguous()
    out = RandomAffine(scale=1.0, rotation=60.0, translate=0.0, flip=False)(X, _generator())
    for image in out[:, 0]:
        w = image / image.sum()
        r, c = (w * rows).sum(), (w * cols).sum()
        cov = torch.stack([
            torch.stack([(w * (rows - r) ** 2).sum(), (w * (rows - r) * (cols - c)).sum()]),
            torch.stack([(w * (rows - r) * (cols - c)).sum(), (w * (cols - c) ** 2).sum()]),
        ])
        low, high = torch.linalg.eigvalsh(cov)
        assert high / low < 1.15


def test_shift_refuses_table_rows():
    with pytest.raises(ValueError, match="rows of a table"):
        RandomShift(1)(torch.rand(4, 6), _generator())


def test_affine_draws_depend_on_the_generator():
    X = torch.rand(8, 1, 12, 12)
    augment = RandomAffine()
    torch.testing.assert_close(augment(X, _generator(1)), augment(X, _generator(1)))
    assert not torch.allclose(augment(X, _generator(1)), augment(X, _generator(2)))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RandomAffine(scale=0.0), "scale must be positive"),
        (lambda: RandomAffine(scale=(1.0, 0.5)), "min <= max"),
        (lambda: RandomAffine(rotation=-5), "rotation"),
        (lambda: RandomAffine(translate=2.0), "translate"),
        (lambda: RandomIntensity((2.0, 1.0)), "min <= max"),
        (lambda: RandomShift(-1), "max_shift"),
        (lambda: RandomShift(True), "max_shift"),
        (lambda: RandomFlip(1.5), "probability"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_affine_flip_must_be_bool():
    with pytest.raises(TypeError, match="flip must be a bool"):
        RandomAffine(flip=1)


def test_affine_needs_images():
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        RandomAffine()(torch.rand(3, 1, 10), _generator())


def test_intensity_scales_each_sample_by_one_factor():
    X = torch.rand(50, 1, 4, 4) + 0.1
    out = RandomIntensity((0.5, 2.0))(X, _generator())
    factors = (out / X).flatten(1)
    torch.testing.assert_close(factors.min(1).values, factors.max(1).values)
    assert factors.min() >= 0.5 - 1e-6 and factors.max() <= 2.0 + 1e-6


AUGMENTATIONS = [RandomShift(2), RandomFlip(), RandomIntensity(), RandomAffine()]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 5),
    channels=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 12), min_size=1, max_size=2),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    which=st.integers(0, len(AUGMENTATIONS) - 1),
)
def test_shape_dtype_kept_and_input_untouched(n, channels, spatial, dtype, which):
    augment = AUGMENTATIONS[which]
    if isinstance(augment, RandomAffine) and len(spatial) != 2:
        return
    X = torch.rand(n, channels, *spatial, dtype=dtype)
    before = X.clone()
    out = augment(X, _generator())
    assert out.shape == X.shape and out.dtype == X.dtype
    assert torch.equal(X, before)
    assert torch.isfinite(out).all()


def test_semi_supervised_names_still_work():
    from skae import semi_supervised

    assert semi_supervised.RandomShift is RandomShift
    assert semi_supervised.RandomFlip is RandomFlip
