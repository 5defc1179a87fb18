"""Finding the unknown kinds in particle images: each ingredient side by side (issue 18).

Protocol: ``make_particles`` with 600 control and 600 core items, images of 64×64 pixels,
unknown kinds diatom and spherule (a quarter of the core), 3 seeds. Every detector is
fitted on the control set only and scores the core set; the table gives the AUROC of
unknown kind vs known kind on the core set (mean ± std over seeds), and for the image
autoencoders the accuracy on the core's known kinds of a logistic regression on their
codes trained on 10 labelled control items per kind.

Rows:

- ``images``: ``AEAnomalyDetector()`` at its defaults on the raw images (the baseline).
- ``aligned images``: the same after :class:`skae.preprocessing.ImageAligner` (centre of
  mass centred, principal axis horizontal).
- ``PCA(32) images`` / ``PCA(32) aligned``: PCA reconstruction error, no autoencoder.
- ``features ...``: the 34 measured features (standardised): ``AEAnomalyDetector()``,
  ``IsolationForest()`` and PCA reconstruction error (95 % of the variance).
- ``aligned images + features``: the mean of the two detectors' scores (both are robust
  z-scores, 0 = typical control item).
- ``..., labels``: the same detectors fitted with the control set's labels
  (``fit(X, y)``: the code term is the distance to the nearest known kind), and
  ``features, class Gaussians``: that distance on the standardised features themselves,
  without an autoencoder (tied-covariance Mahalanobis distance to the nearest kind's mean).
- ``features linear latent, labels``: ``AEAnomalyDetector(LinearAutoEncoder(34),
  method="latent")`` fitted with labels: a full-rank linear code, so its class-aware term
  is the class-Gaussian distance of the features themselves, from skae's own estimators.
- ``images, OpenSetDetector``: :class:`skae.OpenSetDetector` on the raw images, its
  classifier an ``EncoderClassifier`` (the same autoencoder, then its encoder fine-tuned
  with a linear head on the control labels, 30 epochs, dropout 0.2, rotation by any
  angle, mirror and 5 % shift as augmentation), scored by the energy of its logits.
  Its accuracy column is the same recipe fine-tuned on 10 labels per kind only (the
  autoencoder fitted on all control images, unlabelled), against the core's known kinds.
  The FPR@0.05 / FDP@0.1 line per seed: the share of the core's known items below the
  held-out 5 % quantile, and the false discovery proportion of ``predict_at_fdr(core,
  0.1)`` with its power (share of the unknown found).
- ``FusedAnomalyDetector (linear)``: the labelled image detector (``AEAnomalyDetector``
  on aligned images) and the linear latent feature detector fused, with the weights
  chosen by leaving one known kind out at a time (``weights="auto"``); the weights and
  the left-out folds' AUROCs are printed per seed. ``(open set)``: the
  ``OpenSetDetector`` on the images instead; to keep the benchmark's cost down its
  autoencoder is fitted once on all the control images (unlabelled) and frozen, so the
  left-out folds only fine-tune the classifier (the left-out kind's images were seen,
  without labels, by the autoencoder).

- ``..., transductive``: :class:`skae.TransductiveNoveltyDetector`, which also sees the
  core set (without labels): codes learned from all 1,200 items (``ImageAligner`` then
  the same ``ConvAutoEncoder``), each core item scored by the share of its 20 nearest
  neighbours that are not reference control items (500 of them; the other 100 calibrate
  the p-values). ``features, transductive``: the same on the standardised
  features; ``aligned images + features, transductive``: on the standardised codes and
  features side by side. Their decisions: share of the known core items with a p-value
  at most 0.05, and the FDP and power of their Benjamini-Hochberg flags at 0.1.
- Clustering, images only: the transductive codes of all 1,200 items, UMAP (5-d, 30
  neighbours) and HDBSCAN (``min_cluster_size=15, min_samples=5``), adjusted Rand index
  against the six true kinds.

Targets (issue 18): images only >= 0.95; images + features >= 0.985; known-kind accuracy
from image codes with 10 labels per kind >= 0.95; clustering images only ARI >= 0.85.

Run alone::

    python benchmarks/bench_unknown_kinds.py            # 3 seeds, ~15 min on 2 cores
    python benchmarks/bench_unknown_kinds.py --quick    # 1 seed, 10 epochs
    python benchmarks/bench_unknown_kinds.py --transductive-only
"""

import argparse

import numpy as np
from sklearn.base import clone
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from _clock import Clock
from sklearn.frozen import FrozenEstimator

from skae import (AEAnomalyDetector, ConvAutoEncoder, FusedAnomalyDetector,
                  LinearAutoEncoder, OpenSetDetector, TransductiveNoveltyDetector)
from skae._conformal import calibration_offset
from skae.augmentation import RandomAffine
from skae.datasets import make_particles
from skae.preprocessing import ImageAligner
from skae.semi_supervised import EncoderClassifier


def _open_set_classifier(autoencoder, seed, epochs):
    """The benchmark's classifier for OpenSetDetector: the encoder fine-tuned with any
    rotation, mirroring and small shifts as augmentation (orientation is a nuisance)."""
    return EncoderClassifier(
        autoencoder,
        augmentation=[RandomAffine(scale=1.0, rotation=180.0, translate=0.05, flip=True)],
        dropout=0.2, max_epochs=30 if epochs == "auto" else epochs, device="cpu",
        random_state=seed,
    )


def _calibration_line(detector, X_core, is_unknown):
    """FPR of the known core items at the held-out 5 % quantile; FDP and power at q=0.1."""
    scores = detector.score_samples(X_core)
    offset = calibration_offset(detector.calibration_scores_, 0.05)
    fpr = np.mean(scores[~is_unknown] < offset)
    flagged = detector.predict_at_fdr(X_core, fdr=0.1) == -1
    fdp = np.mean(~is_unknown[flagged]) if flagged.any() else 0.0
    return fpr, fdp, np.mean(flagged[is_unknown])


def _transductive_line(detector, core, is_unknown):
    """Share of known core items with p <= 0.05; FDP and power of the flags at 0.1."""
    p = detector.p_values_[core]
    flagged = detector.labels_[core] == -1
    fdp = np.mean(~is_unknown[flagged]) if flagged.any() else 0.0
    return np.mean(p[~is_unknown] <= 0.05), fdp, np.mean(flagged[is_unknown])


def _transductive(data, seed, epochs, rows, ari):
    """Scores of the core items by the transductive detectors; appends their decision
    lines to ``rows`` and the images-only clustering ARI to ``ari``."""
    control, core = data.is_control, ~data.is_control
    is_unknown = np.isin(data.target[core], [data.target_names.index(k)
                                             for k in ("diatom", "spherule")])
    # The core set is seen (unlabelled) by the codes and the neighbours.
    is_new = np.where(control, 0, -1)
    transductive = TransductiveNoveltyDetector(
        make_pipeline(ImageAligner(), ConvAutoEncoder(
            latent_dim=32, channels=(32, 64), max_epochs=epochs, device="cpu")),
        random_state=seed).fit(data.images, is_new)
    codes = StandardScaler().fit_transform(transductive.embedding_.transform(data.images))
    F_all = StandardScaler().fit(data.features[control]).transform(data.features)
    scores = {}
    for name, detector in {
        "aligned images, transductive": transductive,
        "features, transductive": TransductiveNoveltyDetector(
            "passthrough", random_state=seed).fit(F_all, is_new),
        "aligned images + features, transductive": TransductiveNoveltyDetector(
            "passthrough", random_state=seed).fit(np.hstack([codes, F_all]), is_new),
    }.items():
        scores[name] = detector.novelty_scores_[core]
        rows.setdefault(name, []).append(_transductive_line(detector, core, is_unknown))
    ari.append(_clustering_ari(codes, data.target, seed))
    return scores


def _clustering_ari(codes, y, seed):
    from hdbscan import HDBSCAN
    from sklearn.metrics import adjusted_rand_score
    from umap import UMAP

    embedding = UMAP(n_components=5, n_neighbors=30, min_dist=0.0, random_state=seed,
                     n_jobs=1).fit_transform(codes)
    clusters = HDBSCAN(min_cluster_size=15, min_samples=5).fit_predict(embedding)
    return adjusted_rand_score(y, clusters)


def _pca_error(X_train, X_test, n_components):
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    scaler = StandardScaler().fit(flat_train)
    pca = PCA(n_components, random_state=0).fit(scaler.transform(flat_train))
    Z = scaler.transform(flat_test)
    return np.mean((Z - pca.inverse_transform(pca.transform(Z))) ** 2, axis=1)


def _class_gaussian_distance(X_train, y_train, X_test):
    """Mahalanobis distance to the nearest class mean, one Ledoit-Wolf covariance of the
    within-class residuals for all classes (written out here as an independent baseline)."""
    classes = np.unique(y_train)
    means = np.array([X_train[y_train == c].mean(axis=0) for c in classes])
    residuals = X_train - means[np.searchsorted(classes, y_train)]
    precision = LedoitWolf(assume_centered=True).fit(residuals).precision_
    return np.min([np.einsum("ij,jk,ik->i", X_test - m, precision, X_test - m)
                   for m in means], axis=0)


def _few_label_accuracy(codes, y, control, known_core, per_kind, seed):
    rng = np.random.RandomState(seed)
    labelled = np.concatenate([
        rng.choice(np.flatnonzero(control & (y == kind)), per_kind, replace=False)
        for kind in np.unique(y[control])
    ])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classifier.fit(codes[labelled], y[labelled])
    return classifier.score(codes[known_core], y[known_core])


def _print_decisions(title, table, first):
    print("\n" + title)
    for name, rows in table.items():
        mean, std = np.mean(rows, axis=0), np.std(rows, axis=0)
        cells = "  ".join(f"{label} {m:.3f} ± {d:.3f}"
                          for label, m, d in zip((first, "FDP@0.1", "power"), mean, std))
        print(f"{name:<40}{cells}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 10 epochs")
    parser.add_argument("--transductive-only", action="store_true",
                        help="only the transductive rows and the clustering")
    args = parser.parse_args()
    seeds = range(1 if args.quick else 3)
    epochs = 10 if args.quick else "auto"

    auroc, accuracy, calibration, transductive_rows, ari = {}, {}, {}, {}, []
    clock = Clock()
    for seed in seeds:
        data = make_particles(600, 600, image_size=64, random_state=seed)
        control, core = data.is_control, ~data.is_control
        unknown = np.isin(data.target, [data.target_names.index(k)
                                        for k in ("diatom", "spherule")])
        known_core = core & ~unknown
        is_unknown = unknown[core]
        if args.transductive_only:
            for name, s in _transductive(data, seed, epochs, transductive_rows, ari).items():
                auroc.setdefault(name, []).append(roc_auc_score(is_unknown, s))
            wall, cpu = clock.lap()
            print(f"seed {seed}: {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)
            continue
        images = {"images": data.images,
                  "aligned images": ImageAligner().fit_transform(data.images)}
        scores = {}
        for name, X in images.items():
            detector = AEAnomalyDetector(
                ConvAutoEncoder(latent_dim=32, channels=(32, 64), max_epochs=epochs,
                                device="cpu"),
                random_state=seed,
            )
            if name == "aligned images":
                labelled = clone(detector).fit(X[control], data.target[control])
                scores[name + ", labels"] = -labelled.score_samples(X[core])
            detector.fit(X[control])
            scores[name] = -detector.score_samples(X[core])
            codes = detector.autoencoder_.transform(X)
            accuracy.setdefault(name, []).append(
                _few_label_accuracy(codes, data.target, control, known_core, 10, seed))
            pca_name = "PCA(32) " + name.replace(" images", "")
            scores[pca_name] = _pca_error(X[control], X[core], 32)
        features = StandardScaler().fit(data.features[control])
        F_control = features.transform(data.features[control])
        F_core = features.transform(data.features[core])
        feature_detector = AEAnomalyDetector(random_state=seed).fit(F_control)
        scores["features AEAnomalyDetector"] = -feature_detector.score_samples(F_core)
        feature_detector = clone(feature_detector).fit(F_control, data.target[control])
        scores["features AEAnomalyDetector, labels"] = -feature_detector.score_samples(F_core)
        scores["features, class Gaussians"] = _class_gaussian_distance(
            F_control, data.target[control], F_core)
        linear = AEAnomalyDetector(LinearAutoEncoder(latent_dim=F_control.shape[1]),
                                   method="latent", random_state=seed)
        linear.fit(F_control, data.target[control])
        scores["features linear latent, labels"] = -linear.score_samples(F_core)
        forest = IsolationForest(random_state=seed).fit(F_control)
        scores["features IsolationForest"] = -forest.score_samples(F_core)
        scores["features PCA (95 %)"] = _pca_error(F_control, F_core, 0.95)
        scores["aligned images + features"] = (scores["aligned images"]
                                               + scores["features AEAnomalyDetector"]) / 2
        scores["aligned images + features, labels"] = (
            scores["aligned images, labels"] + scores["features AEAnomalyDetector, labels"]) / 2
        aligned = images["aligned images"].reshape(len(data.images), -1)
        pixels = data.images.reshape(len(data.images), -1)
        autoencoder = ConvAutoEncoder(latent_dim=32, channels=(32, 64), max_epochs=epochs,
                                      device="cpu", random_state=seed)
        open_set = OpenSetDetector(_open_set_classifier(autoencoder, seed, epochs),
                                   random_state=seed).fit(data.images[control],
                                                          data.target[control])
        scores["images, OpenSetDetector"] = -open_set.score_samples(data.images[core])
        calibration.setdefault("images, OpenSetDetector", []).append(
            _calibration_line(open_set, data.images[core], is_unknown))
        frozen = FrozenEstimator(clone(autoencoder).set_params(
            image_shape=data.images.shape[1:]).fit(pixels[control]))
        few = np.full(len(data.target), -1)
        rng = np.random.RandomState(seed)
        for kind in np.unique(data.target[control]):
            rows = rng.choice(np.flatnonzero(control & (data.target == kind)), 10, False)
            few[rows] = kind
        few_labels = _open_set_classifier(frozen, seed, epochs).fit(
            pixels[control], few[control])
        accuracy.setdefault("images, OpenSetDetector", []).append(
            few_labels.score(pixels[known_core], data.target[known_core]))
        image_detectors = {
            " (linear)": (aligned, AEAnomalyDetector(ConvAutoEncoder(
                latent_dim=32, channels=(32, 64), max_epochs=epochs, device="cpu",
                image_shape=data.images.shape[1:]))),
            " (open set)": (pixels, OpenSetDetector(_open_set_classifier(frozen, seed,
                                                                         epochs))),
        }
        for name, (image_columns, image_detector) in image_detectors.items():
            stacked = np.hstack([image_columns, StandardScaler().fit(data.features[control])
                                 .transform(data.features)])
            n_pixels = image_columns.shape[1]
            fused = FusedAnomalyDetector([
                ("images", image_detector, slice(0, n_pixels)),
                ("features", clone(linear), slice(n_pixels, None)),
            ], random_state=seed).fit(stacked[control], data.target[control])
            scores[f"FusedAnomalyDetector{name}, labels"] = -fused.score_samples(
                stacked[core])
            calibration.setdefault(f"FusedAnomalyDetector{name}, labels", []).append(
                _calibration_line(fused, stacked[core], is_unknown))
            folds = ", ".join(f"{k} {v:.3f}" for k, v in fused.validation_auroc_.items())
            print(f"seed {seed}: fused{name} weights (images, features) "
                  f"{fused.weights_.round(2)}; left-one-kind-out AUROC {folds}", flush=True)
        scores.update(_transductive(data, seed, epochs, transductive_rows, ari))
        for name, s in scores.items():
            auroc.setdefault(name, []).append(roc_auc_score(is_unknown, s))
        wall, cpu = clock.lap()
        print(f"seed {seed}: {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)

    print(f"\n{len(seeds)} seeds, mean ± std; unknown-kind AUROC on the core set; "
          "known-kind accuracy of LR on the codes, 10 labels per kind")
    print(f"{'detector':<40}{'AUROC':>16}{'accuracy':>18}")
    for name, values in auroc.items():
        cell = (f"{np.mean(accuracy[name]):>11.3f} ± {np.std(accuracy[name]):.3f}"
                if name in accuracy else f"{'-':>18}")
        print(f"{name:<40}{np.mean(values):>9.3f} ± {np.std(values):.3f}{cell}")
    _print_decisions("calibrated decisions on the core set (mean ± std over seeds): FPR of "
                     "the known items at contamination 0.05; FDP and power of "
                     "predict_at_fdr(fdr=0.1)", calibration, "FPR@0.05")
    _print_decisions("transductive decisions on the core set (mean ± std over seeds): share "
                     "of the known items with p <= 0.05; FDP and power of the flags at "
                     "fdr=0.1", transductive_rows, "p<=0.05")
    print(f"\nclustering, images only (transductive codes, UMAP, HDBSCAN): ARI "
          f"{np.mean(ari):.3f} ± {np.std(ari):.3f} ({', '.join(f'{a:.3f}' for a in ari)})")


if __name__ == "__main__":
    main()
