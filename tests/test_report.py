"""The report of ``skae explore``/``skae demo``: its figures and the sections they make."""

import re

import numpy as np
import pytest

from skae.cli import _explore, _report
from skae.cli._loaders import LoadedData
from skae.discovery import cluster_report
from skae.plotting import _report_figures as figures

FAST = {"latent_dim": 2, "epochs": 1, "device": "cpu", "seed": 0, "map_method": "pca",
        "min_cluster_size": 5, "verbose": 0}
LONG = [f"particle_{i:06d}_of_the_core_{i:04d}.png" for i in range(24)]


def _images(n=24, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, size, size)).astype(np.float32)


def python_block(html):
    """The code of the report's "Do the same in Python" section (bokeh's inlined
    JavaScript holds ``<pre><code>`` too)."""
    return re.search(r"<h2>Do the same in Python</h2>\s*<pre><code>(.*?)</code></pre>",
                     html, re.DOTALL).group(1)


def _visible_labels(fig):
    return [ax.get_xlabel() for ax in fig.axes if ax.get_visible() and ax.get_xlabel()]


def test_shorten_keeps_start_and_end():
    assert figures.shorten("particle_000000_0042.png", 20) == "particle_0…_0042.png"
    assert figures.shorten("short.png", 20) == "short.png"
    assert len(figures.shorten("x" * 100, 7)) == 7
    with pytest.raises(ValueError, match="at least 3"):
        figures.shorten("abcdef", 2)


def test_feature_names_on_profiles_are_cut_in_the_middle():
    X = np.random.default_rng(0).normal(size=(4, 3))
    names = ["density_of_ash_particles", "b", "c"]
    fig = figures.plot_reconstructions(X, X, ["a", "b", "c", "d"], False, names)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[0] == figures.shorten(names[0], 12)
    assert ticks[0].startswith("densi") and ticks[0].endswith("cles")


def test_ids_under_every_thumbnail():
    X = _images()
    fig = figures.plot_typical_items(X, {0: np.arange(4), -1: np.arange(4, 7)}, True,
                                     ids=LONG)
    labels = _visible_labels(fig)
    assert labels == [figures.shorten(LONG[i], 16) for i in range(7)]
    assert "no cluster" in [ax.get_ylabel() for ax in fig.axes]
    fig = figures.plot_reconstructions(X, X, LONG, True, indices=[3, 1],
                                       notes=["error 1", "error 2"])
    assert _visible_labels(fig) == [figures.shorten(LONG[3]) + "\nerror 1",
                                    figures.shorten(LONG[1]) + "\nerror 2"]
    fig = figures.plot_gallery(X, [5, 2, 9], LONG, True, notes=["a", "b", "c"])
    assert _visible_labels(fig) == [figures.shorten(LONG[i]) + f"\n{n}"
                                    for i, n in zip([5, 2, 9], "abc")]
    fig = figures.plot_anomalies(X, X * 0.5, LONG, np.arange(24.0), [0, 1], True,
                                 notes=["rec 1.00", "rec 2.00"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [figures.shorten(LONG[0]), figures.shorten(LONG[1])]
    assert _visible_labels(fig)[:2] == ["score 0\nrec 1.00", "score 1\nrec 2.00"]


def test_error_maps_have_a_colour_bar():
    X = _images(6)
    fig = figures.plot_anomalies(X, X * 0.5, LONG, np.arange(6.0), [0, 1, 2], True)
    assert len(fig.axes) == 3 * 3 + 1  # three rows of thumbnails and the bar
    bar = fig.axes[-1]
    assert bar.get_ylabel() == "squared error"
    low, high = bar.get_ylim()
    top = max(float(((X[i] - X[i] * 0.5) ** 2).max()) for i in range(3))
    assert low == 0 and high == pytest.approx(top)


def test_spread_by_rank():
    values = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.0])
    spread = _report.spread_by_rank(values, 4)
    assert values[spread[0]] == 0.0 and values[spread[-1]] == 9.0
    assert len(spread) == 4 and list(np.diff(values[spread]) > 0) == [True] * 3
    assert sorted(_report.spread_by_rank(values[:3], 8)) == [0, 1, 2]


@pytest.fixture(scope="module")
def page():
    """A report of 24 random images, three of them forced into no cluster."""
    X = _images()
    data = LoadedData(X, LONG, True, "24 random images.")
    result = _explore.analyse(data, **FAST)
    result.clusters = np.zeros(len(X), dtype=int)
    result.clusters[[2, 7, 11]] = -1
    result.cluster_report = cluster_report(result.clusters, embedding=result.codes,
                                           n_exemplars=8)
    return result, _report.build_report(data, result, "test", {"epochs": 1}).to_html()


def test_report_shows_the_items_in_no_cluster(page):
    _, html = page
    assert "<h2>Items in no cluster (cluster -1)</h2>" in html
    assert "3 of the 3 items that HDBSCAN put in no cluster" in html


def test_report_shows_the_score_parts_of_top_anomalies(page):
    result, html = page
    assert result.score_part_names == ("reconstruction", "latent")
    np.testing.assert_allclose(result.score_parts.mean(axis=1), result.scores, atol=1e-9)
    assert "<th>score part: reconstruction</th><th>score part: latent</th>" in html
    top = int(np.argmax(result.scores))
    row = re.search(r"<tr><td>1</td>.*?</tr>", html).group(0)
    assert f"{result.score_parts[top, 0]:.3g}" in row
    assert "rec = reconstruction, lat = latent" in html


def test_reconstructions_are_a_spread_said_in_the_caption(page):
    _, html = page
    assert "evenly spaced ranks of reconstruction error" in html
    assert "The first items" not in html


def test_python_block_wraps_and_uses_public_api_only(page):
    _, html = page
    assert re.search(r"pre \{[^}]*white-space: pre-wrap", html)
    code = python_block(html)
    assert "score_parts(X)" in code
    assert not re.search(r"(?<![\w])_[a-z]\w*|\._[a-z]", code)  # no private names
    assert "skae._" not in code
