"""Parameter and attribute text shared by every skae autoencoder, written once."""

import inspect

_TRAINING_PARAMETERS = """\
loss : {{"mse", "l1", "bce", "ssim", "ssim_l1", "perceptual"}} or callable, default="mse"
        Reconstruction loss. ``"bce"`` needs data in [0, 1]. ``"ssim"``, ``"ssim_l1"`` and
        ``"perceptual"`` compare images or signals (:class:`ConvAutoEncoder`); instances
        such as ``SSIMLoss(window_size=11)`` or ``PerceptualLoss(my_cnn)`` from
        :mod:`skae.losses` work too. A callable takes ``(reconstruction, target)`` tensors
        and returns one loss per sample, shape (n,).
    output_activation : {{"auto", "identity", "sigmoid", "tanh"}}, default={output_activation}
        Applied to the decoder's output. ``"auto"`` picks ``"sigmoid"`` when the loss is
        ``"bce"`` or every training value lies in [0, 1] (e.g. images), else
        ``"identity"``.
    input_scale : "auto", float or None, default={input_scale}
        What every input value is divided by before the network sees it (on the device,
        one batch at a time: a uint8 ``numpy.memmap`` is never copied whole as floats).
        ``"auto"`` divides ``uint8`` data by 255 and ``uint16`` data by 65535 (images
        then reach the network in [0, 1], and ``output_activation="auto"`` picks a
        sigmoid) and leaves every other dtype as it is; a float divides any input (e.g.
        4095 for 12-bit camera images stored as uint16); None is 1. The chosen divisor
        is ``input_scale_``, applied to every later input too, whatever its dtype.
        ``reconstruct``, ``inverse_transform`` and ``inpaint`` return values in the
        input's units (multiplied back); the training loss and
        ``reconstruction_error`` are in the network's units.
    max_epochs : int or "auto", default={max_epochs}
        Passes over the training data. ``"auto"`` scales the budget with the data:
        ``clip(ceil(180000 / n_train), 20, 450)`` epochs, i.e. about 180,000 sample
        passes but at least 20 and at most 450 epochs (50 epochs with
        ``optimizer="lbfgs"``): 1,000 training images get 180 epochs, 9,000 or more
        get 20. With ``"auto"`` the learning rate follows a cosine schedule from ``lr``
        down to ``lr / 100`` over those epochs, and training stops once the loss that
        ``early_stopping`` watches (the held-out loss, or the training loss when no
        samples are held out) has not improved by ``tol`` (relative) for
        ``max(n_iter_no_change, ceil(max_epochs_ / 10))`` epochs. An int is that many
        epochs at the constant ``lr`` (fewer only with ``early_stopping=True``). Why
        training stopped is ``stop_reason_`` (and the last history row's
        ``stop_reason``). Interrupting ``fit`` with Ctrl+C (``KeyboardInterrupt``) stops
        training with a warning and keeps a usable model with the weights of the last
        finished epoch.
    batch_size : int or "auto", default={batch_size}
        Samples per gradient step; ``-1`` uses the whole training set per step.
        ``"auto"`` is {auto_batch_size}, but at most ``n_train // 16`` (and at least 16),
        so that small data sets still get 16 steps per epoch; ``-1`` with
        ``optimizer="lbfgs"``. The value used is ``batch_size_``.
    lr : float, default={lr}
        Learning rate of the optimizer.
    optimizer : {{"adam", "adamw", "sgd", "rmsprop", "lbfgs"}} or torch optimizer class, \
default={optimizer}
        The optimizer.
    optimizer_params : dict, default=None
        Extra keyword arguments of the optimizer, e.g. ``{{"weight_decay": 1e-5}}``.
    early_stopping : bool or "auto", default={early_stopping}
        Hold out ``validation_fraction`` of the training data and stop when its loss has
        not improved by ``tol`` (relative) for ``n_iter_no_change`` epochs; the best
        weights are restored (skorch's ``EarlyStopping``). ``"auto"`` does this only
        with ``max_epochs="auto"`` (patience as described there) and when at least 10
        samples are held out; a smaller set trains on every sample and stops on the
        training loss's plateau. Whether it was on is ``early_stopping_``.
    validation_fraction : float in (0, 1), default=0.1
        Fraction held out for early stopping; used only when early stopping is on.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Minimum relative improvement of the validation loss for early stopping.
    corruption : callable or list of callables, default=None
        Corrupts training inputs only, e.g. ``GaussianNoise(0.3)`` from
        :mod:`skae.corruption` (a de-noising autoencoder); targets stay clean, inference
        sees the data as given. Seeded by ``random_state``.
    contrastive : callable or list of callables, default=None
        Augmentations from :mod:`skae.augmentation` (e.g. ``[RandomAffine(),
        RandomIntensity()]``) that turn on a contrastive term: two augmented views of each
        training sample are encoded, projected by a small head (``module_.projection``)
        and pulled together against the other samples of the batch (SimCLR's loss,
        :func:`skae.losses.nt_xent_loss`), added to the reconstruction loss. The codes
        then change little under the augmentations. In one run of
        ``benchmarks/bench_clustering_fashion_mnist.py`` (seed 0), UMAP + GMM clusters
        of Fashion-MNIST matched its classes at 0.675 accuracy with such codes, 0.591
        with plain codes and 0.667 with PCA + UMAP + GMM and no autoencoder; accuracy
        moves by several points between runs (see :ref:`discovery`). Each step costs
        about three encoder passes instead of one, and the loss compares every pair of
        views in a batch (memory grows with ``batch_size`` squared). ``history_`` records
        ``reconstruction_loss`` and ``contrastive_loss`` per epoch; ``loss_curve_`` is
        their weighted sum, while early stopping's ``valid_loss`` is the reconstruction
        loss alone. Needs a stochastic optimizer (not ``"lbfgs"``). Seeded by
        ``random_state``.
    contrastive_weight : float >= 0, default=1.0
        Weight of the contrastive term; used only with ``contrastive``.
    contrastive_temperature : float > 0, default=0.5
        Temperature of the contrastive loss; used only with ``contrastive``.
    callbacks : list of skorch callbacks, default=None
        Extra callbacks (e.g. ``skorch.callbacks.LRScheduler``, ``Checkpoint``,
        ``GradientNormClipping``), as instances or ``(name, callback)`` pairs. They are
        deep-copied at ``fit``; the fitted ones are in ``net_.callbacks_``.
    net_params : dict, default=None
        Further keyword arguments of the underlying :class:`skorch.NeuralNet`, e.g.
        ``{{"warm_start": True}}``, ``{{"compile": True}}`` (:func:`torch.compile`, with
        ``"compile__mode"``... passed on) or ``{{"accelerator": Accelerator()}}`` (Hugging
        Face Accelerate: several GPUs or processes, see skorch's ``AccelerateMixin``).
    device : str or torch.device, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... ``"auto"`` takes CUDA when available.
    precision : {{"32", "bf16-mixed", "16-mixed"}}, default="32"
        Training precision. ``"bf16-mixed"`` and ``"16-mixed"`` run the forward pass
        under :func:`torch.autocast` (bfloat16 / float16) while weights, loss and
        inference stay float32; ``"16-mixed"`` also scales the loss with
        :class:`torch.amp.GradScaler`. Worth it on recent GPUs; on CPU, only bfloat16 on
        hardware with bf16 support is faster.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and validation split. An int makes
        ``fit`` reproducible on CPU.
    verbose : int, default=0
        ``0`` is silent; ``1`` or more prints the per-epoch table and, on a terminal, a
        progress bar (piped output gets plain lines: no bar, no colour codes)."""

_FITTED_ATTRIBUTES = """\
net_ : skorch.NeuralNet
        The trained skorch net; its ``module_`` holds ``encoder`` and ``decoder``.
    history_ : skorch.History
        Per-epoch training history (``train_loss``, ``valid_loss`` with early stopping,
        durations, per-batch losses).
    loss_curve_ : list of float
        Training loss after each epoch.
    n_epochs_ : int
        Number of epochs run.
    max_epochs_ : int
        The epoch budget used (``max_epochs="auto"`` resolved for the data).
    batch_size_ : int
        The batch size used (``batch_size="auto"`` resolved for the data).
    early_stopping_ : bool
        Whether samples were held out for early stopping (``"auto"`` resolved).
    stop_reason_ : str
        Why training stopped: the budget was reached, the loss converged (early
        stopping or the plateau rule of ``max_epochs="auto"``), or Ctrl+C.
    input_scale_ : float
        The divisor applied to every input (``input_scale`` resolved; 1.0 for none).
    output_activation_ : str
        The output activation chosen (``"auto"`` resolved).
    n_features_in_ : int
        Number of features (values per sample) seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has feature names
        that are all strings.
    encoder_ : torch.nn.Module
        The trained encoder (inputs to codes), a view into ``net_``.
    decoder_ : torch.nn.Module
        The trained decoder (codes to inputs, before the output activation)."""


def _default_text(value):
    """A default as numpydoc writes it: strings quoted, everything else as ``repr``."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def fill_doc(obj):
    """Class decorator: substitute ``{training_parameters}`` and ``{fitted_attributes}``.

    The defaults quoted in the text are read from the signature of ``obj.__init__``, so
    the docstring cannot disagree with the code. A missing docstring (``python -OO``)
    is left missing.
    """
    if not obj.__doc__:
        return obj
    signature = inspect.signature(obj.__init__)
    defaults = {
        name: _default_text(parameter.default)
        for name, parameter in signature.parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    defaults["auto_batch_size"] = getattr(obj, "_AUTO_BATCH_SIZE", 128)
    training = _TRAINING_PARAMETERS.format(**defaults)
    obj.__doc__ = obj.__doc__.replace("{training_parameters}", training).replace(
        "{fitted_attributes}", _FITTED_ATTRIBUTES
    )
    return obj
