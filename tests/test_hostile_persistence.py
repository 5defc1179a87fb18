"""skae.persistence against forged files: a model file is data, and load only reads it.

Each forged file is a legitimately saved one whose JSON metadata or tensors were edited,
with the digest recomputed (it has no key, so a forger can always do that). The first
one is the chain that ran code with the old loader: ``LoadInitState(Checkpoint(...))``
plus ``torch_load_kwargs={"weights_only": False}`` made ``load(p).fit(X)`` unpickle a
file the attacker planted.
"""

import json
import os
import pickle
import resource
import sys
import time

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Checkpoint, LoadInitState

from skae import ConvAutoEncoder, DenseAutoEncoder, LinearAutoEncoder
from skae._model_file import encode as _encode
from skae.persistence import _digest, load, save

X = np.random.RandomState(0).rand(30, 6).astype(np.float32)
IMAGES = np.random.RandomState(1).rand(20, 8, 8).astype(np.float32)
FAST = dict(max_epochs=1, batch_size=16, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def dense():
    return DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), **FAST).fit(X)


@pytest.fixture(scope="module")
def conv():
    return ConvAutoEncoder(latent_dim=2, channels=(4,), **FAST).fit(IMAGES)


@pytest.fixture
def dense_file(dense, tmp_path):
    path = tmp_path / "dense.safetensors"
    save(dense, path)
    return path


@pytest.fixture
def conv_file(conv, tmp_path):
    path = tmp_path / "conv.safetensors"
    save(conv, path)
    return path


def forge(path, edit=None, edit_tensors=None):
    """A copy of the model file at ``path`` with its metadata document and/or tensors
    edited in place by the given functions, and a digest that matches again."""
    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        document = json.loads(f.metadata()["skae"])
    if edit is not None:
        edit(document)
    if edit_tensors is not None:
        edit_tensors(tensors)
    text = json.dumps(document, sort_keys=True)
    out = path.with_name("forged_" + path.name)
    metadata = {"skae": text, "skae_sha256": _digest(text, tensors)}
    save_file(tensors, str(out), metadata=metadata)
    return out


def obj(module, name, **params):
    return {"__skae__": "object", "module": module, "name": name, "params": params}


def dict_(**items):
    return {"__skae__": "dict", "items": items}


def checkpoint(**params):
    return obj("skorch.callbacks.training", "Checkpoint", **params)


class Payload:
    """Unpickling it creates the file ``marker``: proof that code from a file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_checkpoint(directory, marker):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "params.pt"), "wb") as f:
        pickle.dump(Payload(marker), f)


def set_param(name, value):
    def edit(document):
        document["params"][name] = value

    return edit


# ---------------------------------------------------------------- (a) the checkpoint chain
def test_save_refuses_the_checkpoint_chain(dense, tmp_path):
    chain = clone(dense).set_params(
        callbacks=[LoadInitState(Checkpoint(dirname=str(tmp_path / "ckpt")))],
        net_params={"torch_load_kwargs": {"weights_only": False}},
    )
    chain.__dict__.update({k: v for k, v in vars(dense).items() if k.endswith("_")})
    with pytest.raises(ValueError, match="parameter callbacks cannot be saved"):
        save(chain, tmp_path / "m.safetensors")
    chain.set_params(callbacks=None)
    with pytest.raises(ValueError, match=r"net_params\['torch_load_kwargs'\] cannot be saved"):
        save(chain, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


CHAIN_CALLBACKS = [obj(
    "skorch.callbacks.training", "LoadInitState",
    checkpoint=checkpoint(dirname="ckpt", f_history=None, f_optimizer=None,
                          f_criterion=None, event_name=None),
)]
CHAIN_NET_PARAMS = dict_(warm_start=True, torch_load_kwargs=dict_(weights_only=False))


@pytest.mark.parametrize(
    "edits, match",
    [
        ({"callbacks": CHAIN_CALLBACKS, "net_params": CHAIN_NET_PARAMS}, "callbacks"),
        ({"callbacks": CHAIN_CALLBACKS}, "callbacks"),
        ({"net_params": CHAIN_NET_PARAMS}, "torch_load_kwargs"),
    ],
    ids=["chain", "callbacks-only", "net_params-only"],
)
def test_load_refuses_the_checkpoint_chain(dense_file, tmp_path, monkeypatch, edits, match):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "code_ran"
    plant_checkpoint(tmp_path / "ckpt", marker)

    def edit(document):
        document["params"].update(edits)

    forged = forge(dense_file, edit)
    with pytest.raises(ValueError, match=f"is refused: the file sets .*{match}"):
        load(forged)
    # Whatever a user does next with a model loaded from the genuine file, the planted
    # checkpoint is never read: there is nothing in the model that would read it.
    model = load(dense_file)
    assert model.get_params()["callbacks"] is None
    model.fit(X)
    clone(model).fit(X)
    GridSearchCV(model, {"latent_dim": [2]}, cv=2).fit(X)
    assert not marker.exists()


# ---------------------------------------------------------------- (b) absolute f_params
def test_checkpoint_writing_an_absolute_path_is_refused(dense, dense_file, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_bytes(b"precious")
    writer = clone(dense).set_params(callbacks=[Checkpoint(f_params=str(target))])
    writer.__dict__.update({k: v for k, v in vars(dense).items() if k.endswith("_")})
    with pytest.raises(ValueError, match="parameter callbacks cannot be saved"):
        save(writer, tmp_path / "m.safetensors")

    forged = forge(dense_file, set_param("callbacks", [checkpoint(f_params=str(target))]))
    with pytest.raises(ValueError, match="callbacks"):
        load(forged)
    assert target.read_bytes() == b"precious"


# ---------------------------------------------------------------- (c) no disk, no imports
def _tree(root):
    return sorted(os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files)


def test_load_creates_no_directory(dense_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = tmp_path / "made_by_load"
    forged = forge(dense_file, set_param("callbacks", [checkpoint(dirname=str(made))]))
    before = _tree(tmp_path)
    with pytest.raises(ValueError, match="callbacks"):
        load(forged)
    load(dense_file)  # a genuine file creates nothing either
    assert not made.exists()
    assert _tree(tmp_path) == before


PROBE = "skae_hostile_probe"
PROBE_CLASS = {"__skae__": "class", "module": PROBE, "name": "Boom"}
PROBE_FUNCTION = {"__skae__": "function", "module": PROBE, "name": "boom"}


def _names_probe_as_class(document):
    document["class"] = {"module": PROBE, "name": "Boom"}


@pytest.mark.parametrize(
    "edit",
    [
        set_param("activation", PROBE_CLASS),
        set_param("optimizer", {"__skae__": "class", "module": f"torch.optim.{PROBE}",
                                "name": "Boom"}),
        set_param("loss", PROBE_FUNCTION),
        set_param("loss", {"__skae__": "function", "module": f"skae.{PROBE}", "name": "boom"}),
        set_param("corruption", obj(PROBE, "Boom")),
        set_param("optimizer_params", dict_(foreach=PROBE_CLASS)),
        set_param("net_params", dict_(compile=True, compile__backend=PROBE)),
        _names_probe_as_class,
    ],
    ids=["activation", "torch-prefix", "loss", "skae-prefix", "object", "nested",
         "compile-backend", "estimator-class"],
)
def test_load_imports_nothing_named_in_the_file(dense_file, tmp_path, monkeypatch, edit):
    marker = tmp_path / "imported"
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / f"{PROBE}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Boom: pass\ndef boom(*a): pass\n"
    )
    monkeypatch.syspath_prepend(str(probe_dir))
    forged = forge(dense_file, edit)
    load(dense_file)  # let a genuine load do its own (lazy) imports first
    modules = set(sys.modules)
    with pytest.raises(ValueError, match="not allowed|never holds|holds a "):
        load(forged)
    assert set(sys.modules) == modules
    assert PROBE not in sys.modules
    assert not marker.exists()


# ---------------------------------------------------------------- (d) undeclared names
@pytest.mark.parametrize("name", ["__class__", "__dict__", "fit", "transform", "_foo",
                                  "_parameter_constraints", "net_", "history_", "encoder_",
                                  "n_features_in", "foo__", "a b_"])
def test_undeclared_fitted_attribute_is_refused(dense_file, name):
    def edit(document):
        document["fitted"][name] = 1

    with pytest.raises(ValueError, match="does not declare"):
        load(forge(dense_file, edit))


@pytest.mark.parametrize("name", ["__class__", "_foo", "fit", "net_", "n_features_in_"])
def test_undeclared_parameter_is_refused(dense_file, name):
    with pytest.raises(ValueError, match="does not declare"):
        load(forge(dense_file, set_param(name, 1)))


@pytest.mark.parametrize(
    "name, value",
    [("n_features_in_", -3), ("n_features_in_", "6"), ("output_activation_", "os.system"),
     ("loss_curve_", {"__skae__": "dict", "items": {}}), ("max_epochs_", 0)],
)
def test_fitted_attribute_of_the_wrong_kind_is_refused(dense_file, name, value):
    def edit(document):
        document["fitted"][name] = value

    with pytest.raises(ValueError, match=f"attribute {name}=.* must be"):
        load(forge(dense_file, edit))


@pytest.mark.parametrize(
    "value",
    [{"__skae__": "class", "module": "torch.optim.sgd", "name": "SGD"},
     obj("skae.corruption", "GaussianNoise", std=0.1, clip=None),
     _encode(np.random.RandomState(0), "extra_")],
    ids=["class", "object", "random-state"],
)
def test_other_fitted_attributes_hold_only_data(dense_file, value):
    """A fitted name that save did not write is inert data, or refused."""
    def edit(document):
        document["fitted"]["extra_"] = value

    with pytest.raises(ValueError, match="extra_"):
        load(forge(dense_file, edit))


# ---------------------------------------------------------------- (e) huge networks
def _huge_dense_features(document):
    document["fitted"]["n_features_in_"] = 10**9
    document["network_shape"] = [10**9]


@pytest.mark.parametrize(
    "which, edit",
    [
        ("dense", set_param("latent_dim", 10**9)),
        ("dense", set_param("hidden_layer_sizes", {"__skae__": "tuple",
                                                   "items": [200_000, 200_000]})),
        ("dense", _huge_dense_features),
        ("conv", set_param("layers_per_level", 10**9)),
        ("conv", set_param("channels", {"__skae__": "tuple", "items": [10**6]})),
        ("conv", set_param("kernel_size", 10**5 + 1)),
    ],
    ids=["latent_dim", "hidden_160GB", "n_features", "layers_per_level", "channels",
         "kernel_size"],
)
def test_huge_network_is_refused_quickly(dense_file, conv_file, which, edit):
    path = dense_file if which == "dense" else conv_file
    forged = forge(path, edit)
    assert forged.stat().st_size < 20_000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    with pytest.raises(ValueError, match="larger than the weights stored|more than the"):
        load(forged)
    assert time.perf_counter() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000


@pytest.mark.parametrize(
    "edit",
    [set_param("latent_dim", 3),
     set_param("hidden_layer_sizes", {"__skae__": "tuple", "items": [9]})],
    ids=["latent_dim", "hidden_layer_sizes"],
)
def test_network_other_than_the_weights_is_refused(dense_file, edit):
    with pytest.raises(ValueError, match="do not fit the network"):
        load(forge(dense_file, edit))


# ---------------------------------------------------------------- (f) tampered weights
def _first(tensors):
    return sorted(tensors)[0]


def _shrink(tensors):
    name = _first(tensors)
    tensors[name] = tensors[name][:-1].clone()


def _grow(tensors):
    name = _first(tensors)
    tensors[name] = torch.cat([tensors[name], tensors[name]]).contiguous()


def _as_float64(tensors):
    name = _first(tensors)
    tensors[name] = tensors[name].double()


def _drop(tensors):
    del tensors[_first(tensors)]


def _extra(tensors):
    tensors["module.extra.weight"] = torch.zeros(3)


@pytest.mark.parametrize("edit_tensors", [_shrink, _grow, _as_float64, _drop, _extra],
                         ids=["shrink", "grow", "float64", "missing", "extra"])
def test_tampered_weights_are_refused(dense_file, edit_tensors):
    with pytest.raises(ValueError, match="do not fit the network"):
        load(forge(dense_file, edit_tensors=edit_tensors))


def test_tensor_outside_the_network_is_refused(dense_file):
    def edit_tensors(tensors):
        tensors["optimizer.state"] = torch.zeros(2)

    with pytest.raises(ValueError, match="outside the network"):
        load(forge(dense_file, edit_tensors=edit_tensors))


# ---------------------------------------------------------------- other forged values
@pytest.mark.parametrize(
    "name, value",
    [
        ("corruption", checkpoint(dirname="x")),
        ("corruption", obj("skae.corruption", "GaussianNoise", std=0.1, path="/etc")),
        ("loss", {"__skae__": "function", "module": "os", "name": "system"}),
        ("loss", {"__skae__": "function", "module": "torch", "name": "load"}),
        ("optimizer", {"__skae__": "class", "module": "torch.optim.optimizer",
                       "name": "Optimizer"}),
        ("random_state", {"__skae__": "pickle", "data": "gASV"}),
        ("net_params", dict_(iterator_train={"__skae__": "class", "module": "skae._net",
                                             "name": "BatchIterator"})),
        ("net_params", dict_(callbacks__print_log__sink=PROBE_FUNCTION)),
        ("net_params", dict_(accelerator=None)),
    ],
    ids=["checkpoint-as-corruption", "unknown-argument", "os.system", "torch.load",
         "optimizer-base", "unknown-tag", "iterator", "callbacks__", "accelerator"],
)
def test_forged_values_are_refused(dense_file, name, value):
    with pytest.raises(ValueError, match="is refused"):
        load(forge(dense_file, set_param(name, value)))


def test_huge_string_dtype_is_not_allocated(dense, tmp_path):
    import pandas as pd

    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    path = tmp_path / "named.safetensors"
    save(clone(dense).fit(frame), path)

    def edit(document):
        document["fitted"]["feature_names_in_"]["dtype"] = "<U100000000"

    loaded = load(forge(path, edit))
    assert list(loaded.feature_names_in_) == list(frame.columns)
    assert loaded.feature_names_in_.dtype.itemsize < 100


# ---------------------------------------------------------------- what save keeps and drops
def test_save_drops_how_training_runs_with_a_warning(dense, tmp_path):
    est = clone(dense).set_params(net_params={
        "compile": True, "compile__backend": "eager", "accelerator": object(),
        "warm_start": False, "optimizer__weight_decay": 1e-4,
    })
    est.__dict__.update({k: v for k, v in vars(dense).items() if k.endswith("_")})
    with pytest.warns(UserWarning, match="not saved") as record:
        save(est, tmp_path / "m.safetensors")
    assert len(record) == 3
    loaded = load(tmp_path / "m.safetensors")
    assert loaded.net_params == {"warm_start": False, "optimizer__weight_decay": 1e-4}
    np.testing.assert_array_equal(loaded.transform(X), dense.transform(X))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(optimizer_params={"foreach": object()}), "optimizer_params"),
        (dict(net_params={"iterator_train__collate_fn": list}), "iterator_train__collate_fn"),
        (dict(net_params={"optimizer__lr": lambda: 1}), "optimizer__lr"),
        (dict(activation=torch.nn.Linear), "activation"),
        (dict(optimizer=type("MyOptim", (torch.optim.SGD,), {})), "optimizer"),
    ],
    ids=["optimizer_params", "iterator", "lambda-value", "non-activation", "own-optimizer"],
)
def test_save_refuses_what_is_not_data(dense, tmp_path, params, match):
    est = clone(dense).set_params(**params)
    est.__dict__.update({k: v for k, v in vars(dense).items() if k.endswith("_")})
    with pytest.raises(ValueError, match=match):
        save(est, tmp_path / "m.safetensors")


def test_linear_and_conv_files_round_trip(conv, conv_file, tmp_path):
    linear = LinearAutoEncoder(latent_dim=2, **FAST).fit(X)
    save(linear, tmp_path / "linear.safetensors")
    np.testing.assert_array_equal(load(tmp_path / "linear.safetensors").transform(X),
                                  linear.transform(X))
    np.testing.assert_array_equal(load(conv_file).transform(IMAGES), conv.transform(IMAGES))
