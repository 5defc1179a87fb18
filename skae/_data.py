"""Data on its way to the network: arrays and torch datasets read one batch at a time.

A user's map-style ``torch.utils.data.Dataset`` is accepted wherever an array is:
:class:`DatasetArray` looks like a read-only array of the network's layout and fetches
only the samples asked for (through the dataset's batched ``__getitems__`` when it has
one, as PyTorch's ``DataLoader`` does), validating each batch with the estimator's own
checks. :class:`ArrayDataset` and :class:`BatchIterator` feed skorch one fancy-indexed
batch at a time (a uint8 ``numpy.memmap`` stays on disk), :func:`prefetch` prepares
batches in a background thread, and :func:`map_batches` is the inference loop.
"""

import math
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


# Integer dtypes that travel to the device as they are and become float32 there.
_DEVICE_CAST_DTYPES = (np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64)


def _as_batch_tensor(batch):
    """One batch of an array (any real dtype, possibly a read-only memmap) as a tensor.

    Floats become float32; bools and integers keep their dtype and are converted to
    float32 on the device by :func:`to_float_on` (a uint8 batch moves 4x fewer bytes to a
    GPU). A C-contiguous, writeable batch of the right dtype is shared with numpy without
    a copy; any other is copied, one batch at a time.
    """
    if isinstance(batch, torch.Tensor):
        return batch
    batch = np.asarray(batch)
    dtype = batch.dtype if batch.dtype.type in _DEVICE_CAST_DTYPES else np.float32
    if batch.dtype != dtype or not batch.flags.c_contiguous or not batch.flags.writeable:
        batch = np.array(batch, dtype=dtype, order="C")
    return torch.from_numpy(batch)


def to_float_on(tensor, device, scale=1.0):
    """``tensor`` on ``device`` as float32 (asynchronous copy from pinned memory), divided
    by ``scale`` there (e.g. 255 for uint8 images: the copy moves the uint8 bytes)."""
    if tensor is None:
        return None
    tensor = tensor.to(device, non_blocking=tensor.is_pinned()).float()
    return tensor if scale == 1 else tensor.div_(scale)


def as_float_tensor(batch):
    """One batch as a float32 tensor on the CPU."""
    return _as_batch_tensor(batch).float()


# Pinned training batches at least this large are prepared in a background thread.
PREFETCH_MIN_BATCH_BYTES = 2**20

# Rows per inference batch: bounds the memory of transform/score whatever n_samples is.
INFERENCE_BATCH_SIZE = 1024


def _wants_prefetch(device, arrays):
    """Prepare batches in a background thread on CUDA (the GPU waits for no host work)
    and for datasets (Python-level sample fetching overlaps the computation)."""
    return torch.device(device or "cpu").type == "cuda" or any(
        isinstance(a, DatasetArray) for a in arrays
    )


def map_batches(module, device, function, *arrays, dtype=np.float32, input_scale=1.0):
    """Apply ``function(module, *batches)`` to aligned batches, in eval mode, no gradients.

    The module is switched to eval mode if it is not there already and left there. The
    batches of the first array are divided by ``input_scale`` on the device.

    Only one batch of each array is read, made float32 and moved to ``device`` at a time
    (uint8 memmaps stay on disk, datasets are fetched per batch); results fill one
    preallocated array of ``dtype``.
    """
    if module.training:
        # Left in eval mode: a fitted module is put there once after fit, so inference
        # mutates nothing and concurrent calls are safe; training sets train mode itself.
        module.eval()
    n_samples = len(arrays[0])
    starts = range(0, n_samples, INFERENCE_BATCH_SIZE)
    batches = (
        (start, [_as_batch_tensor(a[start : start + INFERENCE_BATCH_SIZE]) for a in arrays])
        for start in starts
    )
    if _wants_prefetch(device, arrays):
        batches = prefetch(batches)
    out = None
    with torch.inference_mode():
        for start, batch in batches:
            batch = [
                to_float_on(b, device, input_scale if i == 0 else 1.0)
                for i, b in enumerate(batch)
            ]
            result = function(module, *batch).cpu().numpy()
            if out is None:
                out = np.empty((n_samples, *result.shape[1:]), dtype=dtype)
            out[start : start + len(result)] = result
    return out


class ArrayDataset(torch.utils.data.Dataset):
    """Samples of an array, fetched a whole batch at a time.

    ``dataset[indices]`` returns ``(X_batch, target_batch)`` as tensors (float32, or the
    integer dtype of integer data, made float32 on the device), with ``target_batch``
    None when the target is the input itself (a plain autoencoder), so the net moves each
    batch to the device once. Indexing slices the array per batch: no float copy of the
    whole data is made, which keeps uint8 memmaps on disk.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, ...)
    target : ndarray or torch.Tensor of the same shape, default=None
        Training targets, e.g. clean images for noisy inputs; None means ``X``.
    """

    def __init__(self, X, target=None):
        if target is not None and len(target) != len(X):
            raise ValueError(f"X has {len(X)} samples but target has {len(target)}.")
        self.X = X
        self.target = target

    def __len__(self):
        return len(self.X)

    def __getitem__(self, indices):
        Xb = _as_batch_tensor(self.X[indices])
        yb = None if self.target is None else _as_batch_tensor(self.target[indices])
        return Xb, yb


class BatchIterator:
    """A skorch ``iterator_train``/``iterator_valid`` that yields whole batches.

    Replaces the default ``DataLoader``, which fetches one sample at a time and collates:
    here one fancy-indexing call per batch does the work of a hand-written loop.
    Accepts an :class:`ArrayDataset` or a ``torch.utils.data.Subset`` of one (as made by
    skorch's ``ValidSplit``).

    Parameters
    ----------
    dataset : ArrayDataset or Subset of it
    batch_size : int
    shuffle : bool, default=False
    seed : int, default=None
        Seed of the shuffling generator; the order differs per epoch but is reproducible.
    pin_memory : bool, default=None
        Put each batch in page-locked memory so the copy to a CUDA device runs
        asynchronously. None lets :class:`AutoEncoderNet` decide (True on CUDA).
    prefetch : bool, default=None
        Prepare the next batches (indexing, reading, pinning) in a background thread
        while the current one trains. None: on for a user's dataset, and on CUDA for
        batches of at least 1 MiB (smaller ones cost more to hand over than to make).
    **kwargs
        Ignored ``DataLoader`` options (e.g. ``num_workers``) so skorch settings do not fail.
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None, pin_memory=None,
                 prefetch=None, **kwargs):
        if isinstance(dataset, torch.utils.data.Subset):
            self.base, self.indices = dataset.dataset, np.asarray(dataset.indices)
        else:
            self.base, self.indices = dataset, np.arange(len(dataset))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.pin_memory = pin_memory
        self.prefetch = prefetch
        self.num_shards, self.shard_index = 1, 0
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(int(seed))
        else:
            self.generator.seed()

    def shard(self, index, num_shards):
        """Yield only batches ``index, index + num_shards, ...`` (one process's share).

        Every shard gets the same number of batches (the last ``n_batches % num_shards``
        are dropped), as distributed data parallel training needs. Processes must use the
        same ``seed`` so that they split the same permutation.
        """
        self.shard_index, self.num_shards = int(index), int(num_shards)
        return self

    def _n_batches(self):
        return math.ceil(len(self.indices) / self.batch_size)

    def __len__(self):
        return self._n_batches() // self.num_shards

    def __iter__(self):
        indices = self.indices
        if self.shuffle:
            order = torch.randperm(len(indices), generator=self.generator).numpy()
            indices = indices[order]
        pin = bool(self.pin_memory) and torch.cuda.is_available()
        starts = range(0, len(indices), self.batch_size)
        if self.num_shards > 1:
            starts = starts[self.shard_index :: self.num_shards][: len(self)]
        batches = self._batches(indices, starts, pin)
        use_prefetch = self.prefetch
        if use_prefetch is None:
            use_prefetch = self._prefetch_pays_off(pin)
        return prefetch(batches) if use_prefetch else batches

    def _prefetch_pays_off(self, pin):
        """Whether the background thread is on by default (``prefetch=None``).

        ``benchmarks/bench_gpu_throughput.py --image-size 128 --n 20000 --epochs 2``, one
        run on an H200: with pinned 4 MiB batches (256 uint8 images of 128x128) fit ran
        at 44,363 samples/s with the thread and 40,051 without (the plain PyTorch loop:
        40,881 and 39,739, first and last), about a tenth faster. On 200 KiB batches
        (28x28) an earlier run found the hand-off slower than no thread; that comparison
        was not kept and must be re-run to quote. A dataset's Python-level fetching is
        always prefetched (in the same runs, fit from a ``Dataset`` ran at 0.97 of the
        plain loop's speed at 128x128 and at 0.60 with ``--image-size 28 --n 60000``)."""
        X = getattr(self.base, "X", None)
        if isinstance(X, DatasetArray):
            return True
        if not pin or X is None or not hasattr(X, "dtype"):
            return False
        batch_bytes = self.batch_size * math.prod(X.shape[1:]) * X.dtype.itemsize
        return batch_bytes >= PREFETCH_MIN_BATCH_BYTES

    def _batches(self, indices, starts, pin):
        for start in starts:
            # Sorted within the batch: same batch for SGD, sequential reads for memmaps.
            batch = self.base[np.sort(indices[start : start + self.batch_size])]
            if pin:
                batch = tuple(None if b is None else b.pin_memory() for b in batch)
            yield batch


