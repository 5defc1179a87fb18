"""The private skorch machinery: batched data access, the reconstruction net, callbacks.

Everything here stays at skorch's extension points: a dataset and an iterator class
(``dataset``/``iterator_train``), ``train_step_single`` and ``get_loss`` on the net, and a
callback. ``fit``, ``fit_loop`` and ``run_single_epoch`` are skorch's own.
"""

import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.utils import to_tensor

from .exceptions import TrainingDivergedError


def _as_float_tensor(batch):
    """One batch of an array (any real dtype, possibly a read-only memmap) as float32."""
    if isinstance(batch, torch.Tensor):
        return batch.float()
    return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))


class ArrayDataset(torch.utils.data.Dataset):
    """Samples of an array, fetched a whole batch at a time.

    ``dataset[indices]`` returns ``(X_batch, target_batch)`` as float32 tensors, with
    ``target_batch`` None when the target is the input itself (a plain autoencoder), so
    the net moves each batch to the device once. Indexing slices the array per batch: no
    float copy of the whole data is made, which keeps uint8 memmaps on disk.

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
        Xb = _as_float_tensor(self.X[indices])
        yb = None if self.target is None else _as_float_tensor(self.target[indices])
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
    **kwargs
        Ignored ``DataLoader`` options (e.g. ``num_workers``) so skorch settings do not fail.
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None, **kwargs):
        if isinstance(dataset, torch.utils.data.Subset):
            self.base, self.indices = dataset.dataset, np.asarray(dataset.indices)
        else:
            self.base, self.indices = dataset, np.arange(len(dataset))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(int(seed))
        else:
            self.generator.seed()

    def __len__(self):
        return math.ceil(len(self.indices) / self.batch_size)

    def __iter__(self):
        indices = self.indices
        if self.shuffle:
            order = torch.randperm(len(indices), generator=self.generator).numpy()
            indices = indices[order]
        for start in range(0, len(indices), self.batch_size):
            # Sorted within the batch: same batch for SGD, sequential reads for memmaps.
            yield self.base[np.sort(indices[start : start + self.batch_size])]


class StopOnNonFiniteLoss(Callback):
    """Abort training with :class:`~skae.exceptions.TrainingDivergedError` on a NaN/inf loss."""

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is not None and not math.isfinite(loss.item()):
            raise TrainingDivergedError(
                f"Training diverged: the {'training' if training else 'validation'} loss "
                f"became {loss.item()} in epoch {len(net.history)}. Lower the learning rate "
                f"(lr={net.lr}), scale the data (e.g. StandardScaler, or images in [0, 1]), "
                "or clip gradients with skorch.callbacks.GradientNormClipping."
            )


class AutoEncoderNet(NeuralNet):
    """A skorch ``NeuralNet`` whose target is the clean input.

    Batches are ``(X, target)`` with ``target=None`` meaning "reconstruct ``X``".
    ``corruption``, if given, is a callable ``X -> corrupted X`` applied to training
    inputs only (targets stay clean, validation and inference see data as given).
    """

    def __init__(self, *args, corruption=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.corruption = corruption

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        Xi = to_tensor(Xi, device=self.device)
        target = Xi if yi is None else to_tensor(yi, device=self.device)
        if self.corruption is not None:
            Xi = self.corruption(Xi)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, target, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target = X if y_true is None else y_true
        return self.criterion_(y_pred, to_tensor(target, device=self.device))
