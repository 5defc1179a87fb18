"""GPU end to end: device="cuda"/"auto", mixed precision, pinned batches, and a model
trained on the GPU saved, then loaded on the CPU. Skipped without CUDA."""

import pickle

import numpy as np
import pytest
import torch

from skae import ConvAutoEncoder, DenseAutoEncoder
from skae.persistence import load, save

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


# GPU convolutions may use TF32 (PyTorch's default for cuDNN): about 1e-3 relative.
GPU_VS_CPU = dict(rtol=5e-3, atol=5e-3)


@pytest.fixture(scope="module")
def images():
    from skae.datasets import load_fashion_mnist_subset

    X, _ = load_fashion_mnist_subset(return_X_y=True)
    return X[:512]


def _conv(**kwargs):
    params = dict(latent_dim=4, channels=(8, 16), max_epochs=3, batch_size=64,
                  random_state=0)
    return ConvAutoEncoder(**{**params, **kwargs})


@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_fit_transform_on_cuda(images, device):
    ae = _conv(device=device).fit(images)
    assert torch.device(ae.net_.device).type == "cuda"
    assert next(ae.net_.module_.parameters()).is_cuda
    codes = ae.transform(images)
    assert isinstance(codes, np.ndarray) and codes.shape == (512, 4)
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]
    # Batches are pinned on the way to the GPU.
    from skae._data import ArrayDataset

    iterator = ae.net_.get_iterator(ArrayDataset(images), training=True)
    assert iterator.pin_memory is True
    assert next(iter(iterator))[0].is_pinned()


def test_cuda_matches_cpu(images):
    cpu = _conv(device="cpu").fit(images)
    gpu = _conv(device="cuda").fit(images)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-2)


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_on_cuda(images, precision):
    if precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        pytest.skip("GPU without bfloat16")
    full = _conv(device="cuda").fit(images)
    mixed = _conv(device="cuda", precision=precision).fit(images)
    assert all(p.dtype == torch.float32 for p in mixed.net_.module_.parameters())
    assert mixed.transform(images).dtype == np.float32
    assert mixed.loss_curve_[-1] < mixed.loss_curve_[0]
    np.testing.assert_allclose(mixed.loss_curve_, full.loss_curve_, rtol=0.05)


def test_uint8_memmap_on_cuda(tmp_path):
    X = (np.random.RandomState(0).rand(3000, 16, 16) * 255).astype(np.uint8)  # 3 batches
    path = tmp_path / "x.u8"
    X.tofile(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r", shape=X.shape)
    ae = _conv(device="cuda", max_epochs=1).fit(mm)
    np.testing.assert_allclose(ae.transform(mm), ae.transform(X.astype(np.float32)),
                               rtol=1e-5, atol=1e-5)


def test_saved_on_gpu_loads_on_cpu(images, tmp_path):
    gpu = _conv(device="cuda").fit(images)
    path = tmp_path / "gpu.safetensors"
    save(gpu, path)
    cpu = load(path, device="cpu")
    assert cpu.device == "cpu" and not next(cpu.net_.module_.parameters()).is_cuda
    np.testing.assert_allclose(cpu.transform(images), gpu.transform(images), **GPU_VS_CPU)
    # Without device=, it goes back to the GPU here.
    again = load(path)
    assert next(again.net_.module_.parameters()).is_cuda
    np.testing.assert_allclose(again.transform(images), gpu.transform(images), rtol=1e-5,
                               atol=1e-6)


def test_pickle_gpu_model(images):
    gpu = DenseAutoEncoder(latent_dim=2, max_epochs=1, device="cuda", random_state=0,
                           precision="16-mixed").fit(images.reshape(len(images), -1))
    clone = pickle.loads(pickle.dumps(gpu))
    X = images.reshape(len(images), -1)
    np.testing.assert_allclose(clone.transform(X), gpu.transform(X), rtol=1e-5, atol=1e-6)


def test_export_from_gpu_model(images, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from skae.export import export_encoder

    gpu = _conv(device="cuda").fit(images)
    path = export_encoder(gpu, tmp_path / "enc.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (codes,) = session.run(None, {"x": images[:, None]})
    np.testing.assert_allclose(codes, gpu.transform(images), **GPU_VS_CPU)


def test_torch_dataset_on_cuda(images):
    """A user's Dataset streams to the GPU (prefetched, pinned) like an array does."""
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(images))
    from_dataset = _conv(device="cuda").fit(dataset)
    from_array = _conv(device="cuda").fit(images)
    np.testing.assert_allclose(from_dataset.loss_curve_, from_array.loss_curve_, rtol=1e-3)
    np.testing.assert_allclose(from_dataset.transform(dataset), from_array.transform(images),
                               **GPU_VS_CPU)


def test_prefetch_on_cuda_matches_no_prefetch(images):
    on = _conv(device="cuda").fit(images)
    off = _conv(device="cuda", net_params={"iterator_train__prefetch": False}).fit(images)
    np.testing.assert_allclose(on.loss_curve_, off.loss_curve_, rtol=1e-4)
