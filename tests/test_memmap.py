"""Data larger than memory: uint8 numpy.memmap in, batches streamed, no whole float copy."""

import tracemalloc
import warnings

import numpy as np
import pytest
import torch

from skae import ConvAutoEncoder, DenseAutoEncoder
from skae._data import INFERENCE_BATCH_SIZE

N_SAMPLES, SIDE = 12000, 16  # 12000 > INFERENCE_BATCH_SIZE: several inference batches


@pytest.fixture(scope="module")
def uint8_memmap(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "images.u8"
    rng = np.random.RandomState(0)
    # Smooth random "images": a low-resolution pattern upsampled, so there is structure.
    low = rng.randint(0, 256, size=(N_SAMPLES, SIDE // 4, SIDE // 4))
    images = np.kron(low, np.ones((4, 4), dtype=np.int64)).astype(np.uint8)
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=images.shape)
    mm[:] = images
    mm.flush()
    del mm
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(N_SAMPLES, SIDE, SIDE))


def _peak_numpy_bytes(function):
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def _largest_torch_allocation(function):
    """``(result, bytes)``: the largest single block PyTorch's CPU allocator hands out
    while ``function`` runs (tracemalloc sees numpy's allocations, not torch's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "allocated before the profiling started"
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
        ) as profiler:
            result = function()
    return result, max(event.self_cpu_memory_usage for event in profiler.events())


def test_uint8_memmap_fit_transform_without_whole_copy(uint8_memmap):
    X = uint8_memmap
    assert len(X) > 4 * INFERENCE_BATCH_SIZE
    float_copy_bytes = X.size * 4
    ae = ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=1, batch_size=256,
                         random_state=0, device="cpu")
    ae.fit(X[:300]).transform(X[:10])  # first call imports lazily; not what we measure
    _, fit_peak = _peak_numpy_bytes(lambda: ae.fit(X))
    codes, transform_peak = _peak_numpy_bytes(lambda: ae.transform(X))
    # A whole float32 copy would need float_copy_bytes (12 MB); a few batches need ~2 MB.
    assert fit_peak < float_copy_bytes / 4, (fit_peak, float_copy_bytes)
    assert transform_peak < float_copy_bytes / 4, (transform_peak, float_copy_bytes)
    assert codes.shape == (N_SAMPLES, 2) and codes.dtype == np.float32
    assert np.all(np.isfinite(codes))
    assert ae.sample_shape_ == (SIDE, SIDE)
    # The caller's memmap is untouched and still a uint8 memmap.
    assert isinstance(X, np.memmap) and X.dtype == np.uint8

    # Same numbers as the in-memory float32 version of the same values.
    X_float = np.asarray(X[:1500], dtype=np.float32)
    np.testing.assert_allclose(ae.transform(X[:1500]), ae.transform(X_float), rtol=1e-6)
    rec = ae.reconstruct(X[:10])
    assert rec.shape == (10, SIDE, SIDE) and rec.dtype == np.float32
    errors = ae.reconstruction_error(X)
    assert errors.shape == (N_SAMPLES,) and errors.dtype == np.float64


def test_uint8_memmap_is_not_copied_whole_by_torch(uint8_memmap):
    # tracemalloc (above) sees numpy's allocations only; a float32 copy made by torch
    # (torch.as_tensor(X, dtype=torch.float32), tensor.float()) goes through torch's CPU
    # allocator, which the profiler reports block by block.
    X = uint8_memmap
    float_copy_bytes = X.size * 4
    ae = ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=1, batch_size=1024,
                         random_state=0, device="cpu")
    _, fit_block = _largest_torch_allocation(lambda: ae.fit(X))
    codes, transform_block = _largest_torch_allocation(lambda: ae.transform(X))
    # Measured: the largest block is 1 MiB in both (one float32 batch of 1024 images of
    # 16x16, or activations of that size); a whole float32 copy would be 12 MB.
    assert 0 < fit_block < float_copy_bytes / 4, (fit_block, float_copy_bytes)
    assert 0 < transform_block < float_copy_bytes / 4, (transform_block, float_copy_bytes)
    assert codes.shape == (N_SAMPLES, 2)


def test_uint8_memmap_training_is_reproducible_and_equals_float_input(uint8_memmap):
    X = uint8_memmap[:600]
    params = dict(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, batch_size=64,
                  random_state=0, device="cpu")
    flat = X.reshape(len(X), -1)
    a = DenseAutoEncoder(**params).fit(flat)
    # uint8 input is divided by 255 batch by batch (input_scale="auto"): it trains as the
    # float images in [0, 1] do.
    scaled = (np.asarray(flat, dtype=np.float32) / 255).astype(np.float32)
    b = DenseAutoEncoder(**params).fit(scaled)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(a.transform(flat), b.transform(scaled), rtol=1e-4, atol=1e-4)
    again = DenseAutoEncoder(**params).fit(flat)
    np.testing.assert_array_equal(again.transform(flat), a.transform(flat))


def test_float_memmap_read_only(tmp_path):
    X = np.random.RandomState(0).rand(300, 12).astype(np.float32)
    path = tmp_path / "x.f32"
    X.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=1,
                          random_state=0, device="cpu").fit(mm)
    np.testing.assert_array_equal(ae.transform(mm), ae.transform(X))
