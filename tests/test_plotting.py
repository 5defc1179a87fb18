"""Tests of skae.plotting: error-map figures for images and table rows."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skae import AEAnomalyDetector, DenseAutoEncoder  # noqa: E402
from skae.plotting import plot_error_maps, plot_top_anomalies  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_images_three_panels_per_row():
    X = np.random.RandomState(0).rand(3, 10, 12)
    fig = plot_error_maps(X, X * 0.5, X**2, titles=["a", "b", "c"])
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 9  # sample, reconstruction, error map per row
    # The error map shows the given errors, not a recomputed difference.
    np.testing.assert_allclose(image_axes[2].images[0].get_array(), X[0] ** 2)
    assert image_axes[0].get_title().startswith("a")
    assert len(fig.axes) == 12  # plus one colour bar per row


def test_channel_first_images():
    X = np.random.RandomState(0).rand(2, 3, 8, 8)
    fig = plot_error_maps(X, X, np.zeros_like(X))
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert shown[0].shape == (8, 8, 3)  # colour image as (H, W, C)
    assert shown[2].shape == (8, 8)  # error summed over channels


def test_single_channel_images_are_grey():
    X = np.random.RandomState(0).rand(2, 1, 8, 8)
    fig = plot_error_maps(X, X, X)
    assert fig.axes[0].images[0].get_array().shape == (8, 8)


def test_vectors_as_lines_and_bars():
    X = np.random.RandomState(0).rand(2, 5)
    fig = plot_error_maps(X, X + 0.1, np.full_like(X, 0.01), feature_names=list("abcde"))
    assert len(fig.axes) == 4
    assert len(fig.axes[0].lines) == 2
    assert len(fig.axes[1].patches) == 5
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == list("abcde")


def test_draws_on_given_figure():
    fig = plt.figure()
    X = np.ones((1, 4, 4))
    assert plot_error_maps(X, X, X, fig=fig) is fig


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(reconstructions=np.ones((2, 4, 4))), "must match"),
        (dict(titles=["only one"]), "titles"),
        (dict(X=np.ones(4), reconstructions=np.ones(4), error_maps=np.ones(4)), "one sample"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(X=np.ones((3, 4, 4)), reconstructions=np.ones((3, 4, 4)),
                error_maps=np.ones((3, 4, 4)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plot_error_maps(**args)


def test_wrong_number_of_feature_names():
    X = np.ones((1, 3))
    with pytest.raises(ValueError, match="feature_names"):
        plot_error_maps(X, X, X, feature_names=["a"])


def test_top_anomalies_shows_lowest_scores_first():
    rng = np.random.RandomState(0)
    X_train = rng.normal(size=(200, 6))
    X_test = np.vstack([rng.normal(size=(20, 6)), rng.normal(8, 1, size=(2, 6))])
    detector = AEAnomalyDetector(
        DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=5, device="cpu"),
        random_state=0,
    ).fit(X_train)
    fig = plot_top_anomalies(detector, X_test, n_samples=2, y=np.arange(22))
    titles = [fig.axes[0].get_title(), fig.axes[2].get_title()]
    # The two planted outliers (rows 20 and 21) come first.
    assert all(("#20" in t) or ("#21" in t) for t in titles)
    with pytest.raises(ValueError, match="n_samples"):
        plot_top_anomalies(detector, X_test, n_samples=0)
