"""Figures and a self-contained HTML report for ``skae explore`` and ``skae demo``.

Every figure is drawn on a :class:`matplotlib.figure.Figure` (no pyplot global state, no
display needed) and embedded in the HTML as a base64 PNG, so ``report.html`` is one file
that opens anywhere, offline.
"""

import base64
import datetime
import html
import io
import os
import tempfile

import numpy as np
from matplotlib.figure import Figure

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
"""
# Text that comes from the data (file names, ids, column names) is drawn as it is: no
# mathtext for "$...$" and no LaTeX, whatever the user's matplotlibrc says.
_PLAIN = {"parse_math": False, "usetex": False}


# --------------------------------------------------------------------------- helpers
def figure_to_data_uri(fig, dpi=90):
    """PNG of a matplotlib figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _as_display_image(image):
    """(H, W) or (C, H, W) float image -> something ``imshow`` draws, plus its cmap."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        if image.shape[0] == 3:
            return np.clip(np.moveaxis(image, 0, -1), 0, 1), None
        image = image.mean(axis=0)
    return image, "gray"


def _show(ax, image, title=None, vmin=0.0, vmax=1.0, cmap=None):
    shown, default_cmap = _as_display_image(image)
    ax.imshow(shown, cmap=cmap or default_cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=8, **_PLAIN)


def _cluster_colors(clusters):
    """One colour per cluster id (grey for -1, "unclustered")."""
    from matplotlib import colormaps

    ids = sorted(set(int(c) for c in clusters) - {-1})
    cmap = colormaps["tab20" if len(ids) > 10 else "tab10"]
    colors = {c: cmap(i % cmap.N) for i, c in enumerate(ids)}
    colors[-1] = (0.7, 0.7, 0.7, 1.0)
    return colors


# --------------------------------------------------------------------------- figures
def plot_training_curve(loss_curve, valid_curve=None):
    """Training (and validation) loss per epoch."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    epochs = np.arange(1, len(loss_curve) + 1)
    ax.plot(epochs, loss_curve, marker="o", ms=3, label="training loss")
    if valid_curve is not None and len(valid_curve):
        ax.plot(epochs, valid_curve, marker="o", ms=3, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction loss")
    ax.set_yscale("log")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return fig


def plot_reconstructions(X, X_rec, ids, is_image, feature_names=None, n=8):
    """Originals above their reconstructions (images) or feature profiles (tables)."""
    n = min(n, len(X))
    if is_image:
        fig = Figure(figsize=(1.3 * n, 2.9))
        axes = fig.subplots(2, n, squeeze=False)
        for j in range(n):
            _show(axes[0, j], X[j], title=_short(ids[j]))
            _show(axes[1, j], X_rec[j])
        axes[0, 0].set_ylabel("original", fontsize=8)
        axes[1, 0].set_ylabel("reconstruction", fontsize=8)
        return fig
    return _profiles(X[:n], X_rec[:n], ids[:n], feature_names, "reconstruction")


def _profiles(X, X_rec, ids, feature_names, second_label):
    n = len(X)
    n_cols = min(n, 4)
    n_rows = int(np.ceil(n / n_cols))
    fig = Figure(figsize=(3.2 * n_cols, 2.3 * n_rows))
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    x = np.arange(X.shape[1])
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_visible(False)
            continue
        ax.plot(x, X[k], marker=".", lw=1, label="original (standardised)")
        ax.plot(x, X_rec[k], marker=".", lw=1, label=second_label)
        ax.set_title(_short(ids[k]), fontsize=8, **_PLAIN)
        ax.tick_params(labelsize=7)
        if feature_names is not None and len(feature_names) <= 20:
            ax.set_xticks(x, [_short(f, 10) for f in feature_names], rotation=90, **_PLAIN)
    axes.ravel()[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_map(xy, clusters, title="2-D map of the codes"):
    """Scatter plot of the 2-D map, one colour per cluster."""
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.subplots()
    colors = _cluster_colors(clusters)
    for c in sorted(colors):
        sel = clusters == c
        if not sel.any():
            continue
        label = "unclustered" if c == -1 else f"cluster {c} ({sel.sum()})"
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8 if c == -1 else 12, color=colors[c],
                   label=label, alpha=0.8, linewidths=0)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5),
              frameon=False)
    return fig


def exemplar_indices(codes, clusters, n_per_cluster=8):
    """Per cluster, the items closest to the cluster's mean code (most typical first)."""
    result = {}
    for c in sorted(set(int(c) for c in clusters) - {-1}):
        members = np.flatnonzero(clusters == c)
        distance = np.linalg.norm(codes[members] - codes[members].mean(axis=0), axis=1)
        result[c] = members[np.argsort(distance, kind="stable")[:n_per_cluster]]
    return result


def plot_exemplars(X, ids, exemplars, is_image, feature_names=None, max_clusters=20):
    """Rows of typical items per cluster (images), or cluster mean profiles (tables)."""
    clusters = list(exemplars)[:max_clusters]
    if not clusters:
        fig = Figure(figsize=(5, 1))
        fig.text(0.5, 0.5, "No clusters found.", ha="center", va="center")
        return fig
    if is_image:
        n_cols = max(len(v) for v in exemplars.values())
        fig = Figure(figsize=(1.1 * n_cols + 0.8, 1.15 * len(clusters)))
        axes = fig.subplots(len(clusters), n_cols, squeeze=False)
        for i, c in enumerate(clusters):
            for j in range(n_cols):
                ax = axes[i, j]
                if j < len(exemplars[c]):
                    _show(ax, X[exemplars[c][j]])
                else:
                    ax.set_visible(False)
            axes[i, 0].set_ylabel(f"cluster {c}", fontsize=8, rotation=0, ha="right",
                                  va="center")
        return fig
    means = np.array([X[exemplars[c]].mean(axis=0) for c in clusters])
    fig = Figure(figsize=(max(6, 0.35 * X.shape[1] + 2), 0.4 * len(clusters) + 1.8))
    ax = fig.subplots()
    limit = float(np.abs(means).max()) or 1.0
    image = ax.imshow(means, cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(clusters)), [f"cluster {c}" for c in clusters], fontsize=8)
    names = feature_names if feature_names is not None else range(X.shape[1])
    ax.set_xticks(range(X.shape[1]), [_short(str(f), 14) for f in names], rotation=90,
                  fontsize=7, **_PLAIN)
    fig.colorbar(image, ax=ax, label="mean of typical members (standardised)")
    fig.tight_layout()
    return fig


def plot_anomalies(X, X_rec, ids, scores, order, is_image, feature_names=None, errors=None):
    """Most anomalous items: original, reconstruction and error map (or error profile).

    ``errors`` holds the error maps of the items in ``order`` (e.g.
    ``AEAnomalyDetector.error_map``); by default the squared difference of ``X`` and
    ``X_rec``.
    """
    order = np.asarray(order)
    n = len(order)
    if is_image:
        fig = Figure(figsize=(1.35 * n + 0.8, 4.3))
        axes = fig.subplots(3, n, squeeze=False)
        if errors is None:
            errors = [(np.asarray(X[i], float) - np.asarray(X_rec[i], float)) ** 2
                      for i in order]
        errors = [np.asarray(e, float) for e in errors]
        errors = [e.mean(axis=0) if e.ndim == 3 else e for e in errors]
        top = max(float(max(e.max() for e in errors)), 1e-12)
        for j, i in enumerate(order):
            _show(axes[0, j], X[i], title=f"{_short(ids[i])}\nscore {scores[i]:.3g}")
            _show(axes[1, j], X_rec[i])
            _show(axes[2, j], errors[j], vmin=0, vmax=top, cmap="magma")
        for row, name in enumerate(["original", "reconstruction", "error$^2$"]):
            axes[row, 0].set_ylabel(name, fontsize=8)
        return fig
    return _profiles(X[order], X_rec[order], [f"{ids[i]} ({scores[i]:.3g})" for i in order],
                     feature_names, "reconstruction")


def plot_score_histogram(scores, order):
    """Distribution of anomaly scores with the flagged items marked."""
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    ax.hist(scores, bins=min(60, max(10, len(scores) // 10)), color="#4c72b0")
    for i in order:
        ax.axvline(scores[i], color="#c44e52", lw=0.8, alpha=0.7)
    ax.set_xlabel("anomaly score (higher = more unusual)")
    ax.set_ylabel("items")
    ax.set_yscale("log")
    return fig


def _short(text, width=18):
    text = str(text)
    return text if len(text) <= width else "…" + text[-(width - 1):]


# --------------------------------------------------------------------------- HTML
def html_table(header, rows, text_columns=()):
    """A small HTML table; values are escaped."""
    def cell(tag, j, value):
        cls = ' class="text"' if j in text_columns else ""
        return f"<{tag}{cls}>{html.escape(str(value))}</{tag}>"

    head = "".join(cell("th", j, h) for j, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", j, v) for j, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Report:
    """Collects headings, paragraphs, tables and figures; writes one HTML file."""

    def __init__(self, title, subtitle=""):
        self.title = title
        self.subtitle = subtitle
        self._parts = []
        self.n_figures = 0

    def heading(self, text):
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text):
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def raw(self, fragment):
        """Append trusted HTML (e.g. from :func:`html_table`)."""
        self._parts.append(fragment)

    def figure(self, fig, caption, alt=None):
        uri = figure_to_data_uri(fig)
        self.n_figures += 1
        self._parts.append(
            f'<figure><img src="{uri}" alt="{html.escape(alt or caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def to_html(self):
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>"
            f"<p class=\"meta\">{html.escape(self.subtitle)} — written {stamp}</p>"
            + "\n".join(self._parts)
            + "</body></html>\n"
        )

    def write(self, path):
        """Write the page to ``path`` atomically: a temporary file in the same folder,
        then ``os.replace``; a failure leaves the previous file (or none)."""
        path = os.fspath(path)
        fd, temporary = tempfile.mkstemp(prefix=".report-", suffix=".partial",
                                         dir=os.path.dirname(os.path.abspath(path)))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.to_html())
            os.replace(temporary, path)
        except BaseException:
            os.remove(temporary)
            raise
