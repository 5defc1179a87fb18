"""The HTML report of ``skae explore``/``skae demo``: one self-contained page.

Its figures come from ``skae.plotting`` and are embedded as base64 PNG, and the
interactive map's JavaScript (bokeh) is inlined, so ``report.html`` is one file that
opens anywhere, offline.
"""

import base64
import datetime
import html
import io
from pathlib import Path

import numpy as np

from ..plotting._interactive_map import (
    feature_summaries,
    interactive_map,
    thumbnail_uris,
)
from ..plotting._report_figures import (
    plot_anomalies,
    plot_code_map,
    plot_gallery,
    plot_nearest_normal,
    plot_reconstructions,
    plot_score_histogram,
    plot_training_curve,
    plot_typical_items,
)

N_ANOMALIES_SHOWN = 10
N_NEIGHBOURS_SHOWN = 4
N_RECONSTRUCTIONS_SHOWN = 8
N_UNCLUSTERED_SHOWN = 16

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.92em; }
code { background: #f5f5f5; padding: 0 0.25em; }
pre code { padding: 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f5f5;
      padding: 0.6em; max-width: 100%; }
"""


def figure_to_data_uri(fig, dpi=90):
    """PNG of a matplotlib figure as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default=90

    Returns
    -------
    uri : str
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def html_table(header, rows, text_columns=()):
    """A small HTML table; values are escaped.

    Parameters
    ----------
    header : sequence
        Column titles.
    rows : sequence of sequence
        The cells, row by row.
    text_columns : collection of int, default=()
        Columns aligned left (text); the others are aligned right (numbers).

    Returns
    -------
    fragment : str
    """

    def cell(tag, j, value):
        cls = ' class="text"' if j in text_columns else ""
        return f"<{tag}{cls}>{html.escape(str(value))}</{tag}>"

    head = "".join(cell("th", j, h) for j, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", j, v) for j, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Report:
    """Collects headings, paragraphs, tables and figures of one HTML page.

    Parameters
    ----------
    title : str
    subtitle : str, default=""
        Shown under the title, with the time the page was made.
    """

    def __init__(self, title, subtitle=""):
        self.title = title
        self.subtitle = subtitle
        self._parts = []

    def heading(self, text):
        """Append a section heading (escaped)."""
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text):
        """Append a paragraph of plain text (escaped)."""
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def raw(self, fragment):
        """Append trusted HTML (e.g. from :func:`html_table`)."""
        self._parts.append(fragment)

    def figure(self, fig, caption, alt=None):
        """Append ``fig`` as an embedded PNG, with a caption (``alt`` defaults to it)."""
        uri = figure_to_data_uri(fig)
        self._parts.append(
            f'<figure><img src="{uri}" alt="{html.escape(alt or caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def to_html(self):
        """The whole page, as a string."""
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>"
            f"<p class=\"meta\">{html.escape(self.subtitle)} — written {stamp}</p>"
            + "\n".join(self._parts)
            + "</body></html>\n"
        )


def build_report(data, result, title, options, extra=None, python_code=None):
    """The HTML report of an analysis (figures embedded as base64 PNG).

    Parameters
    ----------
    data : LoadedData
        The items analysed.
    result : Analysis
        What was found.
    title : str
        Title of the page.
    options : dict
        Option -> value, shown as a table.
    extra : list of (str, str), default=None
        More content for the summary: ``("text", paragraph)`` or ``("html", fragment)``.
    python_code : str, default=None
        The code of the section "Do the same in Python"; if None, code that repeats
        the analysis of ``skae explore`` with the public API.

    Returns
    -------
    report : Report
    """
    from .. import __version__

    report = Report(title, f"skae {__version__}")
    cr = result.cluster_report
    report.heading("Summary")
    report.paragraph(data.description)
    ae = result.autoencoder
    report.paragraph(
        f"Model: {type(ae).__name__}(latent_dim={ae.latent_dim}) trained for "
        f"{len(result.loss_curve)} epochs in {result.fit_seconds:.1f} s "
        f"(final loss {result.loss_curve[-1]:.4g}; stopped: {ae.stop_reason_}); anomaly "
        "scores from AEAnomalyDetector "
        f"(method='{result.detector.method}': reconstruction error and distance of the "
        "code to its nearest codes, robustly standardised; higher = more unusual)."
    )
    report.paragraph(
        f"Clusters: {cr.n_clusters} found by HDBSCAN (cluster_selection_method="
        f"'{result.clusterer.cluster_selection_method}') in {cr.n_samples} items; "
        f"{cr.n_noise} items ({cr.noise_fraction:.1%}) belong to no cluster (cluster -1)."
    )
    if extra:
        for kind, content in extra:
            report.raw(content) if kind == "html" else report.paragraph(content)
    rows = [[int(c), int(s), f"{s / cr.n_samples:.1%}",
             f"{np.median(result.scores[result.clusters == c]):.3g}"]
            for c, s in zip(cr.cluster_labels, cr.sizes)]
    if cr.n_noise:
        rows.append([-1, cr.n_noise, f"{cr.noise_fraction:.1%}",
                     f"{np.median(result.scores[result.clusters == -1]):.3g}"])
    report.raw(html_table(["cluster", "items", "share", "median anomaly score"], rows))
    report.raw(html_table(["option", "value"], [[k, v] for k, v in options.items()],
                          text_columns=(0, 1)))

    report.heading("Training curve")
    report.figure(plot_training_curve(result.loss_curve),
                  "Reconstruction loss per epoch. A curve still falling steeply at the end "
                  "means more epochs (--epochs N) would help.")
    report.heading("Reconstructions")
    where = "under" if data.is_image else "with"  # tables: in the title of each plot
    spread = spread_by_rank(result.reconstruction_error, N_RECONSTRUCTIONS_SHOWN)
    report.figure(
        plot_reconstructions(result.X_shown, result.reconstructions, data.ids,
                             data.is_image, data.feature_names, indices=spread,
                             notes=[f"error {result.reconstruction_error[i]:.3g}"
                                    for i in spread]),
        f"{len(spread)} items at evenly spaced ranks of reconstruction error, from the "
        "best reconstructed (left) to the worst (right), and the autoencoder's "
        f"reconstructions; id and reconstruction error {where} each"
        + ("." if data.is_image else " (columns standardised)."),
    )
    order = np.argsort(-result.scores, kind="stable")[:N_ANOMALIES_SHOWN]
    report.heading("Map of the codes")
    _map_section(report, data, result, order)
    report.heading("Typical items of each cluster")
    report.figure(
        plot_typical_items(result.X_shown, cr.exemplars, data.is_image, data.feature_names,
                           ids=data.ids),
        "Per cluster (largest first), the items nearest the cluster's centre in code "
        "space, with their ids." if data.is_image else
        "Per cluster (largest first), mean standardised profile of its most typical items.",
    )
    unclustered = np.flatnonzero(result.clusters == -1)
    if len(unclustered):
        report.heading("Items in no cluster (cluster -1)")
        shown = unclustered[spread_by_rank(result.scores[unclustered], N_UNCLUSTERED_SHOWN)]
        report.figure(
            plot_gallery(result.X_shown, shown, data.ids, data.is_image, data.feature_names,
                         notes=[f"score {result.scores[i]:.3g}" for i in shown]),
            f"{len(shown)} of the {len(unclustered)} items that HDBSCAN put in no cluster "
            "(cluster -1 in results.csv), at evenly spaced ranks of anomaly score, from "
            f"the most typical to the most unusual; id and anomaly score {where} each"
            + ("." if data.is_image else " (rows: items; columns standardised)."),
        )
    report.heading("Most anomalous items")
    names, parts = result.score_part_names, result.score_parts
    notes = None if parts is None else [
        "\n".join(f"{part_label(name)} {parts[i, j]:.2f}" for j, name in enumerate(names))
        for i in order]
    parts_text = "" if parts is None else (
        f" {where.capitalize()} each: the anomaly score and its parts ("
        + ", ".join(f"{part_label(name)} = {name}" for name in names)
        + "): how unusual the item is in each term, robustly standardised (0 = typical, "
        "1 = one interquartile range more unusual); the score is their mean, so the "
        "largest part says why the item ranks high.")
    report.figure(
        plot_anomalies(result.X_shown, result.reconstructions, data.ids, result.scores,
                       order, data.is_image, data.feature_names,
                       errors=_error_maps(result, data, order), notes=notes),
        ("The items with the highest anomaly scores: original, reconstruction and where "
         "the reconstruction fails (squared error per pixel, AEAnomalyDetector.error_map; "
         "one colour scale for all, see the colour bar)."
         if data.is_image else
         "The items with the highest anomaly scores, original vs reconstruction.")
        + parts_text,
    )
    part_columns = [] if parts is None else [f"score part: {n}" for n in names]
    report.raw(html_table(
        ["rank", "id", "anomaly score", *part_columns, "reconstruction error", "cluster"],
        [[r + 1, data.ids[i], f"{result.scores[i]:.4g}",
          *([] if parts is None else [f"{v:.3g}" for v in parts[i]]),
          f"{result.reconstruction_error[i]:.4g}", int(result.clusters[i])]
         for r, i in enumerate(order)], text_columns=(1,)))
    report.figure(plot_score_histogram(result.scores, order),
                  "Distribution of anomaly scores; red lines mark the items above.")
    _nearest_normal_section(report, data, result, order)
    report.heading("Do the same in Python")
    code = _python_snippet(data, result, options) if python_code is None else python_code
    report.raw("<pre><code>" + html.escape(code) + "</code></pre>")
    return report


def _map_section(report, data, result, order):
    """The interactive map (bokeh), then the same map as a static figure."""
    if data.is_image:
        thumbnails, features = thumbnail_uris(result.X_shown, result.scores), None
        kept = sum(uri is not None for uri in thumbnails)
        what = "its thumbnail, " if kept == len(thumbnails) else (
            f"its thumbnail: kept for {kept} of the {len(thumbnails)} items, the most "
            "anomalous and a random sample, to keep this page small; ")
    else:
        values = data.X if np.shape(data.X) == result.X_shown.shape else result.X_shown
        thumbnails = None
        features = feature_summaries(values, result.X_shown, data.feature_names)
        what = ("its three most unusual values, each with how many standard deviations "
                "(sd) it lies from its column's mean; ")
    report.paragraph(
        "Interactive map: hover a point to see the item (" + what + "id, cluster, "
        "anomaly score and its parts); type an id, or part of one, in the box to find "
        "it; click a point to select it (shift-click for more); scroll to zoom, drag to "
        "pan, the reset tool (circular arrow) redraws the whole map. Red rings: the "
        "most anomalous items.")
    report.raw('<div class="skae-map">' + interactive_map(
        result.xy, result.clusters, data.ids, result.scores, thumbnails=thumbnails,
        features=features, score_parts=result.score_parts,
        score_part_names=[part_label(n) for n in result.score_part_names],
        highlighted=order) + "</div>")
    report.figure(plot_code_map(result.xy, result.clusters),
                  "The same map as a picture, for printing (above: the interactive map). "
                  "Each item is a point placed by "
                  "UMAP (or PCA) from its code; colours are the HDBSCAN clusters, grey "
                  "items belong to no cluster.")


def nearest_normal(codes, scores, queries, k=N_NEIGHBOURS_SHOWN):
    """The ``k`` normal items nearest to each query item in code space.

    Normal items are those with an anomaly score at or below the median score (the
    more typical half), the query items excluded; nearest is by Euclidean distance of
    the codes, the distance of the detector's code term.

    Parameters
    ----------
    codes : ndarray of shape (n_items, latent_dim)
    scores : ndarray of shape (n_items,)
        Anomaly scores (higher = more unusual).
    queries : array-like of int
        The items to find neighbours for (e.g. the top anomalies).
    k : int, default=4

    Returns
    -------
    neighbours : ndarray of int, shape (n_queries, min(k, n_normal))
        Nearest first; ties in the order of the items.
    distances : ndarray of shape (n_queries, min(k, n_normal))
    """
    codes = np.asarray(codes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    queries = np.asarray(queries, dtype=int)
    normal = scores <= np.median(scores)
    normal[queries] = False
    candidates = np.flatnonzero(normal)
    distances = np.linalg.norm(codes[queries][:, None, :] - codes[candidates][None], axis=2)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return candidates[nearest], np.take_along_axis(distances, nearest, axis=1)


def _nearest_normal_section(report, data, result, order):
    neighbours, distances = nearest_normal(result.codes, result.scores, order)
    if neighbours.shape[1] == 0:
        return
    report.heading("Nearest normal items of the most anomalous items")
    report.figure(
        plot_nearest_normal(result.X_shown, order, neighbours, data.ids, data.is_image,
                            data.feature_names, distances=distances),
        f"Each of the {len(order)} most anomalous items (" + (
            "left, red frame" if data.is_image else "bold rows") +
        f") beside its {neighbours.shape[1]} nearest normal items in code space "
        "(Euclidean distance of the codes, nearest first), with id and distance: what "
        "the anomaly would look like if it were typical. Normal items: those with an "
        "anomaly score at or below the median, i.e. the more typical half."
        + ("" if data.is_image else " Values standardised per column."),
    )


def spread_by_rank(values, n):
    """Indices of up to ``n`` items at evenly spaced ranks of ``values``, lowest first.

    Parameters
    ----------
    values : ndarray of shape (n_items,)
    n : int

    Returns
    -------
    indices : ndarray of int
        Distinct, ordered by ``values``; the lowest and the highest item included.
    """
    ranked = np.argsort(np.asarray(values), kind="stable")
    if len(ranked) <= n:
        return ranked
    return ranked[np.unique(np.round(np.linspace(0, len(ranked) - 1, n)).astype(int))]


def part_label(name):
    """A short label of the score part ``name`` for figure captions (``rec``, ``lat``).

    Parameters
    ----------
    name : str
        A name of ``AEAnomalyDetector.term_names_``, maybe prefixed (``image ...``).

    Returns
    -------
    label : str
    """
    return str(name).replace("reconstruction", "rec").replace("latent", "lat")


def _error_maps(result, data, order):
    """Error maps of the items in ``order`` from the detector (None if it cannot)."""
    if not data.is_image or result.detector.sample_shape_ != data.X.shape[1:]:
        return None
    return result.detector.error_map(data.X[order])


def _python_snippet(data, result, options):
    """Code that repeats the analysis with skae's public API (not escaped)."""
    ae = result.autoencoder
    params = {k: v for k, v in ae.get_params().items()
              if k in ("latent_dim", "channels", "hidden_layer_sizes", "max_epochs",
                       "batch_size", "random_state")}
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    path = options.get("path")
    if data.is_image and path is not None and (
            Path(str(path)).suffix.lower() not in (".npy", ".npz")):
        resize = options.get("resize")
        imports = "from skae.datasets import load_images\n"
        load = (f"# {data.description}\n"
                f"X = load_images({str(path)!r}, resize={resize!r}).images")
    else:
        imports, load = "", f"X = ...  # {data.description}"
    method = options.get("map", "umap")
    seed = options.get("seed", result.detector.random_state)
    code = f"""from skae import AEAnomalyDetector, {type(ae).__name__}
{imports}from skae.discovery import cluster_report, map_and_cluster

{load}
detector = AEAnomalyDetector({type(ae).__name__}({args}), novelty=False,
                             random_state={result.detector.random_state!r})
detector.fit(X)
anomaly_score = -detector.score_samples(X)  # higher = more unusual
parts = detector.score_parts(X)  # why: one column per detector.term_names_
# anomaly_score equals parts.mean(axis=1); higher parts = more unusual in that term
codes = detector.encode(X)  # the codes, after the detector's scaling of tables
"""
    represent = "codes"
    if options.get("features") is not None:
        table = str(options["features"])
        sep = ', sep="\\t"' if table.lower().endswith(".tsv") else ""
        code += f"""
# The measured features: a second detector, the mean of both scores, and clusters
# of the standardised codes and features side by side
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

features = pd.read_csv({table!r}{sep}).select_dtypes("number").to_numpy(np.float32)
on_features = AEAnomalyDetector(novelty=False, random_state={seed!r}).fit(features)
anomaly_score = (anomaly_score - on_features.score_samples(features)) / 2
represent = np.hstack([StandardScaler().fit_transform(codes),
                       StandardScaler().fit_transform(features)])
"""
        represent = "represent"
    return code + f"""xy, clusters, clusterer = map_and_cluster({represent}, {method!r}, {result.min_cluster_size},
                                          random_state={seed!r})
print(cluster_report(clusters, embedding={represent}))
"""
