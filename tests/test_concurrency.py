"""Concurrent inference: 8 threads on one fitted model get what serial calls get.

Inference must not mutate shared state (no train/eval switching of the fitted module):
with dropout, a thread that saw another thread's training mode would draw a random mask
and return different numbers.
"""

import threading

import numpy as np
import pytest

from skae import AEAnomalyDetector, ConvAutoEncoder, DenseAutoEncoder
from skae.semi_supervised import EncoderClassifier

N_THREADS = 8
CALLS_PER_THREAD = 10
# Models fit on a few dozen rows; queries span several inference batches (1024 rows),
# so that threads interleave between batches, where a mode switch would show.
N_QUERY = 3000
CPU = dict(device="cpu", random_state=0)


def _concurrent_results(method, X):
    """``method(X)`` called ``CALLS_PER_THREAD`` times in each of ``N_THREADS`` threads."""
    barrier = threading.Barrier(N_THREADS)
    results = [[] for _ in range(N_THREADS)]
    errors = []

    def work(i):
        try:
            barrier.wait()
            for _ in range(CALLS_PER_THREAD):
                results[i].append(method(X))
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [result for thread_results in results for result in thread_results]


def _assert_concurrent_equals_serial(method, X, module):
    """Every concurrent result equals the serial one, bit for bit; no mode switched."""
    assert not module.training, "a fitted module is left in eval mode"
    serial = method(X)
    concurrent = _concurrent_results(method, X)
    assert len(concurrent) == N_THREADS * CALLS_PER_THREAD
    for result in concurrent:
        assert np.array_equal(result, serial)
    assert np.array_equal(method(X), serial)
    assert not module.training, "inference switched the module's mode"


@pytest.fixture(scope="module")
def table():
    return np.random.default_rng(0).normal(size=(48, 6)).astype(np.float32)


@pytest.fixture(scope="module")
def queries():
    return np.random.default_rng(1).normal(size=(N_QUERY, 6)).astype(np.float32)


def test_dense_autoencoder_transform(table, queries):
    ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, **CPU)
    ae.fit(table)
    _assert_concurrent_equals_serial(ae.transform, queries, ae.net_.module_)


def test_conv_autoencoder_transform():
    images = np.random.default_rng(0).random((N_QUERY, 8, 8), dtype=np.float32)
    ae = ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=2, **CPU).fit(images[:32])
    _assert_concurrent_equals_serial(ae.transform, images, ae.net_.module_)


def test_encoder_classifier_predict_proba_with_dropout(table, queries):
    y = (table[:, 0] > 0).astype(int)
    y[::4] = -1
    ae = DenseAutoEncoder(latent_dim=3, hidden_layer_sizes=(8,), max_epochs=1, **CPU)
    clf = EncoderClassifier(
        ae, hidden_layer_sizes=(16,), dropout=0.5, max_epochs=2, **CPU
    ).fit(table, y)
    _assert_concurrent_equals_serial(clf.predict_proba, queries, clf.net_.module_)


def test_anomaly_detector_score_samples(table, queries):
    ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, **CPU)
    detector = AEAnomalyDetector(ae, random_state=0).fit(table)
    module = detector.autoencoder_.net_.module_
    _assert_concurrent_equals_serial(detector.score_samples, queries, module)
