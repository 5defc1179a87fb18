"""Figures of the ``skae explore``/``skae demo`` report, for images and tables alike.

Every figure is drawn on a :class:`matplotlib.figure.Figure` of its own (no pyplot global
state, no display needed), so that the report can embed it as a PNG.
"""

import numpy as np

from ._palette import NOISE, cluster_colours

# Text that comes from the data (file names, ids, column names) is drawn as it is: no
# mathtext for "$...$" and no LaTeX, whatever the user's matplotlibrc says.
_PLAIN = {"parse_math": False, "usetex": False}


def _figure(figsize):
    # Imported here: ``import skae.cli`` (and so ``skae --help``) need not load matplotlib.
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


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


def shorten(text, width=18):
    """``text`` cut in the middle to at most ``width`` characters, start and end kept.

    File names and ids differ at their start (a folder, a prefix) and at their end (a
    number, a suffix), so both are kept: ``particle_0…_0042.png``.

    Parameters
    ----------
    text : object
        Converted with ``str`` first.
    width : int, default=18
        Most characters returned, the ellipsis ``…`` included; at least 3.

    Returns
    -------
    short : str

    Examples
    --------
    >>> from skae.plotting._report_figures import shorten
    >>> shorten("particle_000000_0042.png", 20)
    'particle_0…_0042.png'
    >>> shorten("density_of_ash", 20)
    'density_of_ash'
    """
    text = str(text)
    if width < 3:
        raise ValueError(f"width must be at least 3, got {width!r}.")
    if len(text) <= width:
        return text
    tail = (width - 1) // 2
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail:]


def _caption_below(ax, text, fontsize=7):
    """``text`` (from the data: drawn plainly) under the thumbnail ``ax``."""
    ax.set_xlabel(text, fontsize=fontsize, labelpad=2, **_PLAIN)


def plot_training_curve(loss_curve):
    """The training loss per epoch, on a log scale.

    Parameters
    ----------
    loss_curve : sequence of float
        Loss of each epoch, e.g. an autoencoder's ``loss_curve_``.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig = _figure((6, 3.2))
    ax = fig.subplots()
    epochs = np.arange(1, len(loss_curve) + 1)
    ax.plot(epochs, loss_curve, marker="o", ms=3, label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction loss")
    ax.set_yscale("log")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return fig


def plot_reconstructions(X, X_rec, ids, is_image, feature_names=None, n=8, indices=None,
                         notes=None):
    """Items above their reconstructions (images), or their profiles (tables).

    Parameters
    ----------
    X, X_rec : ndarray of shape (n_items, ...)
        Items as the autoencoder saw them (values in [0, 1] for images), and their
        reconstructions.
    ids : sequence of str
        One id per item, shown under each item (shortened in the middle).
    is_image : bool
        Whether the items are images (else rows of a table).
    feature_names : sequence of str, default=None
        Column names of a table, shown as ticks when there are 20 or fewer.
    n : int, default=8
        Number of items shown when ``indices`` is None (the first ones).
    indices : array-like of int, default=None
        The items to show, in that order.
    notes : sequence of str, default=None
        One more line of caption per shown item (e.g. its reconstruction error).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    indices = np.arange(min(n, len(X))) if indices is None else np.asarray(indices, int)
    notes = [""] * len(indices) if notes is None else list(notes)
    if len(notes) != len(indices):
        raise ValueError(f"notes has {len(notes)} entries for {len(indices)} items.")
    if not is_image:
        return _profiles(X[indices], X_rec[indices], [ids[i] for i in indices], notes,
                         feature_names)
    n = len(indices)
    fig = _figure((1.3 * n + 0.6, 2.9))
    axes = fig.subplots(2, n, squeeze=False)
    for j, i in enumerate(indices):
        _show(axes[0, j], X[i])
        _show(axes[1, j], X_rec[i])
        _caption_below(axes[1, j], "\n".join(filter(None, [shorten(ids[i]), notes[j]])))
    axes[0, 0].set_ylabel("original", fontsize=8)
    axes[1, 0].set_ylabel("reconstruction", fontsize=8)
    return fig


def _profiles(X, X_rec, ids, notes, feature_names):
    """Table rows and their reconstructions as line plots, up to four in a row."""
    n = len(X)
    n_cols = max(min(n, 4), 1)
    n_rows = max(int(np.ceil(n / n_cols)), 1)
    fig = _figure((3.2 * n_cols, 2.5 * n_rows))
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    x = np.arange(X.shape[1])
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_visible(False)
            continue
        ax.plot(x, X[k], marker=".", lw=1, label="original (standardised)")
        ax.plot(x, X_rec[k], marker=".", lw=1, label="reconstruction")
        title = shorten(ids[k], 30) + (f"\n{notes[k]}" if notes[k] else "")
        ax.set_title(title, fontsize=8, **_PLAIN)
        ax.tick_params(labelsize=7)
        if feature_names is not None and len(feature_names) <= 20:
            ax.set_xticks(x, [shorten(f, 12) for f in feature_names], rotation=90, **_PLAIN)
    fig.tight_layout()
    if n:  # above the plots, where it hides no line
        fig.legend(*axes.ravel()[0].get_legend_handles_labels(), loc="lower center",
                   bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=7, frameon=False)
    return fig


def plot_code_map(xy, clusters, title="2-D map of the codes"):
    """Scatter plot of a 2-D map of the codes, one colour per cluster, with a legend.

    Parameters
    ----------
    xy : ndarray of shape (n_items, 2)
        Map coordinates.
    clusters : ndarray of shape (n_items,)
        Cluster of each item; ``-1`` (in no cluster) is drawn in grey.
    title : str, default="2-D map of the codes"

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig = _figure((6.5, 5.5))
    ax = fig.subplots()
    colours = cluster_colours(clusters)
    for c in sorted(colours):
        sel = clusters == c
        if not sel.any():
            continue
        label = "unclustered" if c == NOISE else f"cluster {c} ({sel.sum()})"
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8 if c == NOISE else 12, color=colours[c],
                   label=label, alpha=0.8, linewidths=0)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5),
              frameon=False)
    return fig


def plot_typical_items(X, exemplars, is_image, feature_names=None, max_clusters=20,
                       ids=None):
    """Rows of typical items per cluster (images), or each cluster's mean profile (tables).

    Unlike :func:`skae.plotting.plot_exemplars`, which draws grayscale images only, this
    draws colour images too, and tables as a heat map of standardised values.

    Parameters
    ----------
    X : ndarray of shape (n_items, ...)
        Items as the autoencoder saw them.
    exemplars : dict of int -> ndarray of int
        Indices of each cluster's typical items, most typical first (e.g.
        ``ClusterReport.exemplars``); clusters are drawn in its order.
    is_image : bool
        Whether the items are images (else rows of a table).
    feature_names : sequence of str, default=None
        Column names of a table.
    max_clusters : int, default=20
        Clusters shown at most.
    ids : sequence of str, default=None
        One id per item; images only: shown under each thumbnail (shortened in the
        middle).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    clusters = list(exemplars)[:max_clusters]
    if not clusters:
        fig = _figure((5, 1))
        fig.text(0.5, 0.5, "No clusters found.", ha="center", va="center")
        return fig
    if is_image:
        n_cols = max(len(v) for v in exemplars.values())
        row_height = 1.15 if ids is None else 1.45
        fig = _figure((1.2 * n_cols + 0.9, row_height * len(clusters)))
        axes = fig.subplots(len(clusters), n_cols, squeeze=False)
        for i, c in enumerate(clusters):
            for j in range(n_cols):
                ax = axes[i, j]
                if j < len(exemplars[c]):
                    _show(ax, X[exemplars[c][j]])
                    if ids is not None:
                        _caption_below(ax, shorten(ids[exemplars[c][j]], 16), fontsize=6)
                else:
                    ax.set_visible(False)
            axes[i, 0].set_ylabel("no cluster" if c == NOISE else f"cluster {c}",
                                  fontsize=8, rotation=0, ha="right", va="center")
        return fig
    means = np.array([X[exemplars[c]].mean(axis=0) for c in clusters])
    fig = _figure((max(6, 0.35 * X.shape[1] + 2), 0.4 * len(clusters) + 1.8))
    rows = ["no cluster" if c == NOISE else f"cluster {c}" for c in clusters]
    return _heat_map(fig, means, rows, feature_names, "mean of typical members (standardised)",
                     row_fontsize=8)


def _heat_map(fig, values, row_labels, feature_names, label, row_fontsize=7):
    """Rows of standardised table values as a heat map on ``fig``, features as columns."""
    ax = fig.subplots()
    limit = float(np.abs(values).max()) or 1.0
    image = ax.imshow(values, cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(values)), row_labels, fontsize=row_fontsize, **_PLAIN)
    names = feature_names if feature_names is not None else range(values.shape[1])
    ax.set_xticks(range(values.shape[1]), [shorten(f, 14) for f in names], rotation=90,
                  fontsize=7, **_PLAIN)
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    return fig


def plot_gallery(X, indices, ids, is_image, feature_names=None, notes=None, n_cols=8):
    """Thumbnails of some items with their ids under them (images), or a heat map of
    their standardised values with ids as row labels (tables).

    Parameters
    ----------
    X : ndarray of shape (n_items, ...)
        Items as the autoencoder saw them.
    indices : array-like of int
        The items to show, in that order.
    ids : sequence of str
        One id per item (shortened in the middle).
    is_image : bool
        Whether the items are images (else rows of a table).
    feature_names : sequence of str, default=None
        Column names of a table.
    notes : sequence of str, default=None
        One more line of caption per shown item.
    n_cols : int, default=8
        Thumbnails per row.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    indices = np.asarray(indices, dtype=int)
    notes = [""] * len(indices) if notes is None else list(notes)
    if len(indices) == 0:
        fig = _figure((5, 1))
        fig.text(0.5, 0.5, "No items.", ha="center", va="center")
        return fig
    width = 18 if is_image else 30  # thumbnails are narrow; row labels have room
    labels = ["\n".join(filter(None, [shorten(ids[i], width), note]))
              for i, note in zip(indices, notes)]
    if is_image:
        n_cols = min(n_cols, len(indices))
        n_rows = int(np.ceil(len(indices) / n_cols))
        fig = _figure((1.3 * n_cols, 1.6 * n_rows))
        axes = fig.subplots(n_rows, n_cols, squeeze=False)
        for k, ax in enumerate(axes.ravel()):
            if k >= len(indices):
                ax.set_visible(False)
                continue
            _show(ax, X[indices[k]])
            _caption_below(ax, labels[k], fontsize=6)
        return fig
    values = np.asarray(X[indices], dtype=float)
    fig = _figure((max(6, 0.35 * X.shape[1] + 3), 0.3 * len(indices) + 1.8))
    rows = [label.replace("\n", "  ") for label in labels]
    return _heat_map(fig, values, rows, feature_names, "value (standardised)")


def plot_anomalies(X, X_rec, ids, scores, order, is_image, feature_names=None, errors=None,
                   notes=None):
    """The most anomalous items: original, reconstruction and error map (or profiles).

    Parameters
    ----------
    X, X_rec : ndarray of shape (n_items, ...)
        Items as the autoencoder saw them, and their reconstructions.
    ids : sequence of str
        One id per item, shown under each item (shortened in the middle).
    scores : ndarray of shape (n_items,)
        Anomaly score of each item (higher = more unusual), shown under each item.
    order : array-like of int
        The items to show, in that order.
    is_image : bool
        Whether the items are images (else rows of a table).
    feature_names : sequence of str, default=None
        Column names of a table.
    errors : sequence of ndarray, default=None
        Error maps of the items in ``order`` (e.g. ``AEAnomalyDetector.error_map``); by
        default the squared difference of ``X`` and ``X_rec``. Images only; drawn on one
        colour scale, shown by a colour bar.
    notes : sequence of str, default=None
        More caption per shown item, e.g. the parts of its score.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    order = np.asarray(order, dtype=int)
    n = len(order)
    notes = [""] * n if notes is None else list(notes)
    captions = ["\n".join(filter(None, [f"score {scores[i]:.3g}", note]))
                for i, note in zip(order, notes)]
    if not is_image:
        return _profiles(X[order], X_rec[order], [ids[i] for i in order], captions,
                         feature_names)
    fig = _figure((1.35 * n + 1.6, 4.6))
    axes = fig.subplots(3, n, squeeze=False)
    if errors is None:
        errors = [(np.asarray(X[i], float) - np.asarray(X_rec[i], float)) ** 2
                  for i in order]
    errors = [np.asarray(e, float) for e in errors]
    errors = [e.mean(axis=0) if e.ndim == 3 else e for e in errors]
    top = max(float(max(e.max() for e in errors)), 1e-12)
    shown = None
    for j, i in enumerate(order):
        _show(axes[0, j], X[i], title=shorten(ids[i]))
        _show(axes[1, j], X_rec[i])
        _show(axes[2, j], errors[j], vmin=0, vmax=top, cmap="magma")
        shown = axes[2, j].images[-1]
        _caption_below(axes[2, j], captions[j])
    for row, name in enumerate(["original", "reconstruction", "squared error"]):
        axes[row, 0].set_ylabel(name, fontsize=8)
    bar = fig.colorbar(shown, ax=list(axes[2, :]), fraction=0.02, pad=0.01)
    bar.set_label("squared error", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return fig


def plot_nearest_normal(X, anomalies, neighbours, ids, is_image, feature_names=None,
                        distances=None):
    """Each anomaly next to its nearest normal items: one row of thumbnails per anomaly
    (images), or a heat map of their standardised values (tables).

    Parameters
    ----------
    X : ndarray of shape (n_items, ...)
        Items as the autoencoder saw them.
    anomalies : array-like of int, shape (n_anomalies,)
        The anomalies, in that order.
    neighbours : array-like of int, shape (n_anomalies, k)
        The items shown next to each anomaly, nearest first.
    ids : sequence of str
        One id per item (shortened in the middle).
    is_image : bool
        Whether the items are images (else rows of a table).
    feature_names : sequence of str, default=None
        Column names of a table.
    distances : array-like of float, shape (n_anomalies, k), default=None
        Distance of each neighbour to its anomaly, shown with its id.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    anomalies = np.asarray(anomalies, dtype=int)
    neighbours = np.asarray(neighbours, dtype=int).reshape(len(anomalies), -1)
    if len(anomalies) == 0 or neighbours.shape[1] == 0:
        fig = _figure((5, 1))
        fig.text(0.5, 0.5, "No items to compare with.", ha="center", va="center")
        return fig
    n, k = neighbours.shape

    def note(r, j):
        return "" if distances is None else f"distance {distances[r][j]:.3g}"

    if is_image:  # two anomalies side by side, a narrow gap between them
        per_row = 2 if n > 1 else 1
        ratios = ([1.0] * (k + 1) + [0.3]) * per_row
        ratios = ratios[:-1]
        fig = _figure((1.1 * sum(ratios) + 0.3, 1.45 * int(np.ceil(n / per_row))))
        axes = fig.subplots(int(np.ceil(n / per_row)), len(ratios), squeeze=False,
                            gridspec_kw={"width_ratios": ratios})
        for ax in axes.ravel():
            ax.set_visible(False)
        for r, a in enumerate(anomalies):
            line, start = r // per_row, (r % per_row) * (k + 2)
            for j, i in enumerate([a, *neighbours[r]]):
                ax = axes[line, start + j]
                ax.set_visible(True)
                _show(ax, X[i])
                if j == 0:
                    for spine in ax.spines.values():
                        spine.set(color="#c44e52", linewidth=2)
                caption = f"anomaly #{r + 1}" if j == 0 else note(r, j - 1)
                _caption_below(ax, "\n".join(filter(None, [shorten(ids[i]), caption])),
                               fontsize=6)
        return fig
    rows, labels = [], []
    for r, a in enumerate(anomalies):
        rows.append(X[a])
        labels.append(f"#{r + 1} {shorten(ids[a], 30)} (anomaly)")
        for j, i in enumerate(neighbours[r]):
            rows.append(X[i])
            labels.append("  ".join(filter(None, [shorten(ids[i], 30), note(r, j)])))
    fig = _figure((max(6, 0.35 * X.shape[1] + 3), 0.22 * len(rows) + 1.8))
    _heat_map(fig, np.asarray(rows, dtype=float), labels, feature_names,
              "value (standardised)", row_fontsize=6)
    ax = fig.axes[0]
    for r in range(1, n):
        ax.axhline(r * (k + 1) - 0.5, color="black", lw=1.2)
    for label in ax.get_yticklabels()[::k + 1]:
        label.set_fontweight("bold")
    return fig


def plot_score_histogram(scores, order):
    """Distribution of anomaly scores, with a red line at each item of ``order``.

    Parameters
    ----------
    scores : ndarray of shape (n_items,)
        Anomaly score of each item (higher = more unusual).
    order : array-like of int
        The items to mark, e.g. the most anomalous ones.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig = _figure((6, 3))
    ax = fig.subplots()
    ax.hist(scores, bins=min(60, max(10, len(scores) // 10)), color="#4c72b0")
    for i in order:
        ax.axvline(scores[i], color="#c44e52", lw=0.8, alpha=0.7)
    ax.set_xlabel("anomaly score (higher = more unusual)")
    ax.set_ylabel("items")
    ax.set_yscale("log")
    return fig
