"""Training controls of skae's net: Ctrl+C keeps the last finished epoch, mixed precision,
torch.compile through ``net_params``, and the batched fast path."""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skae import DenseAutoEncoder, LinearAutoEncoder
from skae._data import ArrayDataset, BatchIterator


@pytest.fixture(scope="module")
def table():
    return np.random.RandomState(0).rand(64, 12).astype(np.float32)


class InterruptAt(Callback):
    """Raise KeyboardInterrupt (as Ctrl+C does) at a given batch of a given epoch."""

    def __init__(self, epoch, batch):
        self.epoch = epoch
        self.batch = batch

    def on_batch_end(self, net, training=False, **kwargs):
        if (training and len(net.history) == self.epoch
                and len(net.history[-1]["batches"]) == self.batch):
            raise KeyboardInterrupt


class RecordWeights(Callback):
    def on_train_begin(self, net, **kwargs):
        self.weights = [self._copy(net)]

    def on_epoch_end(self, net, **kwargs):
        self.weights.append(self._copy(net))

    @staticmethod
    def _copy(net):
        return {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


@pytest.mark.parametrize("epoch", [1, 3])
def test_keyboard_interrupt_keeps_last_finished_epoch(table, epoch):
    ae = DenseAutoEncoder(
        latent_dim=2, hidden_layer_sizes=(8,), max_epochs=5, batch_size=8, random_state=0,
        device="cpu", callbacks=[("record", RecordWeights()), ("stop", InterruptAt(epoch, 3))],
    )
    with pytest.warns(UserWarning, match=f"interrupted in epoch {epoch}"):
        ae.fit(table)
    record = dict(ae.net_.callbacks_)["record"]
    # weights[k] = after k finished epochs (weights[0] = initial weights)
    assert len(record.weights) == epoch
    expected = record.weights[epoch - 1]
    state = ae.net_.module_.state_dict()
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    # History and fitted attributes describe the finished epochs only; the model is usable.
    assert ae.n_epochs_ == len(ae.history_) == epoch - 1
    assert len(ae.loss_curve_) == epoch - 1
    assert ae.transform(table).shape == (len(table), 2)
    assert np.isfinite(ae.score(table))


def test_no_interrupt_no_warning_and_weights_of_last_epoch(table):
    ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, batch_size=16,
                          random_state=0, device="cpu", callbacks=[("record", RecordWeights())])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ae.fit(table)
    record = dict(ae.net_.callbacks_)["record"]
    state = ae.net_.module_.state_dict()
    assert all(torch.equal(state[k], record.weights[-1][k]) for k in state)


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_on_cpu(precision):
    # Dense: float16 convolutions on CPU are slow (CUDA runs are in test_cuda.py).
    X = np.random.RandomState(0).rand(48, 16).astype(np.float32)
    params = dict(latent_dim=3, hidden_layer_sizes=(8,), max_epochs=3, batch_size=16,
                  random_state=0, device="cpu")
    mixed = DenseAutoEncoder(precision=precision, **params).fit(X)
    full = DenseAutoEncoder(**params).fit(X)
    # Weights and codes stay float32; training follows the float32 run closely.
    assert all(p.dtype == torch.float32 for p in mixed.net_.module_.parameters())
    assert mixed.transform(X).dtype == np.float32
    np.testing.assert_allclose(mixed.loss_curve_, full.loss_curve_, rtol=0.05)
    assert mixed.loss_curve_[-1] < mixed.loss_curve_[0]
    if precision == "16-mixed":
        assert isinstance(mixed.net_.grad_scaler_, torch.amp.GradScaler)


def test_mixed_precision_autocasts_the_forward_pass():
    seen = []

    class Probe(Callback):
        def on_batch_end(self, net, training=False, batch=None, **kwargs):
            if training:
                Xi = batch[0]
                with net._autocast():
                    seen.append(net.module_.encoder(Xi).dtype)

    X = np.random.RandomState(0).rand(20, 6).astype(np.float32)
    DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(4,), max_epochs=1, random_state=0,
                     device="cpu", precision="bf16-mixed", callbacks=[Probe()]).fit(X)
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)


def test_fp16_with_lbfgs_is_a_clear_error(table):
    with pytest.raises(ValueError, match="L-BFGS"):
        LinearAutoEncoder(latent_dim=2, precision="16-mixed", device="cpu").fit(table)


def test_invalid_precision(table):
    with pytest.raises(ValueError, match="precision"):
        DenseAutoEncoder(precision="8").fit(table)


def test_torch_compile_through_net_params(table):
    """skorch's ``compile`` argument is reachable via net_params (eager backend: fast)."""
    params = dict(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0,
                  device="cpu")
    compiled = DenseAutoEncoder(
        net_params={"compile": True, "compile__backend": "eager"}, **params
    ).fit(table)
    plain = DenseAutoEncoder(**params).fit(table)
    assert isinstance(compiled.net_.module_, torch._dynamo.eval_frame.OptimizedModule)
    np.testing.assert_allclose(compiled.loss_curve_, plain.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(compiled.transform(table), plain.transform(table), atol=1e-5)


def test_batch_iterator_fetches_whole_batches_without_whole_copy():
    class CountingArray(np.ndarray):
        calls = 0

        def __getitem__(self, index):
            type(self).calls += 1
            return np.asarray(super().__getitem__(index))

    X = np.arange(100 * 3, dtype=np.uint8).reshape(100, 3).view(CountingArray)
    iterator = BatchIterator(ArrayDataset(X), batch_size=32, shuffle=True, seed=0)
    batches = list(iterator)
    assert CountingArray.calls == len(iterator) == 4  # one indexing call per batch
    Xb = torch.cat([b[0] for b in batches])
    # uint8 stays uint8 until it is on the device (4x fewer bytes to copy to a GPU)
    assert Xb.dtype == torch.uint8 and Xb.shape == (100, 3)
    # every sample exactly once per epoch, in a seeded order
    assert sorted(Xb[:, 0].tolist()) == sorted(np.asarray(X)[:, 0].tolist())
    again = torch.cat([b[0] for b in BatchIterator(ArrayDataset(X), 32, True, seed=0)])
    assert torch.equal(Xb, again)
    assert batches[0][1] is None  # target None: the net reconstructs X itself
    assert iterator.pin_memory is None  # decided by the net: True only on CUDA


def test_net_leaves_pin_memory_off_on_cpu(table):
    ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(4,), max_epochs=1,
                          random_state=0, device="cpu").fit(table)
    iterator = ae.net_.get_iterator(ArrayDataset(table), training=True)
    assert iterator.pin_memory is False
