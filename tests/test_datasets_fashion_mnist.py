"""Offline Fashion-MNIST loaders: the bundled subset and the local-files loader."""

import gzip

import numpy as np
import pytest

from skae.datasets import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    load_fashion_mnist_subset,
)


def test_bundled_subset_is_balanced_real_images():
    data = load_fashion_mnist_subset()
    assert data.images.shape == (2000, 28, 28) and data.images.dtype == np.float32
    assert 0 <= data.images.min() and data.images.max() <= 1
    np.testing.assert_array_equal(np.bincount(data.target), [200] * 10)
    assert data.target_names == list(FASHION_MNIST_CLASSES)
    raw, _ = load_fashion_mnist_subset(scale=False, return_X_y=True)
    assert raw.dtype == np.uint8 and raw.max() > 200


def _write_idx(folder, name, array, header_size, compress):
    payload = b"\0" * header_size + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(folder / (name + ".gz"), "wb") as fh:
            fh.write(payload)
    else:
        (folder / name).write_bytes(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_load_fashion_mnist_from_a_folder(tmp_path, compress):
    images, target = load_fashion_mnist_subset(scale=False, return_X_y=True)
    _write_idx(tmp_path, "t10k-images-idx3-ubyte", images[:30], 16, compress)
    _write_idx(tmp_path, "t10k-labels-idx1-ubyte", target[:30], 8, compress)
    X, y = load_fashion_mnist("test", data_home=tmp_path, return_X_y=True)
    np.testing.assert_allclose(X, images[:30] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, target[:30])


def test_environment_variable_is_used(tmp_path, monkeypatch):
    images, target = load_fashion_mnist_subset(scale=False, return_X_y=True)
    _write_idx(tmp_path, "t10k-images-idx3-ubyte", images[:5], 16, True)
    _write_idx(tmp_path, "t10k-labels-idx1-ubyte", target[:5], 8, True)
    monkeypatch.setenv("SKAE_FASHION_MNIST", str(tmp_path))
    assert load_fashion_mnist("test", scale=False).images.shape == (5, 28, 28)


def test_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SKAE_FASHION_MNIST", str(tmp_path))
    monkeypatch.setattr("skae.datasets._fashion_mnist._DEBIAN_DIR", str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", data_home=tmp_path / "empty")
    with pytest.raises(ValueError, match="subset must be"):
        load_fashion_mnist("validation")
