"""A user's ``torch.utils.data.Dataset`` as input, read one batch at a time.

The estimators accept a map-style dataset wherever they accept an array for ``fit``,
``transform``, ``reconstruct``, ``reconstruction_error`` and ``score``. It is never read
whole: :class:`DatasetArray` looks like a read-only array of the network's layout, and
each indexing call fetches only the samples asked for (through the dataset's batched
``__getitems__`` when it has one, as PyTorch's ``DataLoader`` does), stacks them and
validates that batch with the estimator's own checks (dtype, shape, NaN/inf).
"""

import queue
import threading

import numpy as np
import torch


def is_map_dataset(X):
    """True for a ``torch.utils.data.Dataset`` (not a tensor or an array)."""
    return isinstance(X, torch.utils.data.Dataset)


def _tensor_to_numpy(tensor):
    if tensor.dtype in (torch.bfloat16, torch.float16):  # float16 numpy exists but
        tensor = tensor.float()  # check_array would refuse it; bfloat16 has no numpy twin
    return tensor.numpy()


def _sample(item, index):
    """The sample in a dataset item: the item itself, or the first element of a tuple
    such as ``(image, label)`` (labels are ignored: an autoencoder needs none)."""
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError(f"Dataset item {index} is an empty {type(item).__name__}.")
        return item[0]
    return item


def _sample_array(sample, index):
    """One sample (tensor, array, PIL image...) as an array."""
    if isinstance(sample, torch.Tensor):
        return _tensor_to_numpy(sample.detach().cpu())
    array = np.asarray(sample)
    if array.dtype == object:
        raise ValueError(
            f"Dataset item {index} of type {type(sample).__name__} is not an array, a "
            "tensor or a tuple whose first element is one."
        )
    return array


def fetch_samples(dataset, indices):
    """Stack the samples ``indices`` of ``dataset`` into one array ``(len(indices), ...)``."""
    indices = [int(i) for i in indices]
    getitems = getattr(dataset, "__getitems__", None)
    items = getitems(indices) if getitems is not None else [dataset[i] for i in indices]
    samples = [_sample(item, i) for item, i in zip(items, indices)]
    if all(isinstance(x, torch.Tensor) for x in samples) and len({x.shape for x in samples}) == 1:
        # The common case, stacked in one call.
        return _tensor_to_numpy(torch.stack([x.detach().cpu() for x in samples]))
    samples = [_sample_array(x, i) for x, i in zip(samples, indices)]
    shape = samples[0].shape
    for sample, i in zip(samples, indices):
        if sample.shape != shape:
            raise ValueError(
                f"Dataset items differ in shape: item {indices[0]} has shape {shape}, item "
                f"{i} has shape {sample.shape}. Every sample must have the same shape."
            )
    return np.stack(samples)


def dataset_length(dataset):
    if isinstance(dataset, torch.utils.data.IterableDataset):
        raise TypeError(
            "An IterableDataset cannot be read by index; pass a map-style "
            "torch.utils.data.Dataset (with __len__ and __getitem__), an array or a "
            "numpy.memmap."
        )
    try:
        return len(dataset)
    except TypeError as exc:
        raise TypeError(
            f"The dataset {type(dataset).__name__} has no __len__; skae needs the number "
            "of samples of a map-style torch.utils.data.Dataset."
        ) from exc


class DatasetArray:
    """A map-style dataset seen as a read-only array of validated network-layout batches.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
    to_network : callable
        ``to_network(raw_batch) -> batch``: the estimator's validation of one stacked
        batch (checks dtype, shape and values; returns it in the network's layout).
    n_samples : int
    sample_shape : tuple of int
        Network layout of one sample.
    dtype : numpy dtype
        dtype of a validated batch.
    """

    def __init__(self, dataset, to_network, n_samples, sample_shape, dtype):
        self.dataset = dataset
        self.to_network = to_network
        self.shape = (int(n_samples), *sample_shape)
        self.dtype = np.dtype(dtype)
        self._range = None

    @property
    def ndim(self):
        return len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, slice):
            indices = range(*key.indices(len(self)))
        else:
            indices = np.atleast_1d(np.asarray(key))
        if len(indices) == 0:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        raw = fetch_samples(self.dataset, indices)
        try:
            batch = self.to_network(raw)
        except ValueError as exc:
            raise ValueError(
                f"In the dataset's samples {indices[0]}..{indices[-1]}: {exc}"
            ) from exc
        return batch.astype(self.dtype, copy=False)

    def value_range(self, batch_size=1024):
        """``(min, max)`` over all samples, read once in batches (cached)."""
        if self._range is None:
            low, high = np.inf, -np.inf
            for start in range(0, len(self), batch_size):
                batch = self[start : start + batch_size]
                low, high = min(low, float(batch.min())), max(high, float(batch.max()))
            self._range = (low, high)
        return self._range

    def __repr__(self):
        return f"DatasetArray({type(self.dataset).__name__}, shape={self.shape})"


def value_range(X):
    """``(min, max)`` of an array or a :class:`DatasetArray` (streamed)."""
    if isinstance(X, DatasetArray):
        return X.value_range()
    return float(X.min()), float(X.max())


_DONE = object()


class _Failure:
    def __init__(self, exc):
        self.exc = exc


def prefetch(iterable, depth=2):
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead.

    Batch preparation (indexing, reading a memmap or a dataset, pinning memory) then
    overlaps the computation of the previous batch; exceptions reach the consumer, and
    the thread stops when the consumer stops early.
    """
    items = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in iterable:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failure(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=work, name="skae-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()
