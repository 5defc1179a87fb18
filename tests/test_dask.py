"""Scale-out: GridSearchCV over skae on a local dask.distributed cluster (joblib backend)."""

import distributed
import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import DenseAutoEncoder


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        worker_dashboard_address=None, silence_logs=40,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_breast_cancer

    X, _ = load_breast_cancer(return_X_y=True)
    return X[:200]


@pytest.mark.timeout(240)
def test_grid_search_latent_dim_on_dask(client, data):
    pipe = make_pipeline(
        StandardScaler(),
        DenseAutoEncoder(hidden_layer_sizes=(16,), max_epochs=3, batch_size=32,
                         random_state=0, device="cpu"),
    )
    grid = {"denseautoencoder__latent_dim": [1, 12]}
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_backend("dask"):
            search = GridSearchCV(pipe, grid, cv=2, n_jobs=-1).fit(data)
    # The fits ran as tasks on the cluster's two worker processes.
    workers = {task["worker"] for task in stream.data}
    assert len(stream.data) >= 1
    assert workers <= set(client.scheduler_info()["workers"])
    assert len(workers) == 2, workers
    # Same answer as a local search: results do not depend on where fits run.
    local = GridSearchCV(pipe, grid, cv=2, n_jobs=1).fit(data)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"],
        rtol=1e-5,
    )
    # More latent dimensions reconstruct better: 12 beats 1.
    assert search.best_params_["denseautoencoder__latent_dim"] == 12
    assert search.best_estimator_.transform(data).shape == (
        len(data), search.best_params_["denseautoencoder__latent_dim"])


@pytest.mark.timeout(240)
def test_cross_validate_on_dask(client, data):
    ae = DenseAutoEncoder(latent_dim=3, hidden_layer_sizes=(8,), max_epochs=2,
                          random_state=0, device="cpu")
    with joblib.parallel_backend("dask"):
        result = cross_validate(make_pipeline(StandardScaler(), ae), data, cv=3, n_jobs=-1)
    assert np.all(np.isfinite(result["test_score"]))
    assert len(result["test_score"]) == 3
