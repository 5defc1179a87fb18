"""Hostile or absurd training input: clear errors, nothing half-fitted, nothing mutated."""

import warnings

import numpy as np
import pytest
from skorch.callbacks import Callback

from skae import AEAnomalyDetector, ConvAutoEncoder, DenseAutoEncoder
from skae.exceptions import TrainingDivergedError

SMALL = dict(latent_dim=2, hidden_layer_sizes=(4,), max_epochs=2, batch_size=8,
             random_state=0, device="cpu")


def _table(n=32, d=4, seed=0):
    """Standardised-looking values (the identity output layer, no sigmoid to saturate)."""
    return np.random.RandomState(seed).randn(n, d)


@pytest.mark.parametrize("value", [1e39, -1e300])
def test_values_beyond_float32_are_refused(value):
    X = _table()
    X[3, 1] = value
    with pytest.raises(ValueError, match="outside float32's range"):
        DenseAutoEncoder(**SMALL).fit(X)
    ae = DenseAutoEncoder(**SMALL).fit(_table())
    for method in (ae.transform, ae.reconstruct, ae.score):
        with pytest.raises(ValueError, match="outside float32's range"):
            method(X)


def test_detector_refuses_out_of_range_values_instead_of_calling_them_inliers():
    X = _table(40)
    detector = AEAnomalyDetector(DenseAutoEncoder(**SMALL), random_state=0).fit(X)
    bad = X[:2].copy()
    bad[0, 0] = 1e39
    with pytest.raises(ValueError, match="outside float32's range"):
        detector.predict(bad)


def test_exploding_loss_is_divergence():
    X = _table(64)
    ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(16,), lr=1000.0, max_epochs=30,
                          batch_size=8, random_state=0, device="cpu")
    with pytest.raises(TrainingDivergedError, match="exploded|became"):
        ae.fit(X)


def test_failed_refit_keeps_the_previous_model():
    X = _table()
    ae = DenseAutoEncoder(**SMALL).fit(X)
    codes, net = ae.transform(X), ae.net_
    with pytest.raises(ValueError):
        ae.fit(np.full((10, 7), np.nan))
    assert ae.net_ is net and ae.n_features_in_ == 4
    np.testing.assert_array_equal(ae.transform(X), codes)
    ae.set_params(lr=1e6, optimizer="sgd", max_epochs=5)
    with pytest.raises(TrainingDivergedError):
        ae.fit(_table(32, 6))
    assert ae.net_ is net and ae.n_features_in_ == 4
    np.testing.assert_array_equal(ae.transform(X), codes)


def test_failed_first_fit_leaves_an_unfitted_estimator():
    ae = ConvAutoEncoder(latent_dim=2, channels=(4, 8, 16), max_epochs=1, device="cpu")
    with pytest.raises(ValueError, match="too small"):
        ae.fit(np.random.rand(4, 4, 4))
    assert not [k for k in vars(ae) if k.endswith("_") and not k.startswith("_")]


def test_warm_start_continues_training():
    X = _table(64)
    params = dict(SMALL, max_epochs=3, net_params={"warm_start": True})
    ae = DenseAutoEncoder(**params).fit(X)
    first_net, first_loss = ae.net_, ae.loss_curve_[-1]
    ae.fit(X)
    assert ae.net_ is first_net
    assert ae.n_epochs_ == 6 and len(ae.loss_curve_) == 6
    assert ae.loss_curve_[-1] < first_loss
    cold = DenseAutoEncoder(**dict(SMALL, max_epochs=3)).fit(X)
    assert cold.n_epochs_ == 3
    with pytest.raises(ValueError, match="warm_start"):
        ae.fit(_table(64, 5))


def test_bogus_device_is_a_clear_error():
    with pytest.raises(ValueError, match="not a device PyTorch knows"):
        DenseAutoEncoder(**dict(SMALL, device="bogus")).fit(_table())


@pytest.mark.parametrize("callbacks", [[object()], ["name"], [("name", object())]])
def test_non_callbacks_are_a_clear_error(callbacks):
    with pytest.raises(ValueError, match="skorch callbacks"):
        DenseAutoEncoder(**SMALL, callbacks=callbacks).fit(_table())


def test_named_and_plain_callbacks_accepted():
    class Count(Callback):
        def initialize(self):
            self.epochs_ = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs_ += 1

    ae = DenseAutoEncoder(**SMALL, callbacks=[Count(), ("counter", Count())]).fit(_table())
    counters = [cb for _, cb in ae.net_.callbacks_ if isinstance(cb, Count)]
    assert [c.epochs_ for c in counters] == [2, 2]


def test_fit_does_not_modify_the_callers_array():
    X = _table()
    X.setflags(write=False)
    before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        DenseAutoEncoder(**SMALL).fit(X)
    np.testing.assert_array_equal(X, before)
