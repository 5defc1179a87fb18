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


def make_pipeline(latent_dim=16, **params):
    return Pipeline(
        [
            ("ae", ConvAutoEncoder(latent_dim=latent_dim, **{**AE, **params})),
            ("umap", UMAP(n_neighbors=10, n_epochs=100, random_state=0, n_jobs=1)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )


def test_conv_umap_logistic_pipeline_on_real_images(images):
    # Held-out accuracy against the same pipeline on the network at its initial weights
    # (zero epochs: what a decoder that ignores its code would leave), on the same split.
    # A 4-number code: from a 16-number one UMAP recovers nearly as much with an
    # untrained network (0.56, against 0.51-0.65 after 10-30 epochs; PCA + UMAP: 0.67).
    # Measured with 4: 0.51 against 0.37 (random states 1 and 2: 0.57 / 0.35, 0.52 / 0.33).
    X, y = images
    trained = dict(latent_dim=4, max_epochs=30, lr=3e-3)
    pipe = make_pipeline(**trained).fit(X[:450], y[:450])
    accuracy = pipe.score(X[450:], y[450:])
    untrained = make_pipeline(**trained, net_params={"max_epochs": 0}).fit(X[:450], y[:450])
    baseline = untrained.score(X[450:], y[450:])
    assert accuracy > baseline + 0.08, (accuracy, baseline)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X[450:]), pipe.predict(X[450:]))
    assert clone(pipe).get_params()["ae__latent_dim"] == 4


def test_grid_search_over_latent_dim_in_pipeline(images):
    X, y = images
    search = GridSearchCV(make_pipeline(), {"ae__latent_dim": [2, 8]}, cv=2)
    search.fit(X[:300], y[:300])
    assert search.best_params_["ae__latent_dim"] in (2, 8)
    # The mechanics, not the quality (test_conv_umap_logistic_pipeline_on_real_images
    # compares with a baseline): the best score is the best mean over the folds.
    means = search.cv_results_["mean_test_score"]
    assert search.best_score_ == pytest.approx(means.max())
    assert search.cv_results_["params"][int(np.argmax(means))] == search.best_params_


def test_grid_search_without_scorer_prefers_the_larger_code(images):
    X, _ = images
    search = GridSearchCV(ConvAutoEncoder(**AE), {"latent_dim": [1, 16]}, cv=2).fit(X[:400])
    assert search.best_params_ == {"latent_dim": 16}
    assert search.best_score_ < 0  # minus a reconstruction error
