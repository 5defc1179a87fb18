"""skae autoencoders composed with sklearn: Pipeline with UMAP, GridSearchCV, clone."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from umap import UMAP

from skae import ConvAutoEncoder

AE = dict(channels=(8, 16), max_epochs=10, batch_size=64, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def images(fashion_subset):
    X, y = fashion_subset
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))[:600]
    return X[idx], y[idx]


def make_pipeline(latent_dim=16):
    return Pipeline(
        [
            ("ae", ConvAutoEncoder(latent_dim=latent_dim, **AE)),
            ("umap", UMAP(n_neighbors=10, n_epochs=100, random_state=0, n_jobs=1)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )


def test_conv_umap_logistic_pipeline_on_real_images(images):
    X, y = images
    pipe = make_pipeline().fit(X[:450], y[:450])
    accuracy = pipe.score(X[450:], y[450:])
    # Ten classes: chance is 0.1; 0.49 in CI and above 0.5 here (thread counts differ).
    assert accuracy > 0.4
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X[450:]), pipe.predict(X[450:]))
    assert clone(pipe).get_params()["ae__latent_dim"] == 16


def test_grid_search_over_latent_dim_in_pipeline(images):
    X, y = images
    search = GridSearchCV(make_pipeline(), {"ae__latent_dim": [2, 8]}, cv=2)
    search.fit(X[:300], y[:300])
    assert search.best_params_["ae__latent_dim"] in (2, 8)
    assert search.best_score_ > 0.2  # twice chance, with 150 training images per fold


def test_grid_search_without_scorer_prefers_the_larger_code(images):
    X, _ = images
    search = GridSearchCV(ConvAutoEncoder(**AE), {"latent_dim": [1, 16]}, cv=2).fit(X[:400])
    assert search.best_params_ == {"latent_dim": 16}
    assert search.best_score_ < 0  # minus a reconstruction error
