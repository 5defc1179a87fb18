"""The private skorch machinery: batched data access, the reconstruction net, callbacks.

Everything here stays at skorch's extension points: a dataset and an iterator class
(``dataset``/``iterator_train``), ``train_step_single``, ``get_loss`` and
``get_default_callbacks`` on the net, and callbacks. ``fit``, ``fit_loop`` and
``run_single_epoch`` are skorch's own.

The hot path does per batch what a hand-written PyTorch loop does: one fancy-indexing
call on the array, one float32 conversion of that batch only (so a uint8
``numpy.memmap`` stays on disk), one host-to-device copy (from pinned memory on CUDA),
forward, loss, backward, step.
"""

import contextlib
import math
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.hf import AccelerateMixin  # imports no Hugging Face package until used

from ._torch_dataset import DatasetArray, prefetch
from .exceptions import TrainingDivergedError, TrainingInterruptedWarning
from .losses import nt_xent_loss

PRECISIONS = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


# Integer dtypes that travel to the device as they are and become float32 there.
_DEVICE_CAST_DTYPES = (np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64)


def _as_batch_tensor(batch):
    """One batch of an array (any real dtype, possibly a read-only memmap) as a tensor.

    Floats become float32; bools and integers keep their dtype and are converted to
    float32 on the device by :func:`_to_float_on` (a uint8 batch moves 4x fewer bytes to a
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


def _to_float_on(tensor, device, scale=1.0):
    """``tensor`` on ``device`` as float32 (asynchronous copy from pinned memory), divided
    by ``scale`` there (e.g. 255 for uint8 images: the copy moves the uint8 bytes)."""
    if tensor is None:
        return None
    tensor = tensor.to(device, non_blocking=tensor.is_pinned()).float()
    return tensor if scale == 1 else tensor.div_(scale)


def _as_float_tensor(batch):
    """One batch as a float32 tensor on the CPU."""
    return _as_batch_tensor(batch).float()


def _unwrapped(module):
    """The module itself, out of a DistributedDataParallel wrapper (Accelerate)."""
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.module
    return module


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
                _to_float_on(b, device, input_scale if i == 0 else 1.0)
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


_DIVERGENCE_ADVICE = (
    "Lower the learning rate (lr={lr}), scale the data (e.g. StandardScaler, or images in "
    "[0, 1]), or clip gradients with skorch.callbacks.GradientNormClipping."
)


class StopOnNonFiniteLoss(Callback):
    """Abort training with :class:`~skae.exceptions.TrainingDivergedError` when it diverges.

    Divergence is a NaN/inf batch loss, or a training epoch whose mean loss is more than
    ``explosion_factor`` times the first batch's loss or the lowest epoch loss so far:
    Adam at an absurd learning rate keeps finite losses of 1e27 that no model can use.
    """

    def __init__(self, explosion_factor=1e4):
        self.explosion_factor = explosion_factor

    def initialize(self):
        self.reference_loss_ = math.inf  # the first batch's loss, then the best epoch's
        return self

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is None:
            return
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDivergedError(
                f"Training diverged: the {'training' if training else 'validation'} loss "
                f"became {value} in epoch {len(net.history)}. "
                + _DIVERGENCE_ADVICE.format(lr=net.lr)
            )
        if training and self.reference_loss_ == math.inf:
            self.reference_loss_ = value

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is None or not math.isfinite(self.reference_loss_):
            return
        if loss > self.explosion_factor * max(self.reference_loss_, 1e-12):
            raise TrainingDivergedError(
                f"Training diverged: the training loss exploded from "
                f"{self.reference_loss_:.4g} to {loss:.4g} (more than "
                f"{self.explosion_factor:g} times) in epoch {len(net.history)}. "
                + _DIVERGENCE_ADVICE.format(lr=net.lr)
            )
        self.reference_loss_ = min(self.reference_loss_, loss)


class RestoreOnInterrupt(Callback):
    """Keep the weights of the last finished epoch when training is interrupted.

    skorch's ``fit`` catches ``KeyboardInterrupt`` (Ctrl+C) and returns normally, leaving
    the weights of the half-done epoch. This callback copies the module's weights at the
    start of training and after every finished epoch (one ``state_dict`` copy per epoch,
    on the training device); when training ends inside an epoch, it puts those weights
    back, drops the unfinished epoch from the history and warns.
    """

    def on_train_begin(self, net, **kwargs):
        self._snapshot(net)
        self.in_epoch_ = False
        self.interrupted_ = False

    def on_epoch_begin(self, net, **kwargs):
        self.in_epoch_ = True

    def on_epoch_end(self, net, **kwargs):
        self._snapshot(net)
        self.in_epoch_ = False

    def on_train_end(self, net, **kwargs):
        if not getattr(self, "in_epoch_", False):
            return
        _unwrapped(net.module_).load_state_dict(self.state_dict_)
        self.interrupted_ = True
        interrupted = len(net.history)
        if net.history and "train_loss" not in net.history[-1]:
            net.history.pop()
        self.in_epoch_ = False
        warnings.warn(
            f"Training was interrupted in epoch {interrupted}; the model keeps the weights "
            f"of the last finished epoch ({len(net.history)}).",
            TrainingInterruptedWarning,
            stacklevel=2,
        )

    def _snapshot(self, net):
        self.state_dict_ = {
            k: v.detach().clone() for k, v in _unwrapped(net.module_).state_dict().items()
        }

    def __getstate__(self):
        # The snapshot is only needed during fit; do not pickle a second copy of weights.
        state = self.__dict__.copy()
        state.pop("state_dict_", None)
        return state


class AutoEncoderNet(NeuralNet):
    """A skorch ``NeuralNet`` whose target is the clean input.

    Batches are ``(X, target)`` with ``target=None`` meaning "reconstruct ``X``".
    ``corruption``, if given, is a callable ``X -> corrupted X`` applied to training
    inputs only (targets stay clean, validation and inference see data as given).
    ``precision`` is ``"32"`` (float32), ``"bf16-mixed"`` or ``"16-mixed"``: the forward
    pass runs under :func:`torch.autocast` with that dtype, the loss and the weights stay
    float32, and ``"16-mixed"`` scales the loss with :class:`torch.amp.GradScaler`
    (gradients are unscaled before callbacks such as ``GradientNormClipping`` see them).

    ``contrastive``, if given, is a callable ``X -> augmented X``: every training step
    then adds ``contrastive_weight`` times SimCLR's loss (:func:`~skae.losses.nt_xent_loss`
    at ``contrastive_temperature``) between the projected codes of two augmented views of
    the (uncorrupted) input, and records the two parts of the loss per batch as
    ``reconstruction_loss`` and ``contrastive_loss``. The module needs a ``projection``.
    """

    def __init__(self, *args, corruption=None, precision="32", contrastive=None,
                 contrastive_weight=1.0, contrastive_temperature=0.5, input_scale=1.0,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.input_scale = input_scale
        self.corruption = corruption
        self.precision = precision
        self.contrastive = contrastive
        self.contrastive_weight = contrastive_weight
        self.contrastive_temperature = contrastive_temperature

    def get_default_callbacks(self):
        return [
            *super().get_default_callbacks(),
            ("restore_on_interrupt", RestoreOnInterrupt()),
        ]

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if isinstance(iterator, BatchIterator) and iterator.pin_memory is None:
            iterator.pin_memory = self._device_type() == "cuda"
        return iterator

    def _compute_device(self):
        """Where batches go: the net's ``device`` (the Accelerator's in subclasses)."""
        return self.device

    def _device_type(self):
        return torch.device(self._compute_device() or "cpu").type

    # ------------------------------------------------------------------ precision
    def _autocast_dtype(self):
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}."
            )
        return PRECISIONS[self.precision]

    def _autocast(self):
        dtype = self._autocast_dtype()
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self._device_type(), dtype=dtype)

    def _grad_scaler(self):
        """The GradScaler of ``"16-mixed"`` training (None otherwise), made on first use."""
        if self.precision != "16-mixed":
            return None
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is None:
            if any(
                isinstance(getattr(self, name + "_"), torch.optim.LBFGS)
                for name in self._optimizers
            ):
                raise ValueError(
                    "precision='16-mixed' needs gradient scaling, which L-BFGS does not "
                    "support; use precision='bf16-mixed' or '32', or another optimizer."
                )
            scaler = self.grad_scaler_ = torch.amp.GradScaler(self._device_type())
        return scaler

    def initialize(self):
        self.grad_scaler_ = None
        return super().initialize()

    def __getstate__(self):
        # The scaler only matters inside fit (its state lives on the training device);
        # a pickled net gets a fresh one if training resumes (warm_start).
        state = super().__getstate__()
        state["grad_scaler_"] = None
        return state

    # ------------------------------------------------------------------ training step
    def _ensure_training_mode(self):
        """Training mode on, switched only when off: skorch sets it before every batch,
        and a recursive ``Module.train()`` per batch is measurable at GPU speed."""
        if any(
            isinstance(module, torch.nn.Module) and not module.training
            for module in (getattr(self, name + "_") for name in self._modules + self._criteria)
        ):
            self._set_training(True)

    def _prepare_batch(self, batch):
        """A batch ``(X, target or None)`` on the device as float32 in the network's units
        (divided by ``input_scale``): ``(X, target)``, the target being X when None."""
        Xi, yi = batch
        device = self._compute_device()
        clean = _to_float_on(Xi, device, self.input_scale)
        target = clean if yi is None else _to_float_on(yi, device, self.input_scale)
        return clean, target

    def _training_batch(self, batch):
        """Move a batch to the device as float32; corrupt the input, keep the target clean.

        Returns the network's input, the target and the uncorrupted input."""
        clean, target = self._prepare_batch(batch)
        Xi = clean if self.corruption is None else self.corruption(clean)
        return Xi, target, clean

    def validation_step(self, batch, **fit_params):
        # Validation batches get the same conversion and scaling as training ones.
        return super().validation_step(self._prepare_batch(batch), **fit_params)

    def _contrastive_views(self, clean):
        """Two augmented views of every sample, stacked: ``(2n, ...)``."""
        views = [self.contrastive(clean) for _ in range(2)]
        for view in views:
            if view.shape != clean.shape:
                raise ValueError(
                    f"The contrastive augmentation must keep the batch's shape "
                    f"{tuple(clean.shape)}; it returned {tuple(view.shape)}."
                )
        return torch.cat(views)

    def _training_loss(self, batch, forward_context, **fit_params):
        """The loss of a training batch and the reconstruction, the forward pass run
        under ``forward_context`` (autocast)."""
        Xi, target, clean = self._training_batch(batch)
        if self.contrastive is None:
            with forward_context:
                y_pred = self.infer(Xi, **fit_params)
            return self.get_loss(y_pred.float(), target, X=Xi, training=True), y_pred
        views = self._contrastive_views(clean)
        with forward_context:
            y_pred, projected = self.infer(Xi, views=views, **fit_params)
        reconstruction = self.get_loss(y_pred.float(), target, X=Xi, training=True)
        contrastive = nt_xent_loss(*projected.float().chunk(2), self.contrastive_temperature)
        parts = torch.stack([reconstruction.detach(), contrastive.detach()]).tolist()
        self.history.record_batch("reconstruction_loss", parts[0])  # one host sync
        self.history.record_batch("contrastive_loss", parts[1])
        return reconstruction + self.contrastive_weight * contrastive, y_pred

    def train_step_single(self, batch, **fit_params):
        self._ensure_training_mode()
        loss, y_pred = self._training_loss(batch, self._autocast(), **fit_params)
        scaler = self._grad_scaler()
        if scaler is None:
            loss.backward()
        else:
            scaler.scale(loss).backward()
            for name in self._optimizers:
                scaler.unscale_(getattr(self, name + "_"))
        return {"loss": loss, "y_pred": y_pred}

    def _step_optimizer(self, step_fn):
        scaler = self._grad_scaler()
        if scaler is None:
            return super()._step_optimizer(step_fn)
        # GradScaler.step takes no closure (as in skorch's AccelerateMixin): run it once.
        step_fn()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()
        return None

    def infer(self, x, **fit_params):
        # Batches prepared by _prepare_batch are float32 on the device already; a raw
        # integer batch (skorch's own predict/forward) becomes float32 there, unscaled.
        if isinstance(x, torch.Tensor):
            x = _to_float_on(x, self._compute_device())
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target = X if y_true is None else y_true
        return self.criterion_(
            y_pred, _to_float_on(torch.as_tensor(target), self._compute_device())
        )


def _silent(*args, **kwargs):
    """A print_log sink that prints nothing (``verbose=0`` with an accelerator)."""


def make_net(**params):
    """The skorch net for an estimator: :class:`AutoEncoderNet`, or
    :class:`AcceleratedAutoEncoderNet` when ``net_params`` holds an ``accelerator``."""
    if params.get("accelerator") is not None:
        return AcceleratedAutoEncoderNet(**params)
    params.pop("accelerator", None)
    return AutoEncoderNet(**params)


class AcceleratedAutoEncoderNet(AccelerateMixin, AutoEncoderNet):
    """:class:`AutoEncoderNet` trained through Hugging Face Accelerate (skorch's
    :class:`~skorch.hf.AccelerateMixin`): several GPUs or processes (DDP), mixed
    precision and gradient accumulation as configured on the ``Accelerator``.

    Chosen by the estimators when ``net_params={"accelerator": Accelerator(...)}``. The
    Accelerator places modules and batches (the estimator's ``device`` is ignored during
    training, and the net's ``device`` is the Accelerator's after it); each process
    trains on its own shard of every epoch's batches. Use the same ``random_state`` in
    every process, and the Accelerator's ``mixed_precision`` instead of ``precision``.
    """

    def __init__(self, *args, accelerator, **kwargs):
        if not kwargs.get("verbose", 1):  # skorch's 'auto' sink prints even when silent
            kwargs.setdefault("callbacks__print_log__sink", _silent)
        super().__init__(*args, accelerator=accelerator, **kwargs)

    def _compute_device(self):
        return self.accelerator.device

    def initialize(self):
        if self.precision != "32":
            raise ValueError(
                "With an accelerator, set mixed precision on it (Accelerator("
                f"mixed_precision='bf16')), not precision={self.precision!r}."
            )
        if self.accelerator.device_placement:
            self.device = None  # the Accelerator places modules (skorch's requirement)
        return super().initialize()

    def _initialize_accelerator(self):
        # The reconstruction criterion has no parameters: DistributedDataParallel refuses
        # to wrap such a module, and it needs no wrapping. Hide it from the preparation.
        hidden = {}
        for name in self._criteria:
            criterion = getattr(self, name + "_")
            if isinstance(criterion, torch.nn.Module) and not any(
                p.requires_grad for p in criterion.parameters()
            ):
                hidden[name] = criterion
                setattr(self, name + "_", None)
        try:
            return super()._initialize_accelerator()
        finally:
            for name, criterion in hidden.items():
                setattr(self, name + "_", criterion)

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        n = self.accelerator.num_processes
        if training and n > 1 and isinstance(iterator, BatchIterator):
            iterator.shard(self.accelerator.process_index, n)
        return iterator

    def train_step_single(self, batch, **fit_params):
        self._ensure_training_mode()
        loss, y_pred = self._training_loss(batch, self.accelerator.autocast(), **fit_params)
        self.accelerator.backward(loss)
        return {"loss": loss, "y_pred": y_pred}

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        # Inference after fit (transform...) runs where the unwrapped module now lives.
        self.device = str(self.accelerator.device)
