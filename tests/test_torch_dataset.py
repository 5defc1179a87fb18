"""fit / transform on a user's torch.utils.data.Dataset, read one batch at a time."""

import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skae import ConvAutoEncoder, DenseAutoEncoder
from skae._data import INFERENCE_BATCH_SIZE
from skae._data import prefetch

TINY_CONV = dict(latent_dim=3, channels=(4, 8), max_epochs=2, batch_size=64, random_state=0,
                 device="cpu")
TINY_DENSE = dict(latent_dim=3, hidden_layer_sizes=(16,), max_epochs=2, batch_size=64,
                  random_state=0, device="cpu")


class ImageDataset(torch.utils.data.Dataset):
    """Like a torchvision dataset: ``(image tensor (1, H, W), label)`` per item.

    Records the largest number of samples asked for at once, and the items read.
    """

    def __init__(self, images, as_tuple=True, channel_first=True):
        self.images = images
        self.as_tuple = as_tuple
        self.channel_first = channel_first
        self.largest_request = 0
        self.n_reads = 0

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        self.n_reads += 1
        self.largest_request = max(self.largest_request, 1)
        image = torch.from_numpy(np.asarray(self.images[index]))
        if self.channel_first:
            image = image.unsqueeze(0)
        return (image, 7) if self.as_tuple else image


class BatchedDataset(ImageDataset):
    """A dataset with PyTorch's batched ``__getitems__``: it must be used."""

    def __getitems__(self, indices):
        self.largest_request = max(self.largest_request, len(indices))
        self.n_reads += len(indices)
        return list(torch.from_numpy(np.asarray(self.images[indices])))


@pytest.fixture(scope="module")
def images(fashion_subset):
    X, _ = fashion_subset
    return np.ascontiguousarray(X[:400])


def test_conv_fit_on_dataset_equals_fit_on_array(images):
    dataset = ImageDataset(images)
    from_dataset = ConvAutoEncoder(**TINY_CONV).fit(dataset)
    from_array = ConvAutoEncoder(**TINY_CONV).fit(images[:, None])
    assert from_dataset.loss_curve_ == from_array.loss_curve_
    assert from_dataset.sample_shape_ == (1, 28, 28)
    np.testing.assert_array_equal(from_dataset.transform(dataset),
                                  from_array.transform(images[:, None]))
    # A fitted model takes arrays and datasets alike.
    np.testing.assert_array_equal(from_dataset.transform(images[:, None]),
                                  from_array.transform(dataset))
    np.testing.assert_array_equal(from_dataset.reconstruct(dataset),
                                  from_array.reconstruct(images[:, None]))
    assert from_dataset.score(dataset) == from_array.score(images[:, None])
    assert from_dataset.reconstruction_error(dataset).shape == (len(images),)


def test_dense_fit_on_dataset_of_vectors(images):
    flat = images.reshape(len(images), -1).astype(np.float64)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(flat))
    ae = DenseAutoEncoder(**TINY_DENSE).fit(dataset)
    codes = ae.transform(dataset)
    assert codes.dtype == np.float64 and codes.shape == (len(flat), 3)
    np.testing.assert_array_equal(codes, DenseAutoEncoder(**TINY_DENSE).fit(flat).transform(flat))
    assert ae.n_features_in_ == flat.shape[1]


def test_dataset_is_read_in_batches_only(images):
    big = np.concatenate([images] * 6)  # 2,400 > INFERENCE_BATCH_SIZE samples
    dataset = BatchedDataset(big, channel_first=False)
    ae = ConvAutoEncoder(**TINY_CONV).fit(dataset)
    # Training batches of batch_size; the one pass for the value range, 1,024 at a time.
    assert 0 < dataset.largest_request <= max(ae.batch_size, INFERENCE_BATCH_SIZE)
    # Validation pass (value range) + 2 epochs: each sample read a bounded number of times.
    assert dataset.n_reads <= (1 + TINY_CONV["max_epochs"] + 1) * len(big)
    dataset.largest_request = 0
    codes = ae.transform(dataset)
    assert 0 < dataset.largest_request <= INFERENCE_BATCH_SIZE
    np.testing.assert_array_equal(codes, ae.transform(big))


def test_uint8_dataset_and_early_stopping(images):
    uint8 = (images * 255).round().astype(np.uint8)
    ae = ConvAutoEncoder(**{**TINY_CONV, "early_stopping": True, "max_epochs": 3})
    ae.fit(ImageDataset(uint8))
    assert "valid_loss" in ae.history_[-1]
    assert ae.transform(ImageDataset(uint8)).dtype == np.float32


def test_dataset_is_not_modified(images):
    dataset = ImageDataset(images.copy())
    ConvAutoEncoder(**TINY_CONV, corruption=None).fit(dataset)
    np.testing.assert_array_equal(dataset.images, images)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda X: np.where(np.arange(len(X))[:, None, None] == 5, np.nan, X), "NaN"),
        (lambda X: np.where(np.arange(len(X))[:, None, None] == 9, np.inf, X), "infinity"),
        (lambda X: X[:, :20], "shape"),
    ],
)
def test_bad_samples_at_transform_are_clear_errors(images, bad, message):
    ae = ConvAutoEncoder(**TINY_CONV).fit(ImageDataset(images))
    with pytest.raises(ValueError, match=message):
        ae.transform(ImageDataset(bad(images).astype(np.float32)))


def test_nan_in_training_dataset_is_caught_before_training(images):
    X = images.copy()
    X[300, 4, 4] = np.nan
    with pytest.raises(ValueError, match="samples 0..399.*NaN"):
        ConvAutoEncoder(**TINY_CONV).fit(ImageDataset(X))


class Ragged(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return np.zeros((28, 28 + (i == 2)), dtype=np.float32)


class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield from np.zeros((3, 28, 28), dtype=np.float32)


class NoLength(torch.utils.data.Dataset):
    def __getitem__(self, i):
        return np.zeros((28, 28), dtype=np.float32)


class Strings(Ragged):
    def __getitem__(self, i):
        return {"image": i}


@pytest.mark.parametrize(
    "dataset, error, message",
    [
        (Ragged(), ValueError, "differ in shape"),
        (Stream(), TypeError, "IterableDataset"),
        (NoLength(), TypeError, "__len__"),
        (Strings(), ValueError, "not an array"),
        (torch.utils.data.TensorDataset(torch.zeros(1, 28, 28)), ValueError, "minimum of 2"),
        (torch.utils.data.TensorDataset(torch.zeros(0, 28, 28)), ValueError, "minimum of 2"),
    ],
)
def test_bad_datasets_at_fit(dataset, error, message):
    with pytest.raises(error, match=message):
        ConvAutoEncoder(**TINY_CONV).fit(dataset)


def test_transform_before_fit_on_dataset(images):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ConvAutoEncoder(**TINY_CONV).transform(ImageDataset(images))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 40), side=st.sampled_from([4, 8, 9]),
       dtype=st.sampled_from([np.uint8, np.float32, np.float64, np.int16]))
def test_fitted_model_on_random_datasets(n, side, dtype):
    rng = np.random.RandomState(n)
    ae = DenseAutoEncoder(**{**TINY_DENSE, "max_epochs": 1}).fit(rng.rand(20, 16))
    data = (rng.rand(n, side * side) * 3).astype(dtype)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(data))
    if side * side != 16:
        with pytest.raises(ValueError, match="features"):
            ae.transform(dataset)
        return
    codes = ae.transform(dataset)
    assert codes.shape == (n, 3) and np.all(np.isfinite(codes))


# ---------------------------------------------------------------------- prefetch
def test_prefetch_keeps_order_and_raises_worker_errors():
    assert list(prefetch(iter(range(50)))) == list(range(50))

    def failing():
        yield 1
        raise KeyError("boom")

    it = prefetch(failing())
    assert next(it) == 1
    with pytest.raises(KeyError, match="boom"):
        next(it)


def test_prefetch_thread_stops_when_consumer_stops():
    before = threading.active_count()
    it = prefetch(iter(range(10**6)))
    assert next(it) == 0
    it.close()
    assert threading.active_count() == before


def test_prefetch_is_chosen_by_batch_size_and_source(images):
    from skae._data import ArrayDataset, BatchIterator
    from skae._data import DatasetArray

    small = BatchIterator(ArrayDataset(images), batch_size=64)
    assert not small._prefetch_pays_off(pin=True)  # 64 x 28 x 28 float32: 200 KB
    big = BatchIterator(ArrayDataset(np.zeros((10, 128, 128), np.uint8)), batch_size=256)
    assert big._prefetch_pays_off(pin=True)  # 4 MiB pinned batches
    assert not big._prefetch_pays_off(pin=False)  # CPU training: no thread
    view = DatasetArray(ImageDataset(images), lambda b: b, len(images), (1, 28, 28),
                        np.float32)
    assert BatchIterator(ArrayDataset(view), batch_size=8)._prefetch_pays_off(pin=False)
    # Forced on: same batches, same order.
    on = BatchIterator(ArrayDataset(images), 64, shuffle=True, seed=3, prefetch=True)
    off = BatchIterator(ArrayDataset(images), 64, shuffle=True, seed=3, prefetch=False)
    for (a, _), (b, _) in zip(on, off, strict=True):
        assert torch.equal(a, b)
