"""``skae explore PATH``: train a detector on the user's data, then map, cluster and rank.

The analysis is a few calls: skae's default autoencoder for the data (the rule of
``skae._defaults.default_autoencoder``, which every estimator uses) inside
:class:`skae.AEAnomalyDetector`, the autoencoder's codes, and
``skae.discovery.map_and_cluster``. :class:`Analysis` holds what results.csv and the
report show, for ``skae demo`` too.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._defaults import default_autoencoder
from ..discovery import ClusterReport, cluster_report, default_min_cluster_size, map_and_cluster
from ._interrupts import INTERRUPTS
from ._loaders import InputError, load_csv, load_input, printable
from ._output import check_output_folder, write_outputs
from ._status import Status


def make_autoencoder(data, latent_dim, epochs, device, seed, verbose):
    """The autoencoder ``explore`` trains: skae's default for the data, with the options.

    Parameters
    ----------
    data : LoadedData
        Only the shape of ``data.X`` is read.
    latent_dim : int
        Size of the code.
    epochs : int or "auto"
        ``max_epochs`` of the autoencoder.
    device : str
        ``device`` of the autoencoder.
    seed : int
        ``random_state`` of the autoencoder.
    verbose : int
        ``verbose`` of the autoencoder.

    Returns
    -------
    autoencoder : ConvAutoEncoder or DenseAutoEncoder
        Unfitted: convolutional for images, dense for tables.

    Raises
    ------
    InputError
        If the images are too small for a convolutional autoencoder.
    """
    try:
        return default_autoencoder(data.X, random_state=seed, latent_dim=latent_dim,
                                   max_epochs=epochs, device=device, verbose=verbose)
    except ValueError as exc:  # images of under 2 x 2 pixels: the user's input
        raise InputError(str(exc)) from None


@dataclass
class Analysis:
    """What ``explore`` or ``demo`` found, as results.csv and the report show it.

    The reconstructions, their errors and the loss curve are derived from
    ``autoencoder`` and ``X_shown`` when the object is made.

    Attributes
    ----------
    detector : AEAnomalyDetector
        The fitted detector; its ``error_map`` draws where items differ.
    autoencoder : ConvAutoEncoder or DenseAutoEncoder
        The fitted autoencoder that gave ``codes`` and the reconstructions.
    X_shown : ndarray of shape (n_items, ...)
        The items as ``autoencoder`` saw them (tables standardised).
    codes : ndarray of shape (n_items, latent_dim)
        ``autoencoder.transform(X_shown)``.
    scores : ndarray of shape (n_items,)
        Anomaly score of each item: higher = more unusual.
    xy : ndarray of shape (n_items, 2)
        The 2-D map.
    clusters : ndarray of shape (n_items,)
        Cluster of each item, ``-1`` for none.
    clusterer : hdbscan.HDBSCAN
        The fitted clusterer.
    cluster_report : ClusterReport
        Sizes and exemplars of ``clusters``.
    min_cluster_size : int
        HDBSCAN's ``min_cluster_size``.
    fit_seconds : float
        Time spent training (``explore``) or on the whole run (``demo``).
    score_parts : ndarray of shape (n_items, n_parts), default=None
        The parts of ``scores`` (``AEAnomalyDetector.score_parts``): higher = more
        unusual in that term; ``scores`` is their mean.
    score_part_names : tuple of str, default=()
        Name of each column of ``score_parts``.
    reconstructions : ndarray of shape (n_items, ...)
        ``autoencoder.reconstruct(X_shown)``.
    reconstruction_error : ndarray of shape (n_items,)
        ``autoencoder.reconstruction_error(X_shown)``.
    loss_curve : list of float
        ``autoencoder.loss_curve_``.
    """

    detector: object
    autoencoder: object
    X_shown: np.ndarray
    codes: np.ndarray
    scores: np.ndarray
    xy: np.ndarray
    clusters: np.ndarray
    clusterer: object
    cluster_report: ClusterReport
    min_cluster_size: int
    fit_seconds: float
    score_parts: np.ndarray = None
    score_part_names: tuple = ()
    reconstructions: np.ndarray = field(init=False, repr=False)
    reconstruction_error: np.ndarray = field(init=False, repr=False)
    loss_curve: list = field(init=False, repr=False)

    def __post_init__(self):
        if self.score_parts is not None:
            self.score_parts = np.asarray(self.score_parts, dtype=np.float64)
            self.score_part_names = tuple(str(n) for n in self.score_part_names)
            if self.score_parts.shape != (len(self.scores), len(self.score_part_names)):
                raise ValueError(
                    f"score_parts has shape {self.score_parts.shape}; expected "
                    f"({len(self.scores)}, {len(self.score_part_names)}): one row per "
                    "item, one column per name of score_part_names."
                )
        self.reconstructions = np.asarray(self.autoencoder.reconstruct(self.X_shown),
                                          dtype=np.float32)
        self.reconstruction_error = self.autoencoder.reconstruction_error(self.X_shown)
        self.loss_curve = list(self.autoencoder.loss_curve_)


def analyse(data, *, latent_dim, epochs, device, seed, map_method, min_cluster_size,
            verbose, status=None, features=None):
    """Fit the detector (and its autoencoder), get codes, scores, map and clusters.

    Parameters
    ----------
    data : LoadedData
        The items; the detector trains on them and ranks them.
    features : ndarray of shape (n_items, n_features), default=None
        A table measured on the same items, one row per item in their order. A second
        detector (skae's default for tables) ranks its rows; an item's score is the mean
        of both detectors' scores, its score parts those of both (``image ...``,
        ``features ...``), and the clusters are found on the standardised codes and
        features side by side.
    latent_dim, epochs, device, seed, verbose
        Options of the autoencoder, see :func:`make_autoencoder`.
    map_method : {"umap", "pca"}
        See :func:`skae.discovery.map_and_cluster`.
    min_cluster_size : int
        Smallest group that counts as a cluster.
    status : Status, default=None
        Says when each stage starts and how long it took; silent if None.

    Returns
    -------
    result : Analysis
    """
    from .. import AEAnomalyDetector

    status = status or Status(quiet=True)
    autoencoder = make_autoencoder(data, latent_dim, epochs, device, seed, verbose)
    # novelty=False: the items to rank are the training items themselves.
    detector = AEAnomalyDetector(autoencoder, novelty=False, random_state=seed)
    n = f"{len(data.X):,}"
    with status.stage(f"Training {type(autoencoder).__name__}(latent_dim={latent_dim}) "
                      f"on {n} items (epochs: {epochs})"):
        started = time.perf_counter()
        detector.fit(data.X)
        INTERRUPTS.check()  # Ctrl+C between epochs: skorch stopped early and said nothing
        fit_seconds = time.perf_counter() - started
    ae = detector.autoencoder_
    with status.stage(f"Scoring the {n} items (reconstruction error, code distances)"):
        X_ae = data.X if detector.scaler_ is None else detector.scaler_.transform(data.X)
        X_shown = np.asarray(X_ae, dtype=np.float32)  # what the autoencoder sees
        # detector.encode(data.X), without scaling and validating the data again
        codes = np.asarray(ae.transform(X_ae), dtype=np.float64)
        # Why an item is unusual: the parts of its score, one per detector term. Their
        # mean is minus the detector's normality score (higher = more anomalous).
        parts = detector.score_parts(data.X)
        scores = parts.mean(axis=1)
    part_names, represent = detector.term_names_, codes
    if features is not None:
        from sklearn.preprocessing import StandardScaler

        on_features = AEAnomalyDetector(novelty=False, random_state=seed)
        with status.stage(f"Training a second detector on the {features.shape[1]} "
                          "features of each item"):
            on_features.fit(features)
            INTERRUPTS.check()
        feature_parts = on_features.score_parts(features)
        scores = (scores + feature_parts.mean(axis=1)) / 2
        parts = np.hstack([parts, feature_parts])
        part_names = ([f"{'image' if data.is_image else 'item'} {n}" for n in part_names]
                      + [f"features {n}" for n in on_features.term_names_])
        represent = np.hstack([StandardScaler().fit_transform(codes),
                               StandardScaler().fit_transform(features)])
    how = "UMAP + HDBSCAN" if map_method == "umap" else "PCA + HDBSCAN"
    seen = "codes" if features is None else "codes and features"
    with status.stage(f"Mapping and clustering the {seen} ({how})"):
        xy, clusters, clusterer = map_and_cluster(represent, map_method, min_cluster_size,
                                                  seed)
        report = cluster_report(clusters, embedding=represent, n_exemplars=8)
    with status.stage("Reconstructing the items for the report"):
        return Analysis(
            detector=detector, autoencoder=ae, X_shown=X_shown, codes=codes,
            scores=scores, xy=xy, clusters=clusters, clusterer=clusterer,
            cluster_report=report, min_cluster_size=min_cluster_size,
            fit_seconds=fit_seconds, score_parts=parts, score_part_names=part_names,
        )


def run_explore(args):
    """Run ``skae explore`` with parsed arguments; returns the exit status (0).

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`skae.cli.build_parser`.

    Returns
    -------
    status : int
    """
    output = Path(args.output) if args.output else Path.cwd() / (
        Path(args.path).resolve().name.split(".")[0] + "_skae")
    check_output_folder(output, args.overwrite, args.path)  # fail before the long part
    resize = tuple(args.resize) if args.resize else None
    status = Status(quiet=args.quiet)
    with status.stage(f"Reading {printable(str(args.path))}"):
        data = load_input(args.path, resize=resize, key=args.key,
                          id_column=args.id_column)
    status.say(f"skae explore: {data.description}", indent="  ")
    features = None
    if args.features is not None:
        table_path = Path(args.features)
        if not table_path.is_file() or table_path.suffix.lower() not in (".csv", ".tsv"):
            raise InputError(f"--features '{printable(str(args.features))}' must be an "
                             "existing .csv or .tsv file.")
        with status.stage(f"Reading {printable(str(args.features))}"):
            table = load_csv(table_path)
        if len(table.X) != len(data.X):
            raise InputError(
                f"--features '{args.features}' has {len(table.X)} rows for {len(data.X)} "
                "items; it needs one row per item, in the order of the items (the order "
                "of results.csv: file names sorted).")
        features = table.X
        status.say(f"Features: {table.description}", indent="  ")
    if data.is_image and np.prod(data.X.shape[-2:]) > 256 * 256:
        status.say("Tip: images this large train slowly on a CPU; --resize 128 128 (or "
                   "smaller) is often enough to find clusters and anomalies.", indent="  ")
    min_cluster_size = args.min_cluster_size or default_min_cluster_size(len(data.X))
    result = analyse(data, latent_dim=args.latent_dim, epochs=args.epochs,
                     device=args.device, seed=args.seed, map_method=args.map,
                     min_cluster_size=min_cluster_size, verbose=0 if args.quiet else 1,
                     status=status, features=features)
    INTERRUPTS.check()
    options = {"path": str(args.path), "latent size": args.latent_dim,
               "epochs": args.epochs, "device": args.device, "seed": args.seed,
               "map": args.map, "resize": resize,
               "features": None if args.features is None else str(args.features)}
    with status.stage("Writing results.csv and report.html"):
        write_outputs(output, data, result, f"skae explore: {Path(args.path).name}",
                      options, args.overwrite, input_path=args.path)
    cr = result.cluster_report
    final = Status(stream=None)  # the results are printed even with --quiet
    final.say(f"{cr.n_clusters} cluster(s); sizes "
              f"{', '.join(str(int(s)) for s in cr.sizes) or '-'}; "
              f"{cr.n_noise} item(s) in no cluster.", indent="  ")
    top = np.argsort(-result.scores, kind="stable")[:5]
    final.say("Most anomalous: " + ", ".join(f"{data.ids[i]} ({result.scores[i]:.3g})"
                                             for i in top), indent="  ")
    final.say(printable(f"Wrote {output / 'results.csv'} and {output / 'report.html'}"),
              indent="  ")
    return 0
