"""The report's interactive map (in headless Chromium, offline), the nearest normal items
of the top anomalies, and the "Do the same in Python" block."""

import base64
import io
import time

import numpy as np
import pytest
from test_docs import CHROMIUM, Chromium
from test_report import python_block

from skae.cli import _explore, _report
from skae.cli._loaders import LoadedData
from skae.discovery import cluster_report
from skae.plotting import _interactive_map as imap
from skae.plotting import _report_figures as figures
from skae.plotting._palette import cluster_colours

FAST = {"latent_dim": 2, "epochs": 1, "device": "cpu", "seed": 0, "map_method": "pca",
        "min_cluster_size": 5, "verbose": 0}
HOSTILE = "<b>bold</b></script>.png"  # must show as text, and must not end the script


def _analysis(data, clusters):
    result = _explore.analyse(data, **FAST)
    result.clusters = np.asarray(clusters)
    result.cluster_report = cluster_report(result.clusters, embedding=result.codes,
                                           n_exemplars=4)
    return result


@pytest.fixture(scope="module")
def images():
    """30 random 12 x 12 images in three clusters and noise; one id is hostile HTML."""
    X = np.random.default_rng(0).uniform(0, 1, (30, 12, 12)).astype(np.float32)
    ids = [f"img_{i:02d}.png" for i in range(30)]
    ids[5] = HOSTILE
    data = LoadedData(X, ids, True, "30 random images.")
    return data, _analysis(data, np.arange(30) % 4 - 1)


@pytest.fixture(scope="module")
def table():
    X = np.random.default_rng(1).normal(size=(40, 5)) * [1, 10, 100, 1, 1]
    data = LoadedData(X, [f"row {i}" for i in range(40)], False, "A table of 40 rows.",
                      feature_names=["area", "length", "width", "grey", "holes"])
    return data, _analysis(data, np.arange(40) % 3)


def _html(data, result, options=None, **kwargs):
    return _report.build_report(data, result, "test", options or {}, **kwargs).to_html()


@pytest.fixture(scope="module")
def image_page(images):
    return _html(*images, {"path": "/data/my images", "resize": (8, 8)})


@pytest.fixture(scope="module")
def table_page(table):
    return _html(*table, {"path": "t.csv", "resize": None})


# ----------------------------------------------------------------------------- Chromium
class RecordingChromium(Chromium):
    """:class:`test_docs.Chromium` that keeps the DevTools events it reads."""

    def __init__(self, binary):
        self.events = []
        super().__init__(binary)

    def _read_message(self):
        message = super()._read_message()
        if "method" in message:
            self.events.append(message)
        return message

    def errors(self):
        """Console errors, uncaught exceptions and error log entries seen so far."""
        self.evaluate("1")  # reads the events sent before its reply
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error",
                                                                            "assert"):
                found.append(str([a.get("value", a.get("description"))
                                  for a in params["args"]]))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description")
                             or details["text"])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def requests(self):
        """URLs of the network requests the page tried, ``data:`` and files excepted."""
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"
                and not e["params"]["request"]["url"].startswith(("data:", "file:"))]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    chromium = RecordingChromium(CHROMIUM)
    for domain in ("Page", "Runtime", "Log", "Network"):
        chromium.call(f"{domain}.enable", chromium.session)
    chromium.call("Network.emulateNetworkConditions", chromium.session, offline=True,
                  latency=0, downloadThroughput=-1, uploadThroughput=-1)
    chromium.call("Emulation.setDeviceMetricsOverride", chromium.session, width=1300,
                  height=1000, deviceScaleFactor=1, mobile=False)
    yield chromium
    chromium.close()


def _open(browser, path):
    browser.events.clear()
    browser.open(path.as_uri())
    deadline = time.monotonic() + 20
    while not browser.evaluate("typeof Bokeh !== 'undefined' && Bokeh.documents.length "
                               "> 0 && Bokeh.index.roots.length > 0"):
        assert time.monotonic() < deadline, f"no bokeh plot: {browser.errors()}"
        time.sleep(0.1)


# The screen position of item ``i`` of the map (the plot scrolled into view first).
POINT_JS = """
(() => {
  const doc = Bokeh.documents[0];
  const plot = doc.get_model_by_name('skae-map');
  const view = Bokeh.index.roots[0].owner.find_one(plot);
  view.el.scrollIntoView({block: 'center'});
  const source = doc.get_model_by_name('skae-items');
  const row = source.data.item.indexOf(%d);
  const box = view.canvas_view.el.getBoundingClientRect();
  return {x: box.left + view.frame.x_scale.compute(source.data.x[row]),
          y: box.top + view.frame.y_scale.compute(source.data.y[row])};
})()
"""
# The tooltips shown (bokeh draws them in shadow roots), with their images.
TOOLTIP_JS = """
(async () => {
  const found = [];
  const walk = root => { for (const el of root.querySelectorAll('*')) {
      if (el.classList.contains('skae-tooltip') && el.getClientRects().length) found.push(el);
      if (el.shadowRoot) walk(el.shadowRoot); } };
  walk(document);
  const imgs = found.flatMap(el => [...el.querySelectorAll('img')]);
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return found.map(el => ({text: el.innerText, bold: el.querySelectorAll('b b').length,
      images: [...el.querySelectorAll('img')].map(i => i.naturalWidth)}));
})()
"""


ALL_IMAGES_JS = """
(async () => {
  const imgs = [];
  const walk = root => { for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'IMG') imgs.push(el); if (el.shadowRoot) walk(el.shadowRoot); } };
  walk(document);
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0}));
})()
"""


def _hover(browser, item):
    point = browser.evaluate(POINT_JS % item)
    for dx in (0.0, 0.5):  # two moves: bokeh starts hit-testing once the pointer is in
        browser.call("Input.dispatchMouseEvent", browser.session, type="mouseMoved",
                     x=point["x"] + dx, y=point["y"])
    deadline = time.monotonic() + 5
    while not (tooltips := browser.evaluate(TOOLTIP_JS)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return tooltips


# Focus the search box (in a shadow root) and return the items selected by the map.
FOCUS_JS = """
(() => { const walk = root => { for (const el of root.querySelectorAll('*')) {
    if (el.tagName === 'INPUT' && el.placeholder.includes('id')) return el;
    if (el.shadowRoot) { const found = walk(el.shadowRoot); if (found) return found; } } };
  const input = walk(document); input.focus(); return input === input.getRootNode().activeElement;
})()
"""
SELECTED_JS = """(() => { const source = Bokeh.documents[0].get_model_by_name('skae-items');
    return [...source.selected.indices].map(i => source.data.item[i]); })()"""


def _poll(browser, expression, timeout=5):
    """The value of ``expression`` once it is truthy (or the last one after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not (value := browser.evaluate(expression)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def _type_in_search_box(browser, text):
    assert browser.evaluate(FOCUS_JS), "no search box"
    browser.call("Input.insertText", browser.session, text=text)
    return _poll(browser, SELECTED_JS)  # bokeh runs the CustomJS asynchronously


def test_map_works_offline_with_hover_and_search(browser, images, image_page, tmp_path):
    data, result = images
    page = tmp_path / "report.html"
    page.write_text(image_page)
    _open(browser, page)

    top = int(np.argmax(result.scores))
    tooltips = _hover(browser, top)
    assert len(tooltips) == 1, tooltips
    tip = tooltips[0]
    assert data.ids[top] in tip["text"]
    assert f"anomaly score {result.scores[top]:.3g}" in tip["text"]
    assert "rec " in tip["text"] and "lat " in tip["text"]  # the score parts
    assert tip["images"] and tip["images"][0] > 0, "the thumbnail did not load"

    tip = _hover(browser, 5)[0]  # the hostile id is text, not markup
    assert HOSTILE in tip["text"] and tip["bold"] == 0

    # Same colours as the static map; the search box selects the item typed.
    shown = browser.evaluate("""(() => { const d = Bokeh.documents[0]
        .get_model_by_name('skae-items').data; return [[...d.item], d.colour]; })()""")
    colours = cluster_colours(result.clusters)
    assert shown[1] == [colours[result.clusters[i]] for i in shown[0]]
    selected = _type_in_search_box(browser, "IMG_07")
    assert selected == [7]
    text = _poll(browser, "Bokeh.documents[0].get_model_by_name('skae-selected').text")
    assert "img_07.png" in text and "<img" in text

    images = browser.evaluate(ALL_IMAGES_JS)  # the page's and bokeh's (shadow roots)
    assert len(images) >= 7, images
    assert not [img["src"][:60] for img in images if not img["ok"]]
    assert browser.errors() == []
    assert browser.requests() == []


def test_map_of_a_table_shows_the_unusual_values(browser, table_page, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(table_page)
    _open(browser, page)
    tip = _hover(browser, 3)[0]
    assert "row 3" in tip["text"] and " sd)" in tip["text"] and not tip["images"]
    assert browser.errors() == []


def test_browser_checks_catch_errors_and_broken_images(browser, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<html><head><title>t</title></head><body><img src="missing.png">'
                    '<script>console.error("boom"); undefined_name();</script>'
                    '<img src="https://example.org/x.png"></body></html>')
    browser.events.clear()
    browser.open(page.as_uri())
    assert [img["ok"] for img in browser.evaluate(ALL_IMAGES_JS)] == [False, False]
    errors = " ".join(browser.errors())
    assert "boom" in errors and "undefined_name" in errors
    assert browser.requests() == ["https://example.org/x.png"]


# ----------------------------------------------------------------------------- thumbnails
def _png_size(uri):
    from PIL import Image

    raw = base64.b64decode(uri.split(",", 1)[1])
    return Image.open(io.BytesIO(raw)).size


def test_thumbnails_are_small_and_fit_the_budget():
    assert _png_size(imap.thumbnail_uri(np.ones((3, 100, 50)))) == (32, 64)
    assert _png_size(imap.thumbnail_uri(np.ones((8, 10)))) == (10, 8)  # not enlarged
    X = np.random.default_rng(0).uniform(size=(50, 100, 100))
    scores = np.arange(50.0)
    uris = imap.thumbnail_uris(X, scores)
    assert {_png_size(u) for u in uris} == {(64, 64)}
    cost = np.mean([len(imap.thumbnail_uri(x, 32)) for x in X])  # all 50 are probed
    uris = imap.thumbnail_uris(X, scores, budget=50 * cost + 1)
    assert {_png_size(u) for u in uris} == {(32, 32)}
    uris = imap.thumbnail_uris(X, scores, budget=20 * cost)
    kept = [i for i, u in enumerate(uris) if u is not None]
    assert len(kept) == 20 and {48, 49} <= set(kept)  # the most anomalous tenth kept
    assert sum(len(uris[i]) for i in kept) <= 20 * cost * 1.1


def test_feature_summaries_name_the_most_unusual_values():
    values = np.array([[1.0, 200.0], [2.0, 100.0], [3.0, 100.0], [2.0, 100.0]])
    lines = imap.feature_summaries(values, values, ["a", "b"], n=1)
    assert lines[0].startswith("b = 200 (+1.7 sd)") and lines[2].startswith("a = 3")


# ----------------------------------------------------------------------------- neighbours
def test_nearest_normal_items_are_normal_and_nearest():
    rng = np.random.default_rng(0)
    codes, scores = rng.normal(size=(60, 3)), rng.normal(size=60)
    queries = np.argsort(-scores)[:5]
    neighbours, distances = _report.nearest_normal(codes, scores, queries, k=4)
    assert neighbours.shape == distances.shape == (5, 4)
    normal = [i for i in range(60) if scores[i] <= np.median(scores)]
    for row, q in enumerate(queries):
        brute = sorted(normal, key=lambda i: np.linalg.norm(codes[i] - codes[q]))[:4]
        assert list(neighbours[row]) == brute
        np.testing.assert_allclose(distances[row],
                                   [np.linalg.norm(codes[i] - codes[q]) for i in brute])
    # A query at or below the median is never its own neighbour.
    low = int(np.argmin(scores))
    assert low not in _report.nearest_normal(codes, scores, [low], k=59)[0]


def test_nearest_normal_figure_and_section(images, table, image_page):
    data, result = images
    order = np.argsort(-result.scores)[:3]
    neighbours, distances = _report.nearest_normal(result.codes, result.scores, order, 2)
    fig = figures.plot_nearest_normal(result.X_shown, order, neighbours, data.ids, True,
                                      distances=distances)
    labels = [ax.get_xlabel() for ax in fig.axes if ax.get_visible()]
    assert len(labels) == 3 * 3
    assert labels[0] == f"{figures.shorten(data.ids[order[0]])}\nanomaly #1"
    assert labels[1] == (f"{figures.shorten(data.ids[neighbours[0, 0]])}\n"
                         f"distance {distances[0, 0]:.3g}")
    assert "<h2>Nearest normal items of the most anomalous items</h2>" in image_page
    assert "anomaly score at or below the median" in image_page

    data, result = table
    fig = figures.plot_nearest_normal(result.X_shown, order, neighbours, data.ids, False,
                                      data.feature_names)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows[0] == f"#1 {data.ids[order[0]]} (anomaly)"
    assert rows[1:3] == [data.ids[i] for i in neighbours[0]]


# ----------------------------------------------------------------------------- Python block
def test_python_block_uses_encode_and_load_images(images, image_page, table_page):
    for page in (image_page, table_page):
        code = python_block(page)
        assert "scaler_" not in code and "autoencoder_" not in code
        assert "codes = detector.encode(X)" in code
    code = python_block(image_page)
    assert "from skae.datasets import load_images" in code
    assert "X = load_images(&#x27;/data/my images&#x27;, resize=(8, 8)).images" in code
    code = python_block(table_page)
    assert "load_images" not in code and "X = ...  # A table of 40 rows." in code
    code = python_block(_html(*images, {"data": "fashion"}))  # images not from a folder
    assert "load_images" not in code and "X = ...  # 30 random images." in code


def test_python_code_replaces_the_generated_block(images):
    code = python_block(_html(*images, python_code="print('<demo>')"))
    assert code == "print(&#x27;&lt;demo&gt;&#x27;)"
