"""Figures of clusters: a 2-D map coloured by cluster, and a grid of exemplar images."""

import numpy as np
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from ._palette import NOISE, cluster_colours


def plot_cluster_map(coordinates, labels, *, ax=None, point_size=2.0, annotate=True,
                     colours=None):
    """Scatter a 2-D map coloured by cluster; noise (``-1``) in light grey.

    Parameters
    ----------
    coordinates : array-like of shape (n_samples, 2)
        From :func:`~skae.discovery.map_2d`.
    labels : array-like of shape (n_samples,)
        Cluster labels (or classes).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    point_size : float, default=2.0
    annotate : bool, default=True
        Write each cluster's label at its median position.
    colours : dict, default=None
        Label -> colour. By default :func:`cluster_colours` of ``labels``; pass
        ``cluster_colours(all_labels)`` to draw a subset (e.g. new items assigned to the
        clusters) in the colours of the whole map.

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    ValueError
        If ``colours`` lacks a label of ``labels``.
    """
    import matplotlib.pyplot as plt

    coordinates = check_array(coordinates)
    labels = column_or_1d(labels)
    check_consistent_length(coordinates, labels)
    if coordinates.shape[1] != 2:
        raise ValueError(f"coordinates must have 2 columns, got {coordinates.shape[1]}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    if colours is None:
        colours = cluster_colours(labels)
    else:
        colours = {NOISE: cluster_colours([])[NOISE], **dict(colours)}
        missing = sorted(set(np.unique(labels).tolist()) - set(colours))
        if missing:
            raise ValueError(f"colours has no colour for the label(s) {missing}.")
    noise = labels == NOISE
    ax.scatter(*coordinates[noise].T, s=point_size, color=colours[NOISE], label="noise")
    for label in np.unique(labels[~noise]):
        points = coordinates[labels == label]
        ax.scatter(*points.T, s=point_size, color=colours[label])
        if annotate:
            ax.annotate(str(label), np.median(points, axis=0), fontsize=11, weight="bold",
                        ha="center", va="center",
                        bbox=dict(boxstyle="round", fc="white", alpha=0.7, lw=0))
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_exemplars(images, report, *, n_exemplars=None, image_shape=None, cmap="gray"):
    """A grid of exemplar images: one row per cluster, largest cluster first.

    Parameters
    ----------
    images : array-like of shape (n_samples, H, W) or (n_samples, H*W)
        The items that were clustered, in the same order.
    report : ClusterReport
        From :func:`~skae.discovery.cluster_report`.
    n_exemplars : int, default=None
        Images per row; all of the report's exemplars if None.
    image_shape : tuple of int, default=None
        ``(H, W)`` when ``images`` come as flat rows.
    cmap : str, default="gray"

    Returns
    -------
    fig : matplotlib Figure
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if image_shape is not None:
        images = images.reshape(len(images), *image_shape)
    if images.ndim != 3:
        raise ValueError(
            f"images must be (n, H, W), or flat rows with image_shape; got {images.shape}."
        )
    n_cols = n_exemplars or max((len(v) for v in report.exemplars.values()), default=1)
    n_rows = max(report.n_clusters, 1)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.1 * n_cols + 1, 1.1 * n_rows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for row, (label, size) in enumerate(zip(report.cluster_labels, report.sizes)):
        for col, index in enumerate(report.exemplars[label][:n_cols]):
            axes[row, col].imshow(images[index], cmap=cmap)
        axes[row, 0].text(-0.15, 0.5, f"{label}\n(n={size})", transform=axes[row, 0].transAxes,
                          ha="right", va="center", fontsize=8)
    return fig
