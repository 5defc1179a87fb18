"""Unsupervised discovery: what kinds of thing are in data nobody labelled?

The discovery pipeline is plain scikit-learn::

    from sklearn.pipeline import Pipeline
    from umap import UMAP
    from hdbscan import HDBSCAN
    discovery = Pipeline([("ae", ConvAutoEncoder()), ("umap", UMAP(n_components=10)),
                          ("cluster", HDBSCAN(prediction_data=True))])
    labels = discovery.fit_predict(X)

This module adds what a scientist asks next: a :func:`cluster_report` (how many clusters,
how large, which items are typical of each, how much is noise), a 2-D map of the codes
(:func:`map_2d`, :func:`plot_cluster_map`, :func:`plot_exemplars`), the accuracy of
clusters against known classes (:func:`cluster_accuracy`), and :func:`predict_clusters`,
which sends a *new* set through the fitted encoder and the fitted UMAP's ``transform``
and assigns each item to a known cluster, or to none (``-1``). ``map_and_cluster`` is
the map and the clusters of ``skae explore`` in one call. The figures are drawn by
:mod:`skae.plotting`.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from .plotting import plot_cluster_map, plot_exemplars
from .plotting._palette import NOISE

__all__ = [
    "ClusterReport",
    "cluster_accuracy",
    "cluster_report",
    "default_min_cluster_size",
    "map_2d",
    "map_and_cluster",
    "plot_cluster_map",
    "plot_exemplars",
    "predict_clusters",
]

# UMAP's spectral initialisation of a 2-D map needs n_samples > 2 + 1.
MAP_2D_MIN_SAMPLES = 4


@dataclass
class ClusterReport:
    """Summary of a clustering, as returned by :func:`cluster_report`.

    Attributes
    ----------
    n_samples : int
        Number of items clustered.
    n_clusters : int
        Number of clusters, noise (label ``-1``) not counted.
    cluster_labels : ndarray of shape (n_clusters,)
        The cluster labels, largest cluster first.
    sizes : ndarray of shape (n_clusters,)
        Number of items in each cluster, aligned with ``cluster_labels``.
    exemplars : dict of label -> ndarray of int
        Indices of the most typical items of each cluster, most typical first.
    n_noise : int
        Number of items in no cluster (label ``-1``).
    noise_fraction : float
        ``n_noise / n_samples``.
    """

    n_samples: int
    n_clusters: int
    cluster_labels: np.ndarray
    sizes: np.ndarray
    exemplars: dict = field(repr=False)
    n_noise: int
    noise_fraction: float

    def __str__(self):
        lines = [
            f"{self.n_clusters} cluster(s) in {self.n_samples} items; noise: "
            f"{self.n_noise} ({self.noise_fraction:.1%})",
            f"{'cluster':>8} {'size':>7} {'share':>7}  exemplars",
        ]
        for label, size in zip(self.cluster_labels, self.sizes):
            shown = ", ".join(str(i) for i in self.exemplars[label][:5])
            lines.append(f"{label!s:>8} {size:>7} {size / self.n_samples:>7.1%}  {shown}")
        return "\n".join(lines)


def cluster_report(labels, *, embedding=None, probabilities=None, n_exemplars=5):
    """Number, sizes, exemplars and noise of a clustering.

    Exemplars are the items with the highest membership ``probabilities`` when given
    (e.g. ``hdbscan.HDBSCAN().probabilities_`` or ``GaussianMixture.predict_proba``);
    otherwise the items nearest their cluster's centre in ``embedding`` (the medoid
    first); otherwise the first items of each cluster.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Cluster label of each item; ``-1`` is noise (as HDBSCAN and DBSCAN write it).
    embedding : array-like of shape (n_samples, n_dims), default=None
        Coordinates the clusters were found in (codes, or their UMAP embedding).
    probabilities : array-like of shape (n_samples,), default=None
        Strength of each item's membership in its cluster.
    n_exemplars : int, default=5
        Exemplars to keep per cluster (fewer if the cluster is smaller).

    Returns
    -------
    report : ClusterReport
        Prints as a table; its fields hold the numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from skae.discovery import cluster_report
    >>> labels = np.array([0, 0, 0, 1, 1, -1])
    >>> points = np.array([[0.0], [0.1], [0.5], [5.0], [5.2], [9.0]])
    >>> report = cluster_report(labels, embedding=points, n_exemplars=2)
    >>> report.n_clusters, report.sizes.tolist(), round(report.noise_fraction, 3)
    (2, [3, 2], 0.167)
    >>> report.exemplars[0].tolist()
    [1, 0]
    """
    labels = column_or_1d(labels)
    if not isinstance(n_exemplars, (int, np.integer)) or n_exemplars < 1:
        raise ValueError(f"n_exemplars must be a positive int, got {n_exemplars!r}.")
    if embedding is not None:
        embedding = check_array(embedding, dtype=np.float64)
        check_consistent_length(labels, embedding)
    if probabilities is not None:
        probabilities = column_or_1d(check_array(probabilities, ensure_2d=False,
                                                 dtype=np.float64))
        check_consistent_length(labels, probabilities)
    noise = labels == NOISE
    clusters, sizes = np.unique(labels[~noise], return_counts=True)
    order = np.argsort(-sizes, kind="stable")
    clusters, sizes = clusters[order], sizes[order]
    exemplars = {}
    for label in clusters:
        members = np.flatnonzero(labels == label)
        if probabilities is not None:
            rank = np.argsort(-probabilities[members], kind="stable")
        elif embedding is not None:
            points = embedding[members]
            centre = np.median(points, axis=0)
            rank = np.argsort(((points - centre) ** 2).sum(axis=1), kind="stable")
        else:
            rank = np.arange(len(members))
        exemplars[label] = members[rank[:n_exemplars]]
    n_noise = int(noise.sum())
    return ClusterReport(
        n_samples=len(labels),
        n_clusters=len(clusters),
        cluster_labels=clusters,
        sizes=sizes,
        exemplars=exemplars,
        n_noise=n_noise,
        noise_fraction=n_noise / len(labels) if len(labels) else 0.0,
    )


def cluster_accuracy(y_true, y_pred):
    """Clustering accuracy: the best one-to-one matching of clusters to classes.

    The Hungarian algorithm matches each cluster to at most one class (and each class to
    at most one cluster) so that the most items agree; the accuracy is the fraction that
    agrees. Noise (``-1``) and clusters left unmatched count as errors. This is the ACC
    of the deep-clustering literature (DEC, N2D).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    accuracy : float in [0, 1]

    Examples
    --------
    >>> from skae.discovery import cluster_accuracy
    >>> cluster_accuracy([0, 0, 1, 1], [7, 7, 3, -1])
    0.75
    """
    y_true, y_pred = column_or_1d(y_true), column_or_1d(y_pred)
    check_consistent_length(y_true, y_pred)
    classes, true_idx = np.unique(y_true, return_inverse=True)
    valid = y_pred != NOISE
    clusters, pred_idx = np.unique(y_pred[valid], return_inverse=True)
    counts = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(counts, (pred_idx, true_idx[valid]), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(y_true)) if len(y_true) else 0.0


def map_2d(codes, *, n_neighbors=15, min_dist=0.1, random_state=None):
    """2-D coordinates of codes for a map: UMAP to 2 dimensions (codes already 2-D stay).

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_dims)
        E.g. an autoencoder's ``transform`` or a UMAP embedding of it.
    n_neighbors : int, default=15
        UMAP's neighbourhood size: larger keeps more global structure.
    min_dist : float, default=0.1
        UMAP's minimum distance of points in the map.
    random_state : int or None, default=None
        Seed of UMAP (an int makes the map reproducible, and single-threaded).

    Returns
    -------
    coordinates : ndarray of shape (n_samples, 2)

    Raises
    ------
    ValueError
        If ``codes`` has fewer than 4 samples (and not 2 columns): UMAP's spectral
        initialisation needs more samples than map dimensions plus one.
    """
    codes = check_array(codes, dtype=np.float32)
    if codes.shape[1] == 2:
        return codes.copy()
    if len(codes) < MAP_2D_MIN_SAMPLES:
        raise ValueError(
            f"map_2d needs at least {MAP_2D_MIN_SAMPLES} samples to embed codes of "
            f"{codes.shape[1]} dimensions with UMAP; got {len(codes)}. For so few items "
            "plot the codes themselves, or their PCA to 2 dimensions."
        )
    from umap import UMAP

    # A seeded UMAP runs on one thread whatever n_jobs says (and warns about it otherwise).
    n_jobs = -1 if random_state is None else 1
    return UMAP(
        n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=random_state,
        n_jobs=n_jobs,
    ).fit_transform(codes)


def default_min_cluster_size(n_items):
    """The smallest group reported as a cluster by default: 2.5 % of the items, at least 5.

    Parameters
    ----------
    n_items : int
        Number of items clustered.

    Returns
    -------
    min_cluster_size : int

    Examples
    --------
    >>> from skae.discovery import default_min_cluster_size
    >>> default_min_cluster_size(100), default_min_cluster_size(2000)
    (5, 50)
    """
    return max(5, n_items // 40)


def map_and_cluster(codes, method="umap", min_cluster_size=None, random_state=None):
    """A 2-D map and HDBSCAN clusters of codes, by the rule of ``skae explore``.

    The codes are standardised first. ``method="umap"``: clusters from HDBSCAN
    (``min_samples=5``) on a 5-D UMAP of the codes (``n_neighbors=30``, ``min_dist=0``:
    dense clumps), map from :func:`map_2d`. ``method="pca"``, or fewer than 10 items:
    HDBSCAN directly on the codes, map from PCA; faster, for small data.

    HDBSCAN's default ("eom") clusters are kept unless one of them holds more than half
    of the items; then its leaf clusters, the finest dense groups of its tree, are used.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_dims)
        E.g. an autoencoder's ``transform``.
    method : {"umap", "pca"}, default="umap"
        Where the clusters are found and how the map is made.
    min_cluster_size : int, default=None
        Smallest group that counts as a cluster; :func:`default_min_cluster_size` if
        None. Kept between 2 and half of the items.
    random_state : int or None, default=None
        Seed of UMAP.

    Returns
    -------
    coordinates : ndarray of shape (n_samples, 2)
        The 2-D map.
    labels : ndarray of int64, shape (n_samples,)
        Cluster of each item, ``-1`` for none.
    clusterer : hdbscan.HDBSCAN
        The fitted clusterer (its ``cluster_selection_method`` says which selection
        was kept).

    Examples
    --------
    >>> import numpy as np
    >>> from skae.discovery import map_and_cluster
    >>> rng = np.random.default_rng(0)
    >>> codes = np.vstack([rng.normal(0, 0.1, (30, 4)), rng.normal(3, 0.1, (30, 4))])
    >>> xy, labels, clusterer = map_and_cluster(codes, "pca", min_cluster_size=10)
    >>> xy.shape, sorted(set(labels.tolist()))
    ((60, 2), [0, 1])
    """
    from hdbscan import HDBSCAN
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if method not in ("umap", "pca"):
        raise ValueError(f"method must be 'umap' or 'pca', got {method!r}.")
    Z = StandardScaler().fit_transform(np.asarray(codes, dtype=np.float64))
    n = len(Z)
    if min_cluster_size is None:
        min_cluster_size = default_min_cluster_size(n)
    min_cluster_size = int(min(max(min_cluster_size, 2), max(n // 2, 2)))
    if method == "umap" and n >= 10:
        from umap import UMAP

        n_neighbors = min(30, n - 1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value.*")
            warnings.filterwarnings("ignore", category=UserWarning, module="umap")
            space = UMAP(n_components=min(5, max(Z.shape[1], 2)), n_neighbors=n_neighbors,
                         min_dist=0.0, random_state=random_state).fit_transform(Z)
            xy = map_2d(Z, n_neighbors=n_neighbors, random_state=random_state)
    else:
        space = Z
        xy = PCA(n_components=2).fit_transform(Z) if Z.shape[1] >= 2 else np.column_stack(
            [Z[:, 0], np.zeros(n)]
        )
    # One cluster swallows more than half of the items when the codes form a few large,
    # loosely joined groups (Fashion-MNIST: all clothes vs all shoes); that hides every
    # new kind inside it. Leaf clusters may split a kind in two but never lump distinct
    # kinds together.
    for selection in ("eom", "leaf"):
        clusterer = HDBSCAN(min_cluster_size=min_cluster_size,
                            min_samples=min(5, min_cluster_size),
                            cluster_selection_method=selection)
        labels = clusterer.fit_predict(space).astype(np.int64)
        found = labels[labels >= 0]
        if not len(found) or np.bincount(found).max() <= n / 2:
            break
    return np.asarray(xy, dtype=np.float64), labels, clusterer


def predict_clusters(pipeline, X, *, return_strength=False):
    """Assign new items to the clusters of a fitted discovery pipeline.

    ``X`` goes through every step but the last with ``transform`` (the fitted encoder,
    then the fitted UMAP's ``transform``: new points are placed in the existing map, the
    map is not refitted); the last step then assigns the embedded points:

    - ``hdbscan.HDBSCAN`` fitted with ``prediction_data=True``: its
      ``approximate_predict``; ``-1`` means the item falls outside every known cluster;
    - any clusterer with ``predict`` (``GaussianMixture``, ``KMeans``): ``predict``, with
      the top ``predict_proba`` as strength when available.

    Parameters
    ----------
    pipeline : fitted sklearn.pipeline.Pipeline
        Ends with the clusterer, e.g. ``[("ae", ...), ("umap", ...), ("cluster", ...)]``.
    X : array-like
        New data, in the form the pipeline's first step takes.
    return_strength : bool, default=False
        Also return each assignment's strength in [0, 1] (HDBSCAN's membership strength,
        a mixture's posterior probability; ones for clusterers without either).

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Cluster of each new item, ``-1`` for none.
    strength : ndarray of shape (n_samples,)
        Only when ``return_strength`` is True.

    Raises
    ------
    TypeError
        If the last step can assign no new point (e.g. ``sklearn.cluster.HDBSCAN``, or
        ``hdbscan.HDBSCAN`` without ``prediction_data=True``).
    """
    embedding = pipeline[:-1].transform(X)
    clusterer = pipeline[-1]
    strength = None
    if type(clusterer).__module__.startswith("hdbscan"):
        if getattr(clusterer, "prediction_data_", None) is None:
            raise TypeError(
                "hdbscan.HDBSCAN can assign new points only when fitted with "
                "prediction_data=True; set it in the pipeline and fit again."
            )
        from hdbscan import approximate_predict

        labels, strength = approximate_predict(clusterer, embedding)
    elif hasattr(clusterer, "predict"):
        labels = clusterer.predict(embedding)
        if hasattr(clusterer, "predict_proba"):
            strength = clusterer.predict_proba(embedding).max(axis=1)
    else:
        raise TypeError(
            f"{type(clusterer).__name__} has no predict method, so new points cannot be "
            "assigned to its clusters. Use hdbscan.HDBSCAN(prediction_data=True) (package "
            "hdbscan) or a clusterer with predict, such as GaussianMixture."
        )
    labels = np.asarray(labels)
    if not return_strength:
        return labels
    strength = np.ones(len(labels)) if strength is None else np.asarray(strength, float)
    return labels, strength
