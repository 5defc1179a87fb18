"""How an autoencoder is trained: the resolved plan (batch size, epochs, early stopping),
its callbacks, the skorch net's parameters, and why training stopped.

:class:`TrainingPlanMixin` is part of :class:`~skae.BaseAutoEncoder`; the rules behind
``"auto"`` are in :mod:`skae._runtime` and in the ``max_epochs`` parameter text.
"""

import copy
import math

import numpy as np
import torch
from skorch.callbacks import EarlyStopping, LRScheduler, PassthroughScoring, ProgressBar
from skorch.dataset import ValidSplit

from ._callbacks import (
    StopOnNonFiniteLoss,
    check_callback,
    discard,
    stdout_is_terminal,
    to_terminal,
)
from ._net import make_net, skorch_params
from ._runtime import (
    AUTO_FINAL_LR_FRACTION,
    AUTO_LBFGS_EPOCHS,
    AUTO_MIN_VALIDATION_SAMPLES,
    auto_batch_size,
    auto_max_epochs,
    fused_adam_on,
)
from .losses import ReconstructionCriterion, get_loss_function


class SignedEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` whose relative threshold is ``threshold * |score|``.

    skorch scales the threshold by the score itself, so a negative loss (the negative
    log-likelihood of continuous data, which a variational autoencoder minimises) would
    count a slightly *worse* epoch as an improvement. For a positive loss both agree.
    The fix is skorch's own open pull request #1065 ("fixed
    EarlyStopping._calc_new_threshold to account for negative scores"); this subclass
    overrides that one method until a skorch release has it.
    """

    def _calc_new_threshold(self, score):
        if self.threshold_mode != "rel":
            return super()._calc_new_threshold(score)
        change = self.threshold * abs(score)
        return score - change if self.lower_is_better else score + change


class TrainingPlanMixin:
    """The training plan of an autoencoder estimator (its ``*_`` plan attributes, its
    callbacks and its skorch net), from the estimator's parameters."""

    #: Whether the net trains a variational module (its loss is the negative ELBO).
    _VARIATIONAL = False
    #: Per-batch parts of the loss that the net records, averaged per epoch in history.
    _LOSS_PARTS = ()

    def _criterion(self):
        """The skorch criterion: the batch mean of the reconstruction loss."""
        return ReconstructionCriterion(get_loss_function(self._reconstruction_loss()))

    def _default_optimizer_params(self):
        # PyTorch's fused Adam/AdamW (one kernel per step for all parameters) makes a
        # small network's training faster on CPU (measured once, side by side, outside
        # benchmarks/; no script prints it); PyTorch < 2.4 has no fused CPU kernel.
        # optimizer_params={"fused": False} turns it off.
        if self.optimizer in ("adam", "adamw") and fused_adam_on(self.device):
            return {"fused": True}
        return {}

    def _n_validation(self, n_samples):
        if not self.early_stopping_:
            return 0
        return int(np.ceil(n_samples * self.validation_fraction))

    def _resolve_training_plan(self, n_samples):
        """Set ``early_stopping_``, ``batch_size_`` and ``max_epochs_`` ("auto" resolved
        for ``n_samples``)."""
        lbfgs = self.optimizer == "lbfgs"
        if self.early_stopping == "auto":
            n_valid = math.ceil(n_samples * self.validation_fraction)
            self.early_stopping_ = bool(
                self._auto_budget() and AUTO_MIN_VALIDATION_SAMPLES <= n_valid < n_samples
            )
        else:
            self.early_stopping_ = bool(self.early_stopping)
        n_train = n_samples - self._n_validation(n_samples)
        if self.batch_size == "auto":
            self.batch_size_ = -1 if lbfgs else auto_batch_size(n_train, self._AUTO_BATCH_SIZE)
        else:
            self.batch_size_ = int(self.batch_size)
        if self.max_epochs == "auto":
            self.max_epochs_ = AUTO_LBFGS_EPOCHS if lbfgs else auto_max_epochs(n_train)
        else:
            self.max_epochs_ = int(self.max_epochs)

    def _auto_budget(self):
        """True when ``max_epochs="auto"`` brings its schedule and plateau stop."""
        return self.max_epochs == "auto" and self.optimizer != "lbfgs"

    def _plateau_patience(self):
        return max(self.n_iter_no_change, math.ceil(self.max_epochs_ / 10))

    def _make_callbacks(self):
        callbacks = [("stop_on_non_finite_loss", StopOnNonFiniteLoss())]
        # The parts of the loss are averaged per epoch before the stoppers run: a
        # stopper ends the epoch (KeyboardInterrupt), and callbacks after it then miss
        # the last one.
        parts = list(self._LOSS_PARTS)
        if self._contrastive_on():
            parts += ["reconstruction_loss", "contrastive_loss"]
        callbacks += [(name, PassthroughScoring(name, on_train=True)) for name in parts]
        sink = to_terminal if self.verbose else discard
        if self.early_stopping_:
            patience = (
                self._plateau_patience() if self.early_stopping == "auto" else self.n_iter_no_change
            )
            callbacks.append(
                (
                    "early_stopping",
                    SignedEarlyStopping(
                        monitor="valid_loss",
                        patience=patience,
                        threshold=self.tol,
                        threshold_mode="rel",
                        load_best=True,
                        sink=sink,
                    ),
                )
            )
        if self._auto_budget():
            callbacks.append(
                (
                    "lr_schedule",
                    LRScheduler(
                        policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                        T_max=self.max_epochs_,
                        eta_min=self.lr * AUTO_FINAL_LR_FRACTION,
                    ),
                )
            )
            if not self.early_stopping_:
                callbacks.append(
                    (
                        "plateau",
                        SignedEarlyStopping(
                            monitor="train_loss",
                            patience=self._plateau_patience(),
                            threshold=self.tol,
                            threshold_mode="rel",
                            load_best=False,
                            sink=sink,
                        ),
                    )
                )
        # A progress bar redraws one line with carriage returns: only on a terminal.
        if self.verbose and stdout_is_terminal():
            callbacks.append(("progress_bar", ProgressBar()))
        return callbacks + [copy.deepcopy(check_callback(cb)) for cb in (self.callbacks or [])]

    def _make_net(self, module, seed, device, corruption=None, contrastive=None):
        train_split = (
            ValidSplit(self.validation_fraction, stratified=False, random_state=seed)
            if self.early_stopping_
            else None
        )
        params = skorch_params(
            module=module,
            criterion=self._criterion(),
            optimizer=self.optimizer,
            optimizer_params={**self._default_optimizer_params(),
                              **(self.optimizer_params or {})},
            lr=self.lr,
            max_epochs=self.max_epochs_,
            batch_size=self.batch_size_,
            seed=seed,
            train_split=train_split,
            callbacks=self._make_callbacks(),
            device=device,
            verbose=self.verbose,
            net_params=self.net_params,
            corruption=corruption,
            precision=self.precision,
            contrastive=contrastive,
            contrastive_weight=self.contrastive_weight,
            contrastive_temperature=self.contrastive_temperature,
            input_scale=self.input_scale_,
        )
        return make_net(variational=self._VARIATIONAL, **params)

    def _stop_reason(self, net):
        """Why training ended, in words (also the last history row's ``stop_reason``)."""
        callbacks = dict(net.callbacks_)
        if getattr(callbacks.get("restore_on_interrupt"), "interrupted_", False):
            return "interrupted (KeyboardInterrupt): weights of the last finished epoch kept"
        for name, what in (("early_stopping", "validation"), ("plateau", "training")):
            stopper = callbacks.get(name)
            if stopper is not None and getattr(stopper, "misses_", 0) >= stopper.patience:
                return (
                    f"converged: the {what} loss improved by less than tol={self.tol:g} "
                    f"(relative) for {stopper.patience} epochs"
                )
        return f"max_epochs reached ({len(net.history)} epochs)"
