"""The skorch nets: :class:`AutoEncoderNet` (reconstruction, corruption, contrastive
term, mixed precision), its Accelerate variant, and the few-label classifier's net.

They customise skorch where its documentation says to (``get_loss``,
``train_step_single``, ``validation_step``, ``infer``, ``get_iterator``,
``get_default_callbacks``) and, for mixed precision and Accelerate, two hooks that
skorch's own :class:`~skorch.hf.AccelerateMixin` overrides the same way
(``_step_optimizer``, ``_initialize_accelerator``; they read ``_optimizers`` and
``_criteria``). ``fit``, ``fit_loop`` and ``run_single_epoch`` are skorch's own.

The hot path does per batch what a hand-written PyTorch loop does: one fancy-indexing
call on the array, one float32 conversion of that batch only (so a uint8
``numpy.memmap`` stays on disk), one host-to-device copy (from pinned memory on CUDA),
forward, loss, backward, step.
"""

import contextlib
import copy

import torch
from skorch import NeuralNet, NeuralNetClassifier
from skorch.hf import AccelerateMixin  # imports no Hugging Face package until used
from skorch.utils import to_tensor

from ._callbacks import RestoreOnInterrupt, check_callback, to_terminal
from ._data import BatchIterator, to_float_on
from ._runtime import OPTIMIZERS
from .losses import nt_xent_loss

PRECISIONS = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def skorch_params(*, module, criterion, optimizer, optimizer_params, lr, max_epochs,
                  batch_size, seed, device, verbose, callbacks, user_callbacks=None,
                  net_params=None, train_split=None, **extra):
    """The keyword arguments every skae estimator builds its skorch net with.

    Batches come from :class:`~skae._data.BatchIterator` (training batches shuffled from
    ``seed``); ``optimizer`` is a name of :data:`~skae._runtime.OPTIMIZERS` or a class,
    ``optimizer_params`` its keyword arguments; ``user_callbacks`` (the estimator's
    ``callbacks`` parameter) are checked and copied after ``callbacks``; with
    ``verbose``, the epoch log goes through :func:`~skae._callbacks.to_terminal`.
    ``extra`` (e.g. ``corruption``) are passed on, and ``net_params`` override all.
    """
    params = dict(
        module=module,
        criterion=criterion,
        optimizer=OPTIMIZERS.get(optimizer, optimizer),
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_valid=BatchIterator,
        train_split=train_split,
        callbacks=list(callbacks)
        + [copy.deepcopy(check_callback(cb)) for cb in (user_callbacks or [])],
        device=device,
        verbose=int(verbose),
        **{f"optimizer__{k}": v for k, v in (optimizer_params or {}).items()},
        **extra,
    )
    if verbose:  # PrintLog calls any sink but print whatever the verbosity
        params["callbacks__print_log__sink"] = to_terminal
    params.update(net_params or {})
    return params


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
        clean = to_float_on(Xi, device, self.input_scale)
        target = clean if yi is None else to_float_on(yi, device, self.input_scale)
        return clean, target

    def _training_batch(self, batch):
        """Move a batch to the device as float32; corrupt the input, keep the target clean.

        Returns the network's input, the target, the uncorrupted input and the keyword
        arguments of the forward pass: ``{"mask": ...}`` (where the corruption hid the
        input) for a module that reads masks (``takes_mask``), else none."""
        clean, target = self._prepare_batch(batch)
        if not getattr(self.module_, "takes_mask", False):
            Xi = clean if self.corruption is None else self.corruption(clean)
            return Xi, target, clean, {}
        Xi, mask = (clean, None) if self.corruption is None else self.corruption.with_mask(clean)
        return Xi, target, clean, {"mask": mask}

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
        Xi, target, clean, forward_params = self._training_batch(batch)
        if self.contrastive is None:
            with forward_context:
                y_pred = self.infer(Xi, **forward_params, **fit_params)
            return self.get_loss(_float(y_pred), target, X=Xi, training=True), y_pred
        views = self._contrastive_views(clean)
        with forward_context:
            y_pred, projected = self.infer(Xi, views=views, **fit_params)
        reconstruction = self.get_loss(_float(y_pred), target, X=Xi, training=True)
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
            x = to_float_on(x, self._compute_device())
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target = X if y_true is None else y_true
        return self.criterion_(
            y_pred, to_float_on(torch.as_tensor(target), self._compute_device())
        )


def _float(y_pred):
    """The module's output as float32 (after autocast): a tensor, or a tuple of them
    (a variational module's distribution parameters; None entries stay None)."""
    if isinstance(y_pred, tuple):
        return tuple(None if t is None else t.float() for t in y_pred)
    return y_pred.float()


def _silent(*args, **kwargs):
    """A print_log sink that prints nothing (``verbose=0`` with an accelerator)."""


def make_net(*, variational=False, **params):
    """The skorch net for an estimator: :class:`AutoEncoderNet`, or
    :class:`AcceleratedAutoEncoderNet` when ``net_params`` holds an ``accelerator``;
    their variational versions with ``variational=True``."""
    accelerated = params.get("accelerator") is not None
    if not accelerated:
        params.pop("accelerator", None)
    classes = {
        (False, False): AutoEncoderNet,
        (False, True): AcceleratedAutoEncoderNet,
        (True, False): VariationalAutoEncoderNet,
        (True, True): AcceleratedVariationalAutoEncoderNet,
    }
    return classes[bool(variational), accelerated](**params)


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


class VariationalLossMixin:
    """What makes an autoencoder net variational: the module runs its sampling forward
    pass (``module(x, variational=True)``: the decoder's distribution parameters from a
    reparameterised draw of the code, and the posterior's mean and log-variance) in
    training and validation, and the loss is the criterion's negative ELBO,
    ``nll + beta * kl`` in nats per sample (:class:`~skae.nn._variational.NegativeELBO`).
    Training batches record both parts, ``nll`` and ``kl``, in the history, and update
    the Gaussian decoder's running variance with their squared errors."""

    def infer(self, x, **fit_params):
        return super().infer(x, variational=True, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target = X if y_true is None else y_true
        target = to_float_on(torch.as_tensor(target), self._compute_device())
        nll, kl = self.criterion_.terms(y_pred, target)
        if training:
            parts = torch.stack([nll.detach().mean(), kl.detach().mean()]).tolist()
            self.history.record_batch("nll", parts[0])  # one host sync
            self.history.record_batch("kl", parts[1])
            location, log_variance = y_pred[:2]
            if log_variance is not None:
                # The module itself, also when DistributedDataParallel wraps it.
                module = getattr(self.module_, "module", self.module_)
                module.update_variance(location.detach(), target)
        return (nll + self.criterion_.beta * kl).mean()


class VariationalAutoEncoderNet(VariationalLossMixin, AutoEncoderNet):
    """:class:`AutoEncoderNet` for a variational module (see
    :class:`VariationalLossMixin`)."""


class AcceleratedVariationalAutoEncoderNet(VariationalLossMixin, AcceleratedAutoEncoderNet):
    """:class:`AcceleratedAutoEncoderNet` for a variational module."""


class ClassifierNet(NeuralNetClassifier):
    """``NeuralNetClassifier`` that augments training inputs (never validation/inference)."""

    def __init__(self, *args, augmentation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.augmentation = augmentation

    def train_step_single(self, batch, **fit_params):
        if self.augmentation is None:
            return super().train_step_single(batch, **fit_params)
        Xi, yi = batch
        Xi = self.augmentation(to_tensor(Xi, device=self.device))
        return super().train_step_single((Xi, yi), **fit_params)
