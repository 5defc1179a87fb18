"""skorch callbacks of the autoencoder nets (divergence, Ctrl+C) and the epoch-log sink."""

import math
import re
import sys
import warnings

import torch
from skorch.callbacks import Callback

from .exceptions import TrainingDivergedError, TrainingInterruptedWarning


_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def stdout_is_terminal():
    """Whether standard output is a terminal (not a pipe or a file)."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)())


def to_terminal(*values, **print_kwargs):
    """``print`` for skorch's epoch log: without a terminal (``| tee log``), no colours."""
    if not stdout_is_terminal():
        values = [_ANSI_CODE.sub("", str(value)) for value in values]
    print(*values, **{**print_kwargs, "flush": True})


def discard(*values, **print_kwargs):
    """The epoch log's sink with ``verbose=0``: prints nothing (a module-level function,
    not a lambda, so that a fitted estimator pickles)."""


def check_callback(callback):
    """A skorch callback, or a ``(name, callback)`` pair; anything else is a ValueError."""
    named = isinstance(callback, tuple) and len(callback) == 2 and isinstance(callback[0], str)
    if not isinstance(callback[1] if named else callback, Callback):
        raise ValueError(
            "callbacks must hold skorch callbacks (instances of skorch.callbacks.Callback) "
            f"or (name, callback) pairs; got {callback!r}."
        )
    return callback


def unwrapped(module):
    """The module itself, out of a DistributedDataParallel wrapper (Accelerate)."""
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.module
    return module


_DIVERGENCE_ADVICE = (
    "Lower the learning rate (lr={lr}), scale the data (e.g. StandardScaler, or images in "
    "[0, 1]), or clip gradients with skorch.callbacks.GradientNormClipping."
)


class StopOnNonFiniteLoss(Callback):
    """Abort training with :class:`~skae.exceptions.TrainingDivergedError` when it diverges.

    Divergence is a NaN/inf batch loss, or a training epoch whose mean loss is more than
    ``explosion_factor`` times the first batch's loss or the lowest epoch loss so far:
    Adam at an absurd learning rate keeps finite losses of 1e27 that no model can use.
    For a negative reference (a loss that can be negative), "times" reads as a rise of
    ``(explosion_factor - 1) * |reference|`` above it.
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
        # ``loss > factor * reference`` for a positive reference, written as a rise
        # of ``(factor - 1) * |reference|`` so that it also holds for losses that can be
        # negative (a variational autoencoder's negative log-likelihood).
        rise = (self.explosion_factor - 1) * max(abs(self.reference_loss_), 1e-12)
        if loss - self.reference_loss_ > rise:
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
        unwrapped(net.module_).load_state_dict(self.state_dict_)
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
            k: v.detach().clone() for k, v in unwrapped(net.module_).state_dict().items()
        }

    def __getstate__(self):
        # The snapshot is only needed during fit; do not pickle a second copy of weights.
        state = self.__dict__.copy()
        state.pop("state_dict_", None)
        return state


