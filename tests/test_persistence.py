"""skae.persistence: safe save/load round trips, integrity errors, pickle still works."""

import json
import pickle
import struct

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skae import ConvAutoEncoder, DenseAutoEncoder, LinearAutoEncoder
from skae.corruption import GaussianNoise
from skae.persistence import load, save


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).rand(40, 8, 8).astype(np.float32)


@pytest.fixture(scope="module")
def fitted_models(images):
    table = images.reshape(len(images), -1)
    return [
        (
            ConvAutoEncoder(
                latent_dim=3, channels=(4,), max_epochs=2, random_state=0,
                corruption=GaussianNoise(0.1), activation=torch.nn.GELU,
                optimizer=torch.optim.SGD, device="cpu",
            ).fit(images),
            images,
        ),
        (
            DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2,
                             random_state=np.random.RandomState(1)).fit(table),
            table,
        ),
        (LinearAutoEncoder(latent_dim=2, max_epochs=2, random_state=0).fit(table), table),
    ]


def _outputs(est, X):
    codes = est.transform(X)
    return [codes, est.inverse_transform(codes), est.reconstruct(X),
            est.reconstruction_error(X), np.array(est.score(X))]


def _assert_same_params(got, expected):
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, np.random.RandomState):
            a, b = got[key].get_state(), value.get_state()
            assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]
        else:
            assert type(got[key]) is type(value), key
            assert repr(got[key]) == repr(value), key


def test_round_trip_identical_outputs(fitted_models, tmp_path):
    for i, (est, X) in enumerate(fitted_models):
        path = tmp_path / f"model{i}.safetensors"
        save(est, path)
        loaded = load(path)
        assert type(loaded) is type(est)
        for a, b in zip(_outputs(est, X), _outputs(loaded, X)):
            np.testing.assert_array_equal(a, b)
        assert loaded.loss_curve_ == est.loss_curve_
        assert loaded.n_epochs_ == est.n_epochs_
        assert loaded.n_features_in_ == est.n_features_in_
        assert len(loaded.history_) == len(est.history_)
        assert loaded.history_[-1, "train_loss"] == est.history_[-1, "train_loss"]
        _assert_same_params(loaded.get_params(deep=False), est.get_params(deep=False))
        # the loaded model can be refitted
        loaded.set_params(max_epochs=1).fit(X)


def test_feature_names_and_tuples_survive(tmp_path):
    import pandas as pd

    X = pd.DataFrame(np.random.RandomState(0).rand(30, 3), columns=["a", "b", "c"])
    est = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(4, 3), max_epochs=1,
                           random_state=0).fit(X)
    save(est, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert loaded.hidden_layer_sizes == (4, 3)
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    assert list(loaded.get_feature_names_out()) == list(est.get_feature_names_out())


def test_loaded_model_does_not_touch_global_rng(fitted_models, tmp_path):
    est, _ = fitted_models[1]
    save(est, tmp_path / "m.safetensors")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load(tmp_path / "m.safetensors")
    assert torch.equal(torch.rand(3), expected)


def test_truncated_file_gives_clear_error(fitted_models, tmp_path):
    path = tmp_path / "m.safetensors"
    save(fitted_models[0][0], path)
    raw = path.read_bytes()
    for cut in (4, 20, len(raw) // 2, len(raw) - 1):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="truncated|corrupted|modified"):
            load(bad)


def test_tampered_weights_give_clear_error(fitted_models, tmp_path):
    path = tmp_path / "m.safetensors"
    save(fitted_models[0][0], path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # flip bits inside the last tensor's data
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="modified or corrupted"):
        load(path)


def _rewrite_metadata(path, edit):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header["__metadata__"])
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def test_tampered_metadata_gives_clear_error(fitted_models, tmp_path):
    path = tmp_path / "m.safetensors"
    save(fitted_models[1][0], path)

    def edit(meta):
        meta["skae"] = meta["skae"].replace('"latent_dim": 2', '"latent_dim": 3')

    _rewrite_metadata(path, edit)
    with pytest.raises(ValueError, match="modified or corrupted"):
        load(path)


def test_file_cannot_name_arbitrary_code(fitted_models, tmp_path):
    """Even with a matching digest, a file naming os.system is refused, not run."""
    from skae.persistence import _digest

    path = tmp_path / "m.safetensors"
    save(fitted_models[1][0], path)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}

    def edit(meta):
        doc = json.loads(meta["skae"])
        doc["params"]["loss"] = {"__skae__": "function", "module": "os", "name": "system"}
        meta["skae"] = json.dumps(doc, sort_keys=True)
        meta["skae_sha256"] = _digest(meta["skae"], tensors)

    _rewrite_metadata(path, edit)
    with pytest.raises(ValueError, match="not allowed"):
        load(path)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"hello world, not a model")
    with pytest.raises(ValueError, match="not a readable skae model file"):
        load(path)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not written by skae"):
        load(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.safetensors")


def test_save_refuses_code_and_unfitted(tmp_path, images):
    with pytest.raises(NotFittedError):
        save(ConvAutoEncoder(), tmp_path / "m.safetensors")
    table = images.reshape(len(images), -1)
    est = DenseAutoEncoder(
        latent_dim=2, hidden_layer_sizes=(4,), max_epochs=1, random_state=0,
        loss=lambda a, b: ((a - b) ** 2).mean(dim=1),
    ).fit(table)
    with pytest.raises(ValueError, match="parameter loss"):
        save(est, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="skae autoencoder"):
        save(object(), tmp_path / "m.safetensors")


def test_pickle_keeps_working(fitted_models):
    for est, X in fitted_models:
        clone = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(clone.transform(X), est.transform(X))


def test_pickle_with_early_stopping_and_no_epoch_log():
    """Early stopping with ``verbose=0`` (the default on small sets) pickles: its silent
    log sink was a lambda, which pickle refuses."""
    table = np.random.RandomState(0).rand(60, 8).astype(np.float32)
    ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=3,
                          early_stopping=True, verbose=0, device="cpu",
                          random_state=0).fit(table)
    copy = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(copy.transform(table), ae.transform(table))


def test_device_argument(fitted_models, tmp_path):
    est, X = fitted_models[0]
    save(est, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors", device="cpu")
    assert loaded.device == "cpu"
    assert next(loaded.net_.module_.parameters()).device.type == "cpu"


def test_cuda_parameter_loads_on_cpu_without_cuda(fitted_models, tmp_path):
    """A model saved with device='cuda' (e.g. trained on a GPU) loads on a CPU machine."""
    if torch.cuda.is_available():
        pytest.skip("covered by tests/test_cuda.py where CUDA exists")
    est, X = fitted_models[1]
    path = tmp_path / "m.safetensors"
    save(est, path)
    from safetensors import safe_open

    from skae.persistence import _digest

    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}

    def edit(meta):
        doc = json.loads(meta["skae"])
        doc["params"]["device"] = "cuda"
        doc["trained_on"] = "cuda"
        meta["skae"] = json.dumps(doc, sort_keys=True)
        meta["skae_sha256"] = _digest(meta["skae"], tensors)

    _rewrite_metadata(path, edit)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        loaded = load(path)
    assert loaded.device == "cuda"
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def _fitted_attributes(est):
    return {k: v for k, v in vars(est).items()
            if k.endswith("_") and not k.startswith("_") and k not in ("net_", "history_")}


def _fit_options(images):
    from skae.augmentation import RandomFlip
    from skae.corruption import BlockMask, PixelDropout
    from skae.losses import SSIMLoss, l1_loss

    table = images.reshape(len(images), -1)
    conv = ConvAutoEncoder(
        latent_dim=2, channels=(4, 4), max_epochs=1, random_state=0, device="cpu",
        loss=SSIMLoss(window_size=3), corruption=[PixelDropout(0.1), BlockMask(2)],
        contrastive=RandomFlip(), optimizer_params={"weight_decay": 1e-5},
    )
    return [
        (conv, lambda est: est.fit_pairs(images, images), images),
        (DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=[6, 4], max_epochs=2,
                          early_stopping=True, random_state=0, loss=l1_loss,
                          optimizer=torch.optim.AdamW, activation=torch.nn.SiLU,
                          net_params={"warm_start": False, "optimizer__amsgrad": True}),
         lambda est: est.fit(table), table),
        (LinearAutoEncoder(latent_dim=2, max_epochs=2, random_state=0),
         lambda est: est.fit(table.astype(np.float64)), table),
    ]


def test_every_fitted_attribute_and_option_survives(images, tmp_path):
    """Whatever fit sets (new fitted attributes included) is saved and loaded back."""
    for i, (est, fit, X) in enumerate(_fit_options(images)):
        fit(est)
        path = tmp_path / f"m{i}.safetensors"
        save(est, path)
        loaded = load(path)
        expected, got = _fitted_attributes(est), _fitted_attributes(loaded)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(got[name], value)
            else:
                assert repr(got[name]) == repr(value), name
        _assert_same_params(loaded.get_params(deep=False), est.get_params(deep=False))
        np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
        assert not loaded.net_.module_.training  # inference mode, as after fit
