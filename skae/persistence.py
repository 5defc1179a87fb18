"""Save and load fitted autoencoders without pickle: weights as safetensors, the rest as data.

``save(estimator, path)`` writes one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the network's weights as tensors, and in the file's metadata a JSON document with
the estimator's class, its parameters and its fitted attributes (``loss_curve_``,
``history_``, ``n_features_in_``, ...). ``load(path)`` reads both back and rebuilds the
estimator; nothing in the file is executed. A model trained on a GPU loads on a machine
without one.

Why not pickle? ``pickle.load``, ``joblib.load`` and ``torch.load(weights_only=False)`` run
code named in the file: **unpickling a file from an untrusted source can execute arbitrary
code on your machine.** Pickling skae estimators keeps working (``pickle``/``joblib`` and
sklearn's model persistence guide apply) and is fine for files you wrote yourself; use
:func:`save`/:func:`load` to share models or to load files you did not write.

What a file may contain. Parameters and fitted attributes must be data: ``None``, bools,
numbers, strings, tuples, lists, dicts, numpy arrays, ``torch.device``, ``RandomState``
instances. Parameters that are classes or functions (``optimizer=torch.optim.SGD``,
``activation=torch.nn.GELU``, ``loss=skae.losses....``) are stored by name and may come
only from skae, torch (modules, optimizers, ``torch.nn.functional``) and
``skorch.callbacks``; objects (``corruption=GaussianNoise(0.3)``, skorch callbacks) are
stored as their class name plus constructor arguments, with the same restriction. Other
callables (a lambda as ``loss``) cannot be saved as data: :func:`save` raises ``TypeError``
naming the parameter. Loading looks names up only among modules that are already
imported, never imports a module, and never calls a function named in the file; the only
code that runs is the constructor of the allowed classes, with the stored data.

Integrity. The file carries a SHA-256 digest of its metadata and tensors. A truncated
file, one that is not a safetensors file, or one whose tensors or metadata were changed
after saving gives a ``ValueError`` that says so. (The digest detects corruption and
careless edits; it is not a signature against a deliberate forger, who cannot make
:func:`load` run code either way.)

What is not stored: the optimizer's state (``warm_start`` resumes with a fresh optimizer)
and the ``net_`` callbacks' internal state.

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
import inspect
import json
import os
import sys
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from skorch.history import History

FORMAT_NAME = "skae-autoencoder"
FORMAT_VERSION = 1
_METADATA_KEY = "skae"
_DIGEST_KEY = "skae_sha256"
_MODULE_PREFIX = "module."

# Modules whose classes/functions a file may name (looked up in sys.modules only).
_ALLOWED_MODULE_PREFIXES = ("skae.", "torch.nn.", "torch.optim.", "skorch.callbacks.")
_ALLOWED_FUNCTION_PREFIXES = ("skae.", "torch.nn.functional")
_ALLOWED_BASES = (torch.nn.Module, torch.optim.Optimizer, Callback)

__all__ = ["load", "save"]


# ---------------------------------------------------------------------- encoding
def _qualified(obj):
    return obj.__module__, obj.__qualname__


def _is_allowed_class(cls):
    module = getattr(cls, "__module__", "") or ""
    if not module.startswith(_ALLOWED_MODULE_PREFIXES) and module not in ("skae",):
        return False
    return module.startswith("skae") or issubclass(cls, _ALLOWED_BASES)


def _is_allowed_function(func):
    module = getattr(func, "__module__", "") or ""
    return (
        inspect.isfunction(func) or inspect.isbuiltin(func)
    ) and module.startswith(_ALLOWED_FUNCTION_PREFIXES) and "<" not in func.__qualname__


def _encode(value, where):
    """A JSON-compatible description of ``value``; TypeError if it is not data."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, History):
        return {"__skae__": "history", "items": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"__skae__": "tuple", "items": [_encode(v, where) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{where}: dict keys must be strings to be saved as data.")
        return {"__skae__": "dict", "items": {k: _encode(v, f"{where}[{k!r}]")
                                                for k, v in value.items()}}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise TypeError(f"{where}: arrays of dtype {value.dtype} cannot be saved.")
        items = value.ravel().tolist()
        if value.dtype.kind == "O" and not all(isinstance(v, str) for v in items):
            raise TypeError(f"{where}: object arrays must hold strings to be saved.")
        return {"__skae__": "ndarray", "dtype": value.dtype.str if value.dtype.kind != "O"
                else "object", "shape": list(value.shape), "items": items}
    if isinstance(value, torch.device):
        return {"__skae__": "device", "value": str(value)}
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, cached = value.get_state()
        return {"__skae__": "random_state", "state": [name, keys.tolist(), int(pos),
                                                      int(has_gauss), float(cached)]}
    if isinstance(value, type):
        if not _is_allowed_class(value):
            raise TypeError(
                f"{where}: the class {value.__module__}.{value.__qualname__} cannot be "
                "saved by name; only classes from skae, torch.nn, torch.optim and "
                "skorch.callbacks can."
            )
        module, name = _qualified(value)
        return {"__skae__": "class", "module": module, "name": name}
    if callable(value) and (inspect.isfunction(value) or inspect.isbuiltin(value)):
        if not _is_allowed_function(value):
            raise TypeError(
                f"{where}: the function {getattr(value, '__qualname__', value)!r} cannot be "
                "saved as data (only functions of skae and torch.nn.functional can be "
                "named). Use a built-in option, or pickle/joblib for files you trust."
            )
        module, name = _qualified(value)
        return {"__skae__": "function", "module": module, "name": name}
    cls = type(value)
    if _is_allowed_class(cls):
        params = {}
        for pname, p in inspect.signature(cls.__init__).parameters.items():
            if pname == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if not hasattr(value, pname):
                raise TypeError(
                    f"{where}: {cls.__qualname__} does not keep its argument {pname!r} as "
                    "an attribute, so it cannot be saved as data."
                )
            params[pname] = _encode(getattr(value, pname), f"{where}.{pname}")
        module, name = _qualified(cls)
        return {"__skae__": "object", "module": module, "name": name, "params": params}
    raise TypeError(
        f"{where}={value!r} cannot be saved as data. skae.persistence stores only data "
        "and classes/functions of skae, torch and skorch.callbacks; use pickle/joblib for "
        "files you trust, or replace the value by a built-in option."
    )


def _lookup(module, name, kind):
    """The object ``module.name`` among already-imported modules (nothing is imported)."""
    if not isinstance(module, str) or not isinstance(name, str) or "<" in name:
        raise ValueError(f"Invalid {kind} reference {module!r}.{name!r} in the file.")
    allowed = _ALLOWED_FUNCTION_PREFIXES if kind == "function" else _ALLOWED_MODULE_PREFIXES
    if not (module.startswith(allowed) or module == "skae"):
        raise ValueError(f"The file names {kind} {module}.{name}, which is not allowed.")
    obj = sys.modules.get(module)
    if obj is None:
        raise ValueError(
            f"The file names {kind} {module}.{name} but module {module!r} is not imported; "
            "import it before loading."
        )
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if obj is None or _qualified(obj) != (module, name):
        raise ValueError(f"The file names {kind} {module}.{name}, which does not exist.")
    if kind == "class" and not (isinstance(obj, type) and _is_allowed_class(obj)):
        raise ValueError(f"{module}.{name} is not an allowed class.")
    if kind == "function" and not _is_allowed_function(obj):
        raise ValueError(f"{module}.{name} is not an allowed function.")
    return obj


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("__skae__")
    if tag == "tuple":
        return tuple(_decode(v) for v in value["items"])
    if tag == "dict":
        return {k: _decode(v) for k, v in value["items"].items()}
    if tag == "history":
        return History(_decode(v) for v in value["items"])
    if tag == "ndarray":
        dtype = object if value["dtype"] == "object" else np.dtype(value["dtype"])
        if np.dtype(dtype).kind not in "biufUO":
            raise ValueError(f"Invalid array dtype {value['dtype']!r} in the file.")
        return np.array(value["items"], dtype=dtype).reshape(value["shape"])
    if tag == "device":
        return torch.device(value["value"])
    if tag == "random_state":
        name, keys, pos, has_gauss, cached = value["state"]
        rs = np.random.RandomState()
        rs.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        return rs
    if tag == "class":
        return _lookup(value["module"], value["name"], "class")
    if tag == "function":
        return _lookup(value["module"], value["name"], "function")
    if tag == "object":
        cls = _lookup(value["module"], value["name"], "class")
        return cls(**{k: _decode(v) for k, v in value["params"].items()})
    raise ValueError(f"Unknown entry {value!r} in the file.")


# ---------------------------------------------------------------------- digest
def _tensor_bytes(tensor):
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _digest(document, tensors):
    h = hashlib.sha256(document.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(_tensor_bytes(t))
    return h.hexdigest()


# ---------------------------------------------------------------------- public API
def _network_shape(estimator):
    shape = getattr(estimator, "image_shape_", None)
    return tuple(int(s) for s in shape) if shape is not None else (int(estimator.n_features_in_),)


def save(estimator, path):
    """Save a fitted skae autoencoder to ``path`` as a safetensors file.

    Parameters
    ----------
    estimator : BaseAutoEncoder
        A fitted :class:`~skae.DenseAutoEncoder`, :class:`~skae.ConvAutoEncoder` or
        :class:`~skae.LinearAutoEncoder` (or subclass defined in skae).
    path : str or path-like
        Destination file; ``.safetensors`` is the conventional suffix. Overwritten.

    Raises
    ------
    NotFittedError
        If the estimator is not fitted.
    TypeError
        If it is not a skae autoencoder, or a parameter/fitted attribute is not data
        (e.g. a lambda as ``loss``).
    """
    from ._base import BaseAutoEncoder
    from safetensors.torch import save_file

    if not isinstance(estimator, BaseAutoEncoder) or not type(estimator).__module__.startswith(
        "skae"
    ):
        raise TypeError(
            f"save() takes a skae autoencoder, got {type(estimator).__name__}. Pipelines: "
            "save the autoencoder step, and the other steps with their own tools."
        )
    check_is_fitted(estimator, "net_")
    cls = type(estimator)
    params = {
        k: _encode(v, f"parameter {k}")
        for k, v in estimator.get_params(deep=False).items()
    }
    fitted = {
        k: _encode(v, f"attribute {k}")
        for k, v in vars(estimator).items()
        if k.endswith("_") and not k.startswith("_") and k not in ("net_", "history_")
    }
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
            "history": _encode(estimator.net_.history, "history_"),
        },
        sort_keys=True,
    )
    tensors = {
        _MODULE_PREFIX + k: v.detach().cpu().contiguous().clone()
        for k, v in estimator.net_.module_.state_dict().items()
    }
    metadata = {_METADATA_KEY: document, _DIGEST_KEY: _digest(document, tensors)}
    save_file(tensors, os.fspath(path), metadata=metadata)


def _read(path):
    from safetensors import SafetensorError, safe_open

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
    if _METADATA_KEY not in metadata or _DIGEST_KEY not in metadata:
        raise ValueError(f"{path!r} is a safetensors file but was not written by skae.save.")
    document = metadata[_METADATA_KEY]
    if _digest(document, tensors) != metadata[_DIGEST_KEY]:
        raise ValueError(
            f"{path!r} was modified or corrupted after it was saved: its SHA-256 digest does "
            "not match its content."
        )
    try:
        info = json.loads(document)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path!r} has unreadable metadata: {exc}") from exc
    if info.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a skae model file.")
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written by a newer skae (format version "
            f"{info['format_version']}); upgrade skae to load it."
        )
    return info, tensors


def load(path, *, device=None):
    """Load an autoencoder written by :func:`save`; no code from the file is run.

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
    estimator : BaseAutoEncoder
        Fitted, with the saved parameters, weights and fitted attributes; ``transform``,
        ``inverse_transform``, ``score``... give the same results as before saving.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, corrupted, modified after saving, not written by
        :func:`save`, or names a class or function that is not allowed.
    """
    from ._base import BaseAutoEncoder, resolve_device

    info, tensors = _read(path)
    try:
        cls = _lookup(info["class"]["module"], info["class"]["name"], "class")
        if not issubclass(cls, BaseAutoEncoder):
            raise ValueError(f"{cls.__qualname__} is not a skae autoencoder.")
        params = {k: _decode(v) for k, v in info["params"].items()}
        fitted = {k: _decode(v) for k, v in info["fitted"].items()}
        history = _decode(info["history"])
        network_shape = tuple(int(s) for s in info["network_shape"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} has malformed metadata: {exc!r}") from exc

    estimator = cls(**params)
    if device is not None:
        estimator.set_params(device=device)
    for name, value in fitted.items():
        setattr(estimator, name, value)
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
    net = _rebuild_net(estimator, network_shape, net_device)
    state = {k[len(_MODULE_PREFIX):]: v for k, v in tensors.items()
             if k.startswith(_MODULE_PREFIX)}
    try:
        net.module_.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"The weights in {os.fspath(path)!r} do not fit the network its parameters "
            f"describe: {exc}"
        ) from exc
    net.history = history
    estimator.net_ = net
    estimator.history_ = net.history
    return estimator


def _rebuild_net(estimator, network_shape, device):
    """The untrained skorch net that ``fit`` would build, ready for saved weights."""
    from ._base import _fork_rng_devices

    # Random initial weights are overwritten; keep the caller's global RNG untouched.
    with torch.random.fork_rng(devices=_fork_rng_devices(device)):
        net = estimator._build_net(network_shape, 0, device)
        net.initialize()
    return net
