import os

import numpy as np
import pytest
import torch

# CI has two cores: under pytest-xdist each worker gets one torch thread, so workers do
# not oversubscribe the machine; SKAE_TEST_THREADS overrides.
_default_threads = "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2"
_threads = os.environ.get("SKAE_TEST_THREADS", _default_threads)
# numba (UMAP) otherwise starts one thread per core when it first runs, and its OpenMP
# layer then raises torch's thread count too; it reads this before it is imported.
os.environ.setdefault("NUMBA_NUM_THREADS", _threads)
torch.set_num_threads(int(_threads))


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Give torch back its thread count after each test: fitting UMAP runs numba's
    OpenMP layer, which can set the OpenMP thread count, torch's included, to every
    core; on two busy cores the autoencoders fitted after it then train many times
    slower."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fashion_subset():
    from skae.datasets import load_fashion_mnist_subset

    return load_fashion_mnist_subset(return_X_y=True)


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float64), y


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
