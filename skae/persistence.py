"""Save and load fitted autoencoders without pickle: weights as safetensors, the rest as data.

``save(estimator, path)`` writes one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the network's weights as tensors, and in its metadata a JSON document with the
estimator's class, parameters, fitted attributes and history. ``load(path)`` rebuilds the
estimator; a model trained on a GPU loads on a machine without one. Pickle runs code
named in the file: use it only for files you wrote yourself.

A file holds only data, and nothing in it is trusted: its SHA-256 digest has no key, so it
detects corruption, not forgery. :func:`save` refuses, naming the parameter, what could
run code, import modules or touch files during a later fit (``callbacks``, ``net_params``
other than plain training options, callables other than skae's and torch's documented
ones); :func:`load` refuses a file holding any of it, setting an attribute its class does
not declare, or describing a network other than its weights, and otherwise only reads
the file: it creates nothing, imports nothing, calls nothing named in it. The full
contract is in the user guide: :ref:`model-files`.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from skae import DenseAutoEncoder
>>> from skae.persistence import save, load
>>> X = np.random.RandomState(0).rand(50, 6).astype(np.float32)
>>> ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2,
...                       random_state=0).fit(X)
>>> path = os.path.join(tempfile.mkdtemp(), "ae.safetensors")
>>> save(ae, path)
>>> ae2 = load(path)
>>> bool(np.array_equal(ae.transform(X), ae2.transform(X)))
True
"""

import hashlib
import json
import math
import os
import sys
import warnings

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._runtime import resolve_device, seeded

from ._model_file import (
    DIGEST_KEY,
    DROPPED_NET_PARAMS,
    DROPPED_NET_PARAM_PREFIXES,
    ESTIMATORS,
    ESTIMATOR_NAMES,
    FITTED_CHECKS,
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_KEY,
    MODULE_PREFIX,
    NET_PARAMS,
    NET_PARAM_PREFIXES,
    SIZE_PARAMETERS,
    decode,
    encode,
    init_names,
    is_fitted_name,
    is_plain,
    object_key,
)

__all__ = ["load", "save"]


# ---------------------------------------------------------------------- parameters
_CALLBACKS_WHY = (
    "skorch callbacks run code during fit (Checkpoint writes files wherever it is told, "
    "LoadInitState unpickles them)"
)
_NET_PARAMS_WHY = (
    f"net_params may hold only {', '.join(sorted(NET_PARAMS))} and optimizer__* options, "
    "with plain values; other skorch arguments (torch_load_kwargs, callbacks__*, "
    "iterators, datasets, ...) can run code, import modules or read and write files "
    "during fit"
)


def _refusal(where, why, saving):
    if saving:
        return ValueError(
            f"{where} cannot be saved: {why}. A skae model file holds only data. The "
            "weights do not depend on it: remove it with set_params() before saving, and "
            "set it again before refitting the loaded model."
        )
    return ValueError(f"the file sets {where}, which a skae model file never holds: {why}.")


def _is_dropped(key):
    return isinstance(key, str) and (
        key in DROPPED_NET_PARAMS or key.startswith(DROPPED_NET_PARAM_PREFIXES)
    )


def _check_training_options(params, *, saving):
    """``params`` as a file holds them: refuses ``callbacks``, the ``net_params`` that are
    not plain training options and an ``optimizer_params`` that is not plain; at save,
    drops ``accelerator`` and ``compile*`` (how training runs) with a warning."""
    callbacks = params.get("callbacks")
    if callbacks is not None and not (isinstance(callbacks, (list, tuple)) and not callbacks):
        raise _refusal("parameter callbacks", _CALLBACKS_WHY, saving)
    optimizer_params = params.get("optimizer_params")
    if optimizer_params is not None and not (
        isinstance(optimizer_params, dict) and is_plain(optimizer_params)
    ):
        raise _refusal("parameter optimizer_params", "it must be a dict of plain values "
                       "(numbers, strings, tuples, ...)", saving)
    net_params = params.get("net_params")
    if net_params is None:
        return params
    if not isinstance(net_params, dict):
        raise _refusal("parameter net_params", "it must be a dict", saving)
    kept = {}
    for key, value in net_params.items():
        where = f"net_params[{key!r}]"
        if _is_dropped(key):
            if not saving:
                raise _refusal(where, "save() drops it", saving)
            warnings.warn(
                f"{where} is not saved: it says how training runs, not what the model "
                "computes, and is not data. Set it again (set_params(net_params=...)) "
                "before refitting the loaded model.",
                UserWarning,
                stacklevel=3,
            )
            continue
        allowed = isinstance(key, str) and (
            key in NET_PARAMS or key.startswith(NET_PARAM_PREFIXES)
        )
        if not allowed or not is_plain(value):
            raise _refusal(where, _NET_PARAMS_WHY, saving)
        kept[key] = value
    return {**params, "net_params": kept}


# ---------------------------------------------------------------------- network size
def _declared_ints(name, value):
    if value is None:
        return []
    array = np.asarray(value)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise ValueError(f"parameter {name}={value!r} must be an int or a sequence of ints.")
    return [int(v) for v in array.ravel()]


def _check_declared_sizes(params, network_shape, tensors):
    """Refuse, before anything is built, a network larger than the stored weights: each
    size the parameters declare is at most the number of stored values, and the number
    of layers they declare at most the number of stored tensors."""
    n_values = sum(t.numel() for t in tensors.values())
    sizes = {name: _declared_ints(name, params.get(name))
             for name in SIZE_PARAMETERS if name in params}
    sizes["network_shape[0] (input features or channels)"] = list(network_shape[:1])
    for name, values in sizes.items():
        if any(v > n_values for v in values):
            raise ValueError(
                f"{name}={max(values)} asks for a network larger than the weights stored in "
                f"the file ({n_values} values in {len(tensors)} tensors)."
            )
    per_level = max(sizes.get("layers_per_level", [1]) or [1])
    n_layers = len(sizes.get("hidden_layer_sizes", [])) + len(
        sizes.get("channels", [])
    ) * per_level
    if n_layers > len(tensors):
        raise ValueError(
            f"The parameters ask for {n_layers} layers, more than the {len(tensors)} "
            "tensors stored in the file."
        )


def _shapes(state):
    return {k: (tuple(v.shape), v.dtype) for k, v in state.items()}


def _check_weights_fit(estimator, network_shape, state):
    """Build the network on the ``meta`` device (no memory, no initialisation) and require
    its tensors to have exactly the names, shapes and dtypes of the stored ones."""
    try:
        with seeded(None), torch.device("meta"):
            module = estimator._build_net(network_shape, 0, "cpu").module
    except (RuntimeError, ValueError, TypeError, OverflowError) as exc:
        message = f"its parameters describe no network that can be built: {exc}"
        raise ValueError(message) from exc
    expected, stored = _shapes(module.state_dict()), _shapes(state)
    if expected == stored:
        return
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    different = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
    details = [f"missing tensors {missing[:5]}" if missing else "",
               f"unexpected tensors {unexpected[:5]}" if unexpected else ""]
    details += [f"{k}: the network has shape {expected[k][0]} ({expected[k][1]}), the file "
                f"{stored[k][0]} ({stored[k][1]})" for k in different[:5]]
    raise ValueError(
        "the weights stored in the file do not fit the network its parameters describe: "
        + "; ".join(d for d in details if d) + "."
    )


# ---------------------------------------------------------------------- digest
def _tensor_bytes(tensor):
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _digest(document, tensors):
    """SHA-256 of the metadata and tensors: detects corruption, not forgery (no key)."""
    h = hashlib.sha256(document.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(_tensor_bytes(t))
    return h.hexdigest()


# ---------------------------------------------------------------------- public API
def _network_shape(estimator):
    shape = getattr(estimator, "image_shape_", None)
    if shape is None:
        return (int(estimator.n_features_in_),)
    return tuple(int(s) for s in shape)


def save(estimator, path):
    """Save a fitted skae autoencoder to ``path`` as a safetensors file holding only data.

    Parameters
    ----------
    estimator : DenseAutoEncoder, LinearAutoEncoder, ConvAutoEncoder, \
VariationalDenseAutoEncoder or VariationalConvAutoEncoder
        A fitted autoencoder.
    path : str or path-like
        Destination file; ``.safetensors`` is the conventional suffix. Overwritten.

    Raises
    ------
    NotFittedError
        If the estimator is not fitted.
    TypeError
        If it is not one of the autoencoders above.
    ValueError
        Naming the parameter, if one is not data: non-empty ``callbacks``, a
        ``net_params`` key other than the plain training options, a value such as a
        lambda as ``loss`` or a class that is not a torch optimizer or activation.

    Warns
    -----
    UserWarning
        When ``net_params`` holds ``accelerator`` or ``compile`` (``compile__*``): they
        say how training runs and are not saved.

    Notes
    -----
    :ref:`model-files` says what a file can and cannot hold.
    """
    if type(estimator) not in ESTIMATORS:
        raise TypeError(
            f"save() takes a skae autoencoder ({ESTIMATOR_NAMES}), got "
            f"{type(estimator).__name__}. Pipelines: save the autoencoder step, and the other "
            "steps with their own tools."
        )
    check_is_fitted(estimator, "net_")
    params = _check_training_options(estimator.get_params(deep=False), saving=True)
    params = {k: encode(v, f"parameter {k}") for k, v in params.items()}
    cls = type(estimator)
    fitted = {name: encode(value, f"attribute {name}")
              for name, value in vars(estimator).items() if is_fitted_name(cls, name)}
    document = json.dumps(
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "skae_version": sys.modules["skae"].__version__,
            "torch_version": torch.__version__,
            "class": {"module": cls.__module__, "name": cls.__qualname__},
            "network_shape": list(_network_shape(estimator)),
            "trained_on": str(estimator.net_.device),
            "params": params,
            "fitted": fitted,
            "history": encode(estimator.net_.history, "history_"),
        }
    )
    tensors = {
        MODULE_PREFIX + k: v.detach().cpu().contiguous().clone()
        for k, v in estimator.net_.module_.state_dict().items()
    }
    metadata = {METADATA_KEY: document, DIGEST_KEY: _digest(document, tensors)}
    save_file(tensors, os.fspath(path), metadata=metadata)


def _read(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ValueError(
            f"{path!r} is not a readable skae model file (truncated, corrupted, or not a "
            f"safetensors file): {exc}"
        ) from exc
    if METADATA_KEY not in metadata or DIGEST_KEY not in metadata:
        raise ValueError(f"{path!r} is a safetensors file but was not written by skae.save.")
    document = metadata[METADATA_KEY]
    if _digest(document, tensors) != metadata[DIGEST_KEY]:
        raise ValueError(
            f"{path!r} was modified or corrupted after it was saved: its SHA-256 digest does "
            "not match its content."
        )
    try:
        info = json.loads(document)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits
        raise ValueError(f"{path!r} has unreadable metadata: {exc}") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a skae model file.")
    version = info.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written by a newer skae (format version {version!r}); upgrade "
            "skae to load it."
        )
    return info, tensors


def load(path, *, device=None):
    """Load an autoencoder written by :func:`save`; the file is read, and nothing else.

    Nothing in the file is trusted (its digest has no key): it may set only the
    parameters and fitted attributes that its class declares, with data values, and only
    weights of exactly the shapes its parameters describe. Loading creates no file or
    folder, imports no module and runs no code named in the file.

    Parameters
    ----------
    path : str or path-like
        File written by :func:`save`.
    device : str or torch.device, default=None
        Where to put the network. None keeps the saved ``device`` parameter and uses it
        when it is available here; a model saved with ``device="cuda"`` then loads on the
        CPU of a machine without CUDA (with a warning). Any other value also becomes the
        estimator's ``device`` parameter.

    Returns
    -------
    estimator : DenseAutoEncoder, LinearAutoEncoder, ConvAutoEncoder, \
VariationalDenseAutoEncoder or VariationalConvAutoEncoder
        Fitted, with the saved parameters, weights and fitted attributes; ``transform``,
        ``inverse_transform``, ``score``... give the same results as before saving.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, corrupted, modified after saving or not written by
        :func:`save`; or if it holds what :func:`save` never writes: callbacks, a
        ``net_params`` key other than the plain training options, a class or function
        that is not allowed, a parameter or attribute that the class does not declare,
        or a network that its weights do not fill exactly (checked before the network is
        built).
    """
    info, tensors = _read(path)
    try:
        estimator, history, state = _checked_estimator(info, tensors, device)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)!r} is refused: {exc}") from None
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError,
            OverflowError, RuntimeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} has malformed metadata: {exc!r}") from None
    try:
        net_device = resolve_device(estimator.device)
    except ValueError:
        if device is not None:
            raise
        warnings.warn(
            f"The model was saved with device={estimator.device!r}, which is not available "
            "here; it is loaded on the CPU (the device parameter is unchanged; pass "
            "device='cpu' to load() to change it too).",
            UserWarning,
            stacklevel=2,
        )
        net_device = "cpu"
    net = _rebuild_net(estimator, _network_shape(estimator), net_device)
    net.module_.load_state_dict(state, strict=True)  # names and shapes checked already
    net.module_.eval()  # as after fit: inference never switches modes
    net.history = history
    estimator.net_ = net
    estimator.history_ = net.history
    return estimator


def _checked_estimator(info, tensors, device):
    """The unfitted-network estimator the file describes, its history and its weights,
    after every check; ValueError (saying what) for anything a file may not hold."""
    key = (info["class"]["module"], info["class"]["name"])
    cls = next((c for c in ESTIMATORS if object_key(c) == key), None)
    if cls is None:
        raise ValueError(f"it names the class {key[0]}.{key[1]}; a skae model file holds a "
                         f"{ESTIMATOR_NAMES}.")
    raw = info["params"]
    unknown = sorted(set(raw) - set(init_names(cls)))
    if unknown:
        raise ValueError(f"it sets parameter(s) {unknown}, which {cls.__name__} does not "
                         "declare.")
    if raw.get("callbacks") not in (None, []):
        raise _refusal("parameter callbacks", _CALLBACKS_WHY, saving=False)
    params = {k: decode(v, f"parameter {k}") for k, v in raw.items()}
    params = _check_training_options(params, saving=False)
    fitted = _checked_fitted(info["fitted"], cls, ESTIMATORS[cls])
    history = decode(info["history"], "history_")
    if not isinstance(history, History) or not all(
        isinstance(row, dict) and is_plain(row) for row in history
    ):
        raise ValueError("its history must be a list of dicts of plain values.")

    estimator = cls(**params)
    if device is not None:
        estimator.set_params(device=device)
    estimator._validate_params()
    for name, value in fitted.items():
        setattr(estimator, name, value)
    network_shape = _network_shape(estimator)
    if list(network_shape) != info["network_shape"] or math.prod(
        network_shape
    ) != estimator.n_features_in_:
        raise ValueError(
            f"its network_shape {info['network_shape']!r} disagrees with its fitted "
            f"attributes (network shape {network_shape}, n_features_in_="
            f"{estimator.n_features_in_})."
        )
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and len(names) != estimator.n_features_in_:
        raise ValueError("its feature_names_in_ and n_features_in_ disagree.")
    if not all(k.startswith(MODULE_PREFIX) for k in tensors):
        raise ValueError(f"it stores tensors outside the network: {sorted(tensors)[:5]}.")
    state = {k[len(MODULE_PREFIX):]: v for k, v in tensors.items()}
    _check_declared_sizes(estimator.get_params(deep=False), network_shape, state)
    _check_weights_fit(estimator, network_shape, state)
    return estimator, history, state


def _checked_fitted(raw, cls, required):
    """The fitted attributes of the file: public fitted names that ``cls`` does not
    define, holding data; the ones skae reads back are checked."""
    undeclared = sorted(name for name in raw if not is_fitted_name(cls, name))
    if undeclared:
        raise ValueError(
            f"it sets attribute(s) {undeclared}, which {cls.__name__} does not declare; a "
            "file may set only fitted attributes (public names ending in '_' that are not "
            "methods, properties, net_ or history_)."
        )
    missing = [name for name in required if name not in raw]
    if missing:
        raise ValueError(f"it lacks the fitted attribute(s) {missing}.")
    fitted = {}
    for name, value in raw.items():
        value = decode(value, f"attribute {name}")
        check, wanted = FITTED_CHECKS.get(name, (_is_data, "plain data"))
        if not check(value):
            raise ValueError(f"attribute {name}={repr(value):.80} must be {wanted}.")
        fitted[name] = value
    return fitted


def _is_data(value):
    if isinstance(value, np.ndarray):
        return True  # decoded arrays hold only numbers or strings
    return is_plain(value)


def _rebuild_net(estimator, network_shape, device):
    """The untrained skorch net that ``fit`` would build, ready for saved weights."""
    # Random initial weights are overwritten; keep the caller's global RNG untouched.
    with seeded(None, device):
        net = estimator._build_net(network_shape, 0, device)
        net.initialize()
    return net
