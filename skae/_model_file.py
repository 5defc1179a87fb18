"""What a skae model file may hold, and how its values are written as plain JSON data.

The allowlists (estimator classes, the classes and callables a parameter may name), the
checks of fitted attributes, and :func:`encode` / :func:`decode`, which turn parameter
values into JSON-able data and back without importing or calling anything named in a
file. Used by :mod:`skae.persistence`.
"""

import inspect
import math
import re

import numpy as np
import torch
from skorch.history import History

from . import augmentation, corruption, losses
from ._autoencoders import DenseAutoEncoder, LinearAutoEncoder
from ._conv_autoencoder import ConvAutoEncoder
from ._variational import VariationalConvAutoEncoder, VariationalDenseAutoEncoder


FORMAT_NAME = "skae-autoencoder"
FORMAT_VERSION = 1
METADATA_KEY = "skae"
DIGEST_KEY = "skae_sha256"
MODULE_PREFIX = "module."



# ---------------------------------------------------------------------- what a file holds
# net_params a file may hold (with plain values): options of skorch's training loop.
NET_PARAMS = frozenset({
    "warm_start", "max_epochs", "batch_size", "lr", "verbose",
    "iterator_train__shuffle", "iterator_train__prefetch", "iterator_valid__prefetch",
    "iterator_train__pin_memory", "iterator_valid__pin_memory",
})
NET_PARAM_PREFIXES = ("optimizer__",)
# net_params that say how training runs (devices, compilation), not what the model
# computes: save drops them with a warning; a file holding them is refused.
DROPPED_NET_PARAMS = ("accelerator", "compile")
DROPPED_NET_PARAM_PREFIXES = ("compile__",)
# Parameters whose integers size the network, bounded by the stored weights at load.
SIZE_PARAMETERS = ("latent_dim", "hidden_layer_sizes", "channels", "kernel_size",
                    "layers_per_level")
_SCALARS = (bool, int, float, str, np.bool_, np.integer, np.floating)


def is_plain(value):
    """None, bools, numbers, strings, and lists, tuples and str-keyed dicts of those."""
    if value is None or isinstance(value, _SCALARS):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    return False


def _is_int(value, low):
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_shape(value, lengths):
    return (isinstance(value, tuple) and len(value) in lengths
            and all(_is_int(s, 1) for s in value))


# Checks of the fitted attributes that skae reads back (name: check, what it wants). A file
# may set other fitted attributes too, as save writes them: public names ending in one
# underscore that the class does not define, holding plain data.
FITTED_CHECKS = {
    "n_features_in_": (lambda v: _is_int(v, 1), "an int >= 1"),
    "output_activation_": (lambda v: isinstance(v, str) and v in _OUTPUT_ACTIVATIONS,
                           "'identity', 'sigmoid' or 'tanh'"),
    "input_scale_": (lambda v: _is_real(v) and 0 < v < math.inf, "a positive number"),
    "feature_names_in_": (lambda v: isinstance(v, np.ndarray) and v.ndim == 1
                          and all(isinstance(x, str) for x in v), "an array of strings"),
    "image_shape_": (lambda v: _is_shape(v, (2, 3)), "a tuple of 2 or 3 positive ints"),
    "sample_shape_": (lambda v: _is_shape(v, (1, 2, 3)), "a tuple of 1 to 3 positive ints"),
    "loss_curve_": (lambda v: isinstance(v, list) and all(_is_real(x) for x in v),
                    "a list of floats"),
    "n_epochs_": (lambda v: _is_int(v, 0), "an int >= 0"),
    "max_epochs_": (lambda v: _is_int(v, 1), "an int >= 1"),
    "batch_size_": (lambda v: _is_int(v, -1) and v != 0, "-1 or an int >= 1"),
}
_OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "tanh")
_FITTED_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?_")
_SET_BY_LOAD = ("net_", "history_")


# The estimators a file may hold, each with the fitted attributes that load needs.
_TABULAR = ("n_features_in_", "output_activation_")
_IMAGES = (*_TABULAR, "image_shape_", "sample_shape_")
ESTIMATORS = {DenseAutoEncoder: _TABULAR, LinearAutoEncoder: _TABULAR,
              ConvAutoEncoder: _IMAGES, VariationalDenseAutoEncoder: _TABULAR,
              VariationalConvAutoEncoder: _IMAGES}
ESTIMATOR_NAMES = ("DenseAutoEncoder, LinearAutoEncoder, ConvAutoEncoder or their "
                   "variational versions")


def is_fitted_name(cls, name):
    """A name that save writes and load sets: a public fitted attribute (``n_epochs_``)
    that is not a method, property or class attribute of ``cls``, nor ``net_``."""
    return (isinstance(name, str) and _FITTED_NAME.fullmatch(name) is not None
            and name not in _SET_BY_LOAD and not hasattr(cls, name))


def object_key(obj):
    return (getattr(obj, "__module__", None), getattr(obj, "__qualname__", None))


def _classes_in(module, base):
    return [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, base)
            and v.__module__.startswith(module.__name__)]


# Classes and functions a file may name, by (module, qualified name); nothing else
# resolves, and resolving imports nothing.
_NAMED = {object_key(obj): obj for obj in [
    *(c for c in _classes_in(torch.optim, torch.optim.Optimizer)
      if c is not torch.optim.Optimizer),
    *(c for c in _classes_in(torch.nn.modules.activation, torch.nn.Module)
      if c is not torch.nn.MultiheadAttention),
    torch.nn.Identity, losses.mse_loss, losses.l1_loss, losses.bce_loss,
]}
# Classes whose instances a file may hold, as their constructor arguments.
_OBJECT_CLASSES = {object_key(cls): cls for cls in [
    corruption.GaussianNoise, corruption.SaltAndPepper, corruption.PixelDropout,
    corruption.BlockMask, augmentation.RandomAffine, augmentation.RandomFlip,
    augmentation.RandomIntensity, augmentation.RandomShift, losses.SSIMLoss,
    losses.PerceptualLoss,
]}


def init_names(cls):
    return [name for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


# ---------------------------------------------------------------------- encoding
def encode(value, where):
    """A JSON-compatible description of ``value``; ValueError if it is not data."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, History):
        return {"__skae__": "history", "items": [encode(v, where) for v in value]}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"__skae__": "tuple", "items": [encode(v, where) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"{where}: dict keys must be strings to be saved as data.")
        return {"__skae__": "dict", "items": {k: encode(v, f"{where}[{k!r}]")
                                                for k, v in value.items()}}
    if isinstance(value, np.ndarray):
        return _encode_array(value, where)
    if isinstance(value, torch.device):
        return {"__skae__": "device", "value": str(value)}
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, cached = value.get_state()
        return {"__skae__": "random_state", "state": [name, keys.tolist(), int(pos),
                                                      int(has_gauss), float(cached)]}
    key = object_key(value)
    if _NAMED.get(key) is value:
        tag = "class" if isinstance(value, type) else "function"
        return {"__skae__": tag, "module": key[0], "name": key[1]}
    cls = type(value)
    if _OBJECT_CLASSES.get(object_key(cls)) is cls:
        params = {}
        for name in init_names(cls):
            if not hasattr(value, name):
                raise ValueError(f"{where}: {cls.__qualname__} does not keep its argument "
                                 f"{name!r}, so it cannot be saved as data.")
            params[name] = encode(getattr(value, name), f"{where}.{name}")
        return {"__skae__": "object", "module": cls.__module__, "name": cls.__qualname__,
                "params": params}
    raise ValueError(
        f"{where}={value!r} cannot be saved: a skae model file holds only data (numbers, "
        "strings, tuples, ...), skae's corruptions, augmentations and losses, and by name "
        "torch optimizer and activation classes. Use a built-in option, or pickle/joblib "
        "for files you trust."
    )


def _encode_array(value, where):
    if value.dtype.kind not in "biufUO" or value.dtype.shape:
        raise ValueError(f"{where}: arrays of dtype {value.dtype} cannot be saved.")
    items = value.ravel().tolist()
    if value.dtype.kind in "UO" and not all(isinstance(v, str) for v in items):
        raise ValueError(f"{where}: arrays of objects must hold strings to be saved.")
    dtype = "object" if value.dtype.kind == "O" else value.dtype.str
    return {"__skae__": "ndarray", "dtype": dtype, "shape": list(value.shape), "items": items}


def decode(value, where):
    """The value that ``encode`` described; only allowed names resolve, nothing imports."""
    if isinstance(value, list):
        return [decode(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("__skae__")
    if tag == "tuple":
        return tuple(decode(v, where) for v in value["items"])
    if tag == "dict":
        return {k: decode(v, f"{where}[{k!r}]") for k, v in value["items"].items()}
    if tag == "history":
        return History(decode(v, where) for v in value["items"])
    if tag == "ndarray":
        return _decode_array(value, where)
    if tag == "device":
        return torch.device(value["value"])
    if tag == "random_state":
        try:
            name, keys, pos, has_gauss, cached = value["state"]
            rs = np.random.RandomState()
            rs.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: invalid RandomState state: {exc}") from exc
        return rs
    if tag in ("class", "function"):
        return _resolve(_NAMED, value, where)
    if tag == "object":
        cls = _resolve(_OBJECT_CLASSES, value, where)
        params = value["params"]
        unknown = sorted(set(params) - set(init_names(cls)))
        if unknown:
            raise ValueError(f"{where}: {cls.__name__} takes no argument {unknown}.")
        try:
            return cls(**{k: decode(v, f"{where}.{k}") for k, v in params.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: invalid {cls.__name__} arguments: {exc}") from exc
    raise ValueError(f"{where}: unknown entry {value!r}.")


def _resolve(table, value, where):
    obj = table.get((value["module"], value["name"]))
    if obj is None:
        raise ValueError(
            f"{where} names {value['module']}.{value['name']}, which is not allowed: a skae "
            "model file may name only torch optimizers and activations and skae's losses, "
            "corruptions and augmentations."
        )
    return obj


def _decode_array(value, where):
    items, dtype = value["items"], value["dtype"]
    if dtype == "object" or np.dtype(dtype).kind == "U":
        if not all(isinstance(v, str) for v in items):
            raise ValueError(f"{where}: a string array holds other values.")
        array = np.array(items, dtype=object if dtype == "object" else str)
    else:
        dtype = np.dtype(dtype)
        if dtype.kind not in "biuf" or dtype.itemsize > 8 or dtype.shape:
            raise ValueError(f"{where}: arrays of dtype {dtype} are not allowed.")
        array = np.array(items, dtype=dtype)
    return array.reshape([int(s) for s in value["shape"]])
