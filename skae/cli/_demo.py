"""``skae demo``: the known / unknown / odd workflow, end to end, on bundled data.

Known classes: a logistic regression on the codes of a labelled control set. Unknown
classes: an :class:`~skae.AEAnomalyDetector` trained on the control set only (for the
particles, fused with a detector of their measured features by
:class:`~skae.FusedAnomalyDetector` and calibrated out of fold by
:class:`~skae.CrossConformalDetector`), whose scores on the core set are compared with
the truth (AUROC), and flagged at a false discovery rate. Discovery: clusters of the codes
against the true kinds. The whole demo, in Python, is
``examples/ice_core/plot_known_unknown.py``.
"""

import time
from pathlib import Path

import numpy as np

from .._conformal import benjamini_hochberg, conformal_p_values
from .._defaults import default_autoencoder
from ..discovery import (
    cluster_accuracy,
    cluster_report,
    default_min_cluster_size,
    map_and_cluster,
)
from ._explore import Analysis
from ._interrupts import INTERRUPTS
from ._loaders import InputError, LoadedData, printable, resize_images
from ._output import check_output_folder, write_outputs
from ._report import html_table
from ._status import Status, format_seconds

FASHION_DEFAULT_UNKNOWN = ("Trouser", "Bag")


def _demo_data(args):
    """Images, labels, class names, control mask, unknown classes, description and the
    measured features (particles only, else None) of the demo."""
    from sklearn.model_selection import train_test_split

    if args.data == "fashion":
        from ..datasets import load_fashion_mnist_subset

        bunch = load_fashion_mnist_subset()
        names = list(bunch.target_names)
        unknown = _parse_classes(args.unknown, names, FASHION_DEFAULT_UNKNOWN)
        X, y = bunch.images, bunch.target
        is_unknown = np.isin(y, [names.index(u) for u in unknown])
        known_idx = np.flatnonzero(~is_unknown)
        control_idx, _ = train_test_split(known_idx, train_size=0.5, stratify=y[known_idx],
                                          random_state=args.seed)
        is_control = np.zeros(len(y), dtype=bool)
        is_control[control_idx] = True
        description = (
            f"Fashion-MNIST subset bundled with skae: {len(y)} real 28x28 images of "
            f"{len(names)} classes. Control set (labelled): half of the items of the "
            f"{len(names) - len(unknown)} known classes; core set: the other half plus all "
            f"items of the held-out classes {', '.join(unknown)}."
        )
        return X, y, names, is_control, unknown, description, None
    from ..datasets import make_particles
    from ..datasets._particles import DEFAULT_CORE_ONLY_KINDS, PARTICLE_KINDS

    names = list(PARTICLE_KINDS)
    unknown = _parse_classes(args.unknown, names, DEFAULT_CORE_ONLY_KINDS)
    control_kinds = [k for k in names if k not in unknown]
    n = args.n_images
    bunch = make_particles(n_control=n // 2, n_core=n - n // 2, control_kinds=control_kinds,
                           core_only_kinds=unknown, random_state=args.seed)
    X = bunch.images
    if args.image_size != X.shape[-1]:
        X = resize_images(X, (args.image_size, args.image_size))
    description = (
        f"make_particles(random_state={args.seed}): {len(X)} synthetic ice-core particle "
        f"images (128x128, shown to the autoencoder at {args.image_size}x{args.image_size}). "
        f"Control set (labelled): {int(bunch.is_control.sum())} images of "
        f"{', '.join(control_kinds)}; core set: {int((~bunch.is_control).sum())} images that "
        f"also hold the unknown kinds {', '.join(unknown)}."
    )
    return (X, bunch.target, list(bunch.target_names), bunch.is_control, unknown,
            description, bunch.features)


def _parse_classes(text, names, default):
    if text is None:
        return list(default)
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    lookup = {n.lower(): n for n in names}
    bad = [c for c in chosen if c.lower() not in lookup]
    if bad or not chosen:
        raise InputError(f"--unknown must list class names separated by commas, from: "
                         f"{', '.join(names)}; got {text!r}.")
    chosen = [lookup[c.lower()] for c in chosen]
    if len(set(chosen)) >= len(names) - 1:
        raise InputError("--unknown must leave at least two known classes.")
    return chosen


FDR = 0.1  # the demo's false discovery rate for "which core items are other things"


def _flag_at_fdr(normality, detector, fdr):
    """Core items flagged by Benjamini-Hochberg on conformal p-values of ``normality``
    (the scores of the core items) against ``detector``'s held-out control items."""
    return benjamini_hochberg(conformal_p_values(detector.calibration_scores_, normality), fdr)


def _fused_detector(autoencoder, n_pixels, image_shape, seed):
    """Images and features in one detector: each on its columns of one table, weighted
    by how well it finds a known kind left out of training (FusedAnomalyDetector)."""
    from .. import AEAnomalyDetector, FusedAnomalyDetector

    return FusedAnomalyDetector([
        ("images", AEAnomalyDetector(autoencoder.set_params(image_shape=image_shape)),
         slice(0, n_pixels)),
        ("features", AEAnomalyDetector(), slice(n_pixels, None)),
    ], random_state=seed)


def _fused_parts(fused, table):
    """The score parts of the fused detector's image and feature detectors, shifted,
    scaled and weighted as it shifts, scales and weights their scores, so that their
    mean is minus its ``score_samples`` (as a single detector's parts are); a source
    with weight 0 has parts 0."""
    blocks, names = [], []
    for (name, detector, columns), weight, center, scale in zip(
            fused.detectors_, fused.weights_, fused.score_center_, fused.score_scale_):
        parts = detector.score_parts(table[:, columns])
        # minus the detector's score is the mean of its parts
        blocks.append(weight * (parts + center) / (scale * parts.shape[1]))
        label = "image" if name == "images" else name
        names += [f"{label} {term}" for term in detector.term_names_]
    parts = np.hstack(blocks) + 0.0  # no -0.0 for a source of weight 0
    return parts * parts.shape[1], names


CV = 5  # folds of the cross-conformal calibration


def _cross_conformal(fused, seed):
    """``CV`` clones of the fitted ``fused`` detector at its chosen weights, calibrated
    on out-of-fold scores of every control item (CrossConformalDetector)."""
    from sklearn.base import clone

    from .. import CrossConformalDetector

    at_weights = clone(fused).set_params(weights=fused.weights_)
    return CrossConformalDetector(at_weights, cv=CV, random_state=seed)


def _cross_conformal_parts(calibrated, table):
    """The score parts of a CrossConformalDetector of fused detectors: each fold's
    fused parts, standardised as it standardises the fold's scores and averaged, so
    that their mean is minus its ``score_samples``."""
    folds = zip(calibrated.estimators_, calibrated.score_center_, calibrated.score_scale_)
    parts = []
    for fused, center, scale in folds:
        fold_parts, names = _fused_parts(fused, table)
        parts.append((fold_parts + center) / scale)
    return np.mean(parts, axis=0), names


def _share(part, whole):
    return f"{part.sum() / whole.sum():.0%}" if whole.sum() else "n/a"


def run_demo(args):
    """Run ``skae demo`` with parsed arguments: print the results, and with ``--output``
    write results.csv and report.html; returns the exit status (0).

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`skae.cli.build_parser`.

    Returns
    -------
    status : int
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .. import AEAnomalyDetector

    if args.output:
        check_output_folder(args.output, args.overwrite)
    status = Status(quiet=args.quiet)
    started = time.perf_counter()
    with status.stage(f"Loading the {args.data} data"):
        X, y, names, is_control, unknown, description, features = _demo_data(args)
    unknown_ids = [names.index(u) for u in unknown]
    is_unknown = np.isin(y, unknown_ids)
    core = ~is_control
    status.say(f"skae demo ({args.data}): {description}", indent="  ")
    status.say(f"{int(is_control.sum())} control images, {int(core.sum())} core images "
               f"({int((core & is_unknown).sum())} of unknown classes).", indent="  ")

    def autoencoder():  # skae's default for images: a ConvAutoEncoder
        return default_autoencoder(X, random_state=args.seed, latent_dim=args.latent_dim,
                                   max_epochs=args.epochs, device=args.device,
                                   verbose=0 if args.quiet else 1)

    # 1. Representation: an autoencoder on every image, labelled or not.
    with status.stage(f"[1/4] ConvAutoEncoder on all {len(X)} images "
                      f"(epochs: {args.epochs})"):
        ae = autoencoder().fit(X)
        INTERRUPTS.check()
        codes = ae.transform(X)

    # What the classifier and the clustering see: the codes, and for the particles also
    # their 34 measured features (both standardised, side by side).
    represent = StandardScaler().fit_transform(codes)
    if features is not None:
        represent = np.hstack([represent, StandardScaler().fit_transform(features)])
    seen = "codes" if features is None else "codes + 34 features"

    # 2. Known classes: a classifier on the codes of the labelled control set.
    known_core = core & ~is_unknown

    def accuracy_of(Z):
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        classifier.fit(Z[is_control], y[is_control])
        return classifier.score(Z[known_core], y[known_core])

    with status.stage(f"[2/4] Classifier on the {seen} of the control set"):
        accuracy = accuracy_of(represent)
        accuracy_codes = accuracy if features is None else accuracy_of(codes)

    # 3. Unknown classes: an anomaly detector trained on the control set only. Without
    #    its labels: on image codes the class-aware term measured worse (Fashion-MNIST
    #    AUROC 0.865 against 0.898) or no better (particles); see bench_unknown_kinds.py.
    with status.stage(f"[3/4] AEAnomalyDetector trained on the {int(is_control.sum())} "
                      "control images"):
        detector = AEAnomalyDetector(autoencoder(), random_state=args.seed)
        detector.fit(X[is_control])
        INTERRUPTS.check()
    with status.stage(f"      Scoring the {int(core.sum())} core images"):
        normality = detector.score_samples(X[core])
    auroc_images = roc_auc_score(is_unknown[core], -normality)
    auroc_rec = roc_auc_score(is_unknown[core],
                              detector.autoencoder_.reconstruction_error(X[core]))
    if features is not None:
        # A second detector on the measured features (a DenseAutoEncoder on standardised
        # columns), with the control labels: far from every known kind.
        with status.stage("      AEAnomalyDetector on the 34 measured features and the "
                          "control labels"):
            feature_detector = AEAnomalyDetector(random_state=args.seed)
            feature_detector.fit(features[is_control], y[is_control])
            INTERRUPTS.check()
        feature_normality = feature_detector.score_samples(features[core])
        auroc_features = roc_auc_score(is_unknown[core], -feature_normality)
        # One score from both: a plain mean lets a source without evidence dilute the
        # other (images 0.52 and features 0.96 gave 0.80), so the fused detector weights
        # them by leaving one known kind out at a time, and calibrates the result.
        table = np.hstack([X.reshape(len(X), -1), features])
        with status.stage("      FusedAnomalyDetector on images and features, weighted "
                          "by leaving one known kind out"):
            fused = _fused_detector(autoencoder(), X[0].size, X.shape[1:], args.seed)
            fused.fit(table[is_control], y[is_control])
            INTERRUPTS.check()
        # A held-out fifth gives ~120 calibration scores, too few for the FDR decision to
        # flag anything among 600 core items; cross-fitting scores every control item.
        with status.stage(f"      {CV} fused detectors at these weights, each control "
                          "item scored by the one that did not see it"):
            calibrated = _cross_conformal(fused, args.seed)
            calibrated.fit(table[is_control], y[is_control])
            INTERRUPTS.check()
        normality = calibrated.score_samples(table[core])
        flagged = calibrated.predict_at_fdr(table[core], fdr=FDR) == -1
        calibration_size = len(calibrated.calibration_scores_)
    else:
        flagged = _flag_at_fdr(normality, detector, FDR)
        calibration_size = len(detector.calibration_scores_)
    auroc = roc_auc_score(is_unknown[core], -normality)
    batch_line = None
    if features is not None:
        # The core set is at hand: judge it as a batch, by whom each particle's
        # neighbours among all particles are (no training; milliseconds).
        from .. import TransductiveNoveltyDetector

        batch = TransductiveNoveltyDetector("passthrough", random_state=args.seed)
        in_batch = batch.fit_predict(features, np.where(is_control, y, -1))[core] == -1
        auroc_batch = roc_auc_score(is_unknown[core], batch.novelty_scores_[core])
        batch_line = (
            "With the core set at hand (TransductiveNoveltyDetector on the features: the "
            "share of each particle's 20 nearest neighbours that are not control "
            f"particles): AUROC {auroc_batch:.3f}; "
            f"flagged at a {FDR:.0%} false discovery rate: {int(in_batch.sum())} core "
            f"images, {int((in_batch & is_unknown[core]).sum())} of them of unknown "
            f"classes ({_share(in_batch & ~is_unknown[core], in_batch)} false discoveries; "
            f"{_share(in_batch & is_unknown[core], is_unknown[core])} of the unknown found)."
        )

    # 4. Discovery: clusters of the codes.
    min_cluster_size = args.min_cluster_size or default_min_cluster_size(len(X))
    with status.stage(f"[4/4] UMAP + HDBSCAN on the {seen}"):
        xy, clusters, clusterer = map_and_cluster(represent, "umap", min_cluster_size,
                                                  args.seed)
        report = cluster_report(clusters, embedding=represent, n_exemplars=8)
        INTERRUPTS.check()
    elapsed = time.perf_counter() - started

    lines = [
        "",
        "Results",
        "-------",
        f"Known classes ({len(names) - len(unknown)}): accuracy on the core set "
        f"{accuracy:.3f} (chance {1 / (len(names) - len(unknown)):.3f}); logistic "
        f"regression on the {args.latent_dim}-D {seen}, trained on "
        f"{int(is_control.sum())} labelled control images"
        + ("." if features is None else f" (codes alone: {accuracy_codes:.3f})."),
        f"Unknown classes ({', '.join(unknown)}): AUROC {auroc:.3f} for flagging them among "
        "the core images (chance 0.5); "
        + (f"AEAnomalyDetector on images, hybrid score (reconstruction error alone: "
           f"{auroc_rec:.3f})." if features is None else
           f"FusedAnomalyDetector, weights {fused.weights_[0]:.1f} images and "
           f"{fused.weights_[1]:.1f} features, cross-fitted; AEAnomalyDetector on images alone "
           f"{auroc_images:.3f} (reconstruction error alone {auroc_rec:.3f}), on the "
           f"features with the control labels {auroc_features:.3f}."),
        f"Flagged at a {FDR:.0%} false discovery rate (Benjamini-Hochberg on conformal "
        f"p-values from {calibration_size} "
        f"{'held-out' if features is None else 'out-of-fold'} control images): "
        f"{int(flagged.sum())} core images, {int((flagged & is_unknown[core]).sum())} of "
        f"them of unknown classes ({_share(flagged & ~is_unknown[core], flagged)} false "
        f"discoveries; {_share(flagged & is_unknown[core], is_unknown[core])} of the "
        "unknown found; nothing is flagged unless at least "
        f"{int(np.ceil(core.sum() / (FDR * (calibration_size + 1))))} "
        "core images score below every "
        f"{'held-out control image' if features is None else 'control image out of fold'}).",
        *([batch_line] if batch_line else []),
        f"Clusters: {report.n_clusters} found for {len(names)} true kinds; adjusted Rand "
        f"index {adjusted_rand_score(y, clusters):.3f}; cluster accuracy "
        f"{cluster_accuracy(y, clusters):.3f}; {report.n_noise} images "
        f"({report.noise_fraction:.1%}) in no cluster.",
        "",
        f"{'cluster':>7} {'size':>5}  composition (true kinds)",
    ]
    composition = []
    for c, size in zip(report.cluster_labels, report.sizes):
        parts = _composition(y[clusters == c], names, unknown)
        lines.append(f"{int(c):>7} {int(size):>5}  {parts}")
        composition.append([int(c), int(size), parts])
    if report.n_noise:
        parts = _composition(y[clusters == -1], names, unknown)
        lines.append(f"{'none':>7} {report.n_noise:>5}  {parts}")
    lines.append("")
    for u, uid in zip(unknown, unknown_ids):
        members = clusters[y == uid]
        found = members[members >= 0]
        if len(found):
            best = int(np.bincount(found).argmax())
            share = float(np.mean(members == best))
            purity = float(np.mean(y[clusters == best] == uid))
            lines.append(f"Unknown '{u}': {share:.0%} of its images in cluster {best}, "
                         f"which is {purity:.0%} '{u}'.")
        else:
            lines.append(f"Unknown '{u}': in no cluster.")
    lines.append(f"(* = class held out as unknown.) Total time {format_seconds(elapsed)}.")
    Status().say("\n".join(lines), indent="  ")  # the results, even with --quiet

    if args.output:
        data = LoadedData(X, [f"{i}:{names[t]}" for i, t in enumerate(y)], True,
                          description)
        with status.stage(f"Scoring and reconstructing all {len(X)} images for the "
                          "report"):
            # Higher = more anomalous: the mean of a detector's score parts is minus its
            # score_samples, so the images are scored once, for both.
            if features is None:
                parts, part_names = detector.score_parts(X), detector.term_names_
            else:
                parts, part_names = _cross_conformal_parts(calibrated, table)
            scores = parts.mean(axis=1)
            result = Analysis(
                detector=detector, autoencoder=ae, X_shown=X, codes=codes, scores=scores,
                xy=xy, clusters=clusters, clusterer=clusterer, cluster_report=report,
                min_cluster_size=min_cluster_size, fit_seconds=elapsed,
                score_parts=parts, score_part_names=part_names,
            )
        extra = [("text", line) for line in lines[3:7 + bool(batch_line)]]
        extra.append(("html", html_table(["cluster", "size", "composition"], composition,
                                         text_columns=(2,))))
        options = {"data": args.data, "unknown": ", ".join(unknown),
                   "latent size": args.latent_dim, "epochs": args.epochs,
                   "seed": args.seed}
        with status.stage("Writing results.csv and report.html"):
            code = demo_python_code(args, ae, unknown, features is not None,
                                    min_cluster_size)
            write_outputs(args.output, data, result, f"skae demo: {args.data}", options,
                          args.overwrite, extra, command="demo", python_code=code)
        Status().say(printable(f"Wrote {Path(args.output) / 'results.csv'} and "
                               f"{Path(args.output) / 'report.html'}"), indent="  ")
    return 0


def _composition(labels, names, unknown, top=3):
    counts = np.bincount(labels, minlength=len(names))
    order = np.argsort(-counts, kind="stable")[:top]
    return ", ".join(
        f"{names[k]}{'*' if names[k] in unknown else ''} {counts[k] / len(labels):.0%}"
        for k in order if counts[k]
    )


def demo_python_code(args, ae, unknown, with_features, min_cluster_size):
    """What the demo did, as Python with skae's public API (shown in its report).

    Parameters
    ----------
    args : argparse.Namespace
        The demo's options.
    ae : ConvAutoEncoder
        The fitted autoencoder of the demo (its parameters are written out).
    unknown : list of str
        The kinds or classes held out of the control set.
    with_features : bool
        Whether the items have measured features (the particles).
    min_cluster_size : int
        HDBSCAN's ``min_cluster_size``.

    Returns
    -------
    code : str
    """
    params = {k: v for k, v in ae.get_params().items()
              if k in ("latent_dim", "channels", "max_epochs", "batch_size", "random_state")}

    def constructor(**extra):  # the autoencoder as Python code
        arguments = {**params, **extra}
        return f"{type(ae).__name__}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"

    model = constructor()
    seed = args.seed
    if with_features:
        from ..datasets._particles import PARTICLE_KINDS

        n = args.n_images
        control_kinds = [k for k in PARTICLE_KINDS if k not in unknown]
        load = f"""from skae.datasets import make_particles
from skimage.transform import resize

data = make_particles(n_control={n // 2}, n_core={n - n // 2},
                      control_kinds={control_kinds!r},
                      core_only_kinds={unknown!r}, random_state={seed})
X = resize(data.images, (len(data.images), {args.image_size}, {args.image_size}),
           anti_aliasing=True).astype(np.float32)
y, control, features = data.target, data.is_control, data.features"""
    else:
        load = f"""from skae.datasets import load_fashion_mnist_subset
from sklearn.model_selection import train_test_split

bunch = load_fashion_mnist_subset()
X, y, names = bunch.images, bunch.target, list(bunch.target_names)
is_unknown = np.isin(y, [names.index(u) for u in {unknown!r}])
control_idx, _ = train_test_split(np.flatnonzero(~is_unknown), train_size=0.5,
                                  stratify=y[~is_unknown], random_state={seed})
control = np.isin(np.arange(len(y)), control_idx)"""
    represent = ("Z = np.hstack([StandardScaler().fit_transform(codes),\n"
                 "               StandardScaler().fit_transform(features)])"
                 if with_features else "Z = StandardScaler().fit_transform(codes)")
    if with_features:
        shaped = constructor(image_shape=(args.image_size, args.image_size))
        detectors = f"""# Images and features as columns of one table; with the control labels, each
# detector is weighted by how well it finds a known kind left out of training.
from sklearn.base import clone
from skae import CrossConformalDetector, FusedAnomalyDetector
table = np.hstack([X.reshape(len(X), -1), features])
n_pixels = X[0].size
fused = FusedAnomalyDetector([
    ("images", AEAnomalyDetector({shaped}), slice(0, n_pixels)),
    ("features", AEAnomalyDetector(), slice(n_pixels, None)),
], random_state={seed}).fit(table[control], y[control])
# At these weights, {CV} detectors, each control item scored by the one that did not
# see it: {CV} times more calibration scores for the p-values than a held-out fifth.
detector = CrossConformalDetector(clone(fused).set_params(weights=fused.weights_),
                                  cv={CV}, random_state={seed})
detector.fit(table[control], y[control])
anomaly = -detector.score_samples(table[~control])  # higher = more unusual
flagged = detector.predict_at_fdr(table[~control], fdr=0.1) == -1
# With the core set at hand: each particle judged by its neighbours among all particles
from skae import TransductiveNoveltyDetector
batch = TransductiveNoveltyDetector("passthrough", random_state={seed})
in_batch = batch.fit_predict(features, np.where(control, y, -1))[~control] == -1"""
    else:
        detectors = f"""on_images = AEAnomalyDetector({model}, random_state={seed})
on_images.fit(X[control])
anomaly = -on_images.score_samples(X[~control])  # higher = more unusual
flagged = on_images.predict_at_fdr(X[~control], fdr=0.1) == -1"""
    return f"""import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skae import AEAnomalyDetector, {type(ae).__name__}
from skae.discovery import cluster_report, map_and_cluster
{load}

# 1. A code for every item, labelled or not
ae = {model}.fit(X)
codes = ae.transform(X)
{represent}

# 2. Known classes: a classifier on the control set's labels
classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
classifier.fit(Z[control], y[control])

# 3. Unknown classes: detectors trained on the control set only
{detectors}

# 4. Clusters of all items
xy, clusters, clusterer = map_and_cluster(Z, "umap", {min_cluster_size}, {seed})
print(cluster_report(clusters, embedding=Z))
"""
