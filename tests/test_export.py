"""skae.export: the exported encoder gives the estimator's codes."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skae import ConvAutoEncoder, DenseAutoEncoder, LinearAutoEncoder
from skae.export import encoder_input_shape, export_encoder

# torch's exporters warn about their own internals (pytree LeafSpec); not ours.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec:FutureWarning")


def _models():
    rng = np.random.RandomState(0)
    images = rng.rand(40, 9, 11).astype(np.float32)  # odd sizes on purpose
    rgb = rng.rand(30, 3, 8, 8).astype(np.float32)
    signals = rng.rand(30, 20).astype(np.float32)
    table = rng.rand(40, 7)  # float64 in, float64 codes out
    return [
        (ConvAutoEncoder(latent_dim=3, channels=(4, 8), max_epochs=1, random_state=0), images),
        (ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=1, random_state=0), rgb),
        (ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=1, random_state=0), signals),
        (DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=1,
                          random_state=0), table),
        (LinearAutoEncoder(latent_dim=2, max_epochs=2, random_state=0), table),
    ]


@pytest.fixture(scope="module")
def fitted():
    return [(est.set_params(device="cpu").fit(X), X) for est, X in _models()]


def _network_input(est, X):
    return np.ascontiguousarray(X, dtype=np.float32).reshape(len(X), *encoder_input_shape(est))


def test_onnx_codes_match_transform(fitted, tmp_path):
    import onnxruntime as ort

    for i, (est, X) in enumerate(fitted):
        path = export_encoder(est, tmp_path / f"enc{i}.onnx")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        for n in (1, len(X)):  # dynamic batch size, including a single sample
            (codes,) = session.run(None, {"x": _network_input(est, X[:n])})
            assert codes.shape == (n, est.latent_dim)
            np.testing.assert_allclose(codes, est.transform(X[:n]), rtol=1e-4, atol=1e-5)


def test_torch_export_codes_match_transform(fitted, tmp_path):
    for i, (est, X) in enumerate(fitted[:2]):
        path = export_encoder(est, tmp_path / f"enc{i}.pt2", format="torch.export")
        module = torch.export.load(path).module()
        for n in (1, len(X)):
            codes = module(torch.from_numpy(_network_input(est, X[:n]))).numpy()
            np.testing.assert_allclose(codes, est.transform(X[:n]), rtol=1e-5, atol=1e-6)


def test_export_leaves_estimator_untouched(fitted, tmp_path):
    est, X = fitted[0]
    before = est.transform(X)
    training = est.net_.module_.training
    export_encoder(est, tmp_path / "enc.pt2", format="torch.export")
    assert est.net_.module_.training == training
    assert all(p.requires_grad for p in est.net_.module_.parameters())
    np.testing.assert_array_equal(est.transform(X), before)


def test_export_errors(tmp_path):
    with pytest.raises(NotFittedError):
        export_encoder(ConvAutoEncoder(), tmp_path / "x.onnx")
    est = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(4,), max_epochs=1,
                           random_state=0).fit(np.random.rand(20, 3))
    with pytest.raises(ValueError, match="format"):
        export_encoder(est, tmp_path / "x.bin", format="pickle")
