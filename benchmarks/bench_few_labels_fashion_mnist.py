"""Few labels on Fashion-MNIST: 10 labelled images per class, the rest unlabelled.

For each of 5 seeds, 100 training images (10 per class) keep their label; the other
59,900 training images are unlabelled (``y == -1``). Every method is scored on the
10,000 test images, all in the same run:

- raw pixels + ``LogisticRegression`` (on the 100 labelled images);
- ``PCA`` (fitted on all 60,000 training images) + ``LogisticRegression``;
- the same UMAP step as the skae rows below, without an autoencoder: UMAP fitted without
  labels on all 60,000 PCA codes, or on all 60,000 raw pixel rows, then
  ``LogisticRegression`` on the labelled rows of the embedding (so that a gain of
  codes + UMAP can be told from a gain of UMAP alone);
- skae codes + ``LogisticRegression``:
  ``Pipeline([("ae", ConvAutoEncoder(latent_dim=32)), ("clf", FewLabelClassifier(...))])``;
- skae codes + UMAP + ``LogisticRegression``: UMAP fitted on all 60,000 codes without
  labels, and, as ``Pipeline([("ae", ...), ("umap", UMAP()), ("clf", ...)]).fit(X, y)``
  does, with the seed's labels (UMAP's semi-supervised mode, ``-1`` = unlabelled);
  also ``SelfTrainingClassifier`` (sklearn's wrapper adding confident pseudo-labels);
- ``EncoderClassifier``: a linear head on the frozen encoder, the encoder fine-tuned
  with its head on the 100 labelled images, and the same with shift/flip augmentation.

The run ends with the ceiling of each kind of feature: the test accuracy of the same
classifier given all 60,000 training labels.

The autoencoder never sees a label, so one autoencoder (the default architecture,
fitted on the 60,000 training images) is shared by all seeds and pipelines
(``FrozenEstimator``), exactly as if each pipeline refitted it. Likewise one PCA and one
UMAP per kind of feature are shared by the seeds, so the spread over seeds is the spread
over which images carry labels, not over training runs. Timings are wall-clock and CPU
seconds; a baseline row's time includes its PCA and UMAP fits.

Run: ``python benchmarks/bench_few_labels_fashion_mnist.py`` (``--quick`` for a smoke run
on 5,000 images).
"""

import argparse
import os
import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier

from _clock import Clock
from skae import ConvAutoEncoder, EncoderClassifier, FewLabelClassifier
from skae.datasets import load_fashion_mnist
from skae.augmentation import RandomFlip, RandomShift

N_PER_CLASS = 10


def labelled_indices(y, seed, n_per_class=N_PER_CLASS):
    rng = np.random.RandomState(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), n_per_class, replace=False) for c in np.unique(y)]
    )


def few_labels(y, indices):
    y_few = np.full_like(y, -1)
    y_few[indices] = y[indices]
    return y_few


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5,000 images, 2 seeds, 2 epochs")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SKAE_THREADS", 2)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import umap

    start = Clock()
    clock = Clock()
    X, y = load_fashion_mnist("train", return_X_y=True)
    X_test, y_test = load_fashion_mnist("test", return_X_y=True)
    if args.quick:
        X, y, X_test, y_test = X[:5000], y[:5000], X_test[:2000], y_test[:2000]
        args.seeds, args.epochs = 2, 2
    seeds = range(args.seeds)
    labelled = {s: labelled_indices(y, s) for s in seeds}
    flat, flat_test = X.reshape(len(X), -1), X_test.reshape(len(X_test), -1)
    results, timings, ceilings = {}, {}, {}

    def evaluate(name, fit_score):
        clock.lap()
        results[name] = [fit_score(s) for s in seeds]
        timings[name] = clock.lap()
        print(f"  {name}: {np.mean(results[name]):.4f}", flush=True)

    def logistic():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))

    print(f"Fashion-MNIST: {len(X)} training images ({N_PER_CLASS * 10} labelled per seed), "
          f"{len(X_test)} test images, {args.seeds} seeds, torch threads={args.threads}")

    # -- baselines ----------------------------------------------------------------
    evaluate("raw pixels + LR", lambda s: FewLabelClassifier(
        LogisticRegression(max_iter=2000)).fit(flat, few_labels(y, labelled[s]))
        .score(flat_test, y_test))
    clock.lap()
    pca = PCA(n_components=args.latent_dim, random_state=0).fit(flat)
    pca_time = clock.lap()
    P, P_test = pca.transform(flat), pca.transform(flat_test)
    evaluate(f"PCA({args.latent_dim}) + LR", lambda s: FewLabelClassifier(logistic())
             .fit(P, few_labels(y, labelled[s])).score(P_test, y_test))
    timings[f"PCA({args.latent_dim}) + LR"] = tuple(
        a + b for a, b in zip(timings[f"PCA({args.latent_dim}) + LR"], pca_time))

    def umap_embedding(features, features_test):
        # One UMAP for every "+ UMAP + LR" row: fitted on all training rows, no labels.
        reducer = umap.UMAP(n_components=10, n_neighbors=15, min_dist=0.0, random_state=0)
        return reducer.fit(features).embedding_, reducer.transform(features_test)

    def umap_baseline(name, features, features_test, extra_time=(0.0, 0.0)):
        clock.lap()
        E_base, E_base_test = umap_embedding(features, features_test)
        fit_time = clock.lap()
        evaluate(name, lambda s: FewLabelClassifier(logistic())
                 .fit(E_base, few_labels(y, labelled[s])).score(E_base_test, y_test))
        timings[name] = tuple(a + b + c for a, b, c in zip(timings[name], fit_time, extra_time))
        ceilings[name] = logistic().fit(E_base, y).score(E_base_test, y_test)

    umap_baseline(f"PCA({args.latent_dim}) + UMAP + LR", P, P_test, pca_time)
    umap_baseline("raw pixels + UMAP + LR", flat, flat_test)

    # -- skae: one autoencoder, trained on every training image, labels unused --------
    clock.lap()
    ae = ConvAutoEncoder(latent_dim=args.latent_dim, max_epochs=args.epochs,
                         random_state=0).fit(X)
    ae_time = clock.lap()
    print(f"  autoencoder: {ae.n_epochs_} epochs, final loss {ae.loss_curve_[-1]:.4f}, "
          f"{ae_time[0]:.0f}s wall / {ae_time[1]:.0f}s CPU", flush=True)
    Z, Z_test = ae.transform(X), ae.transform(X_test)
    codes_time = clock.lap()

    def codes_lr(s):
        pipe = Pipeline([("ae", FrozenEstimator(ae)), ("clf", FewLabelClassifier(logistic()))])
        # Same as pipe.fit(X, y_few).score(X_test, y_test), on the codes computed once.
        pipe[-1].fit(Z, few_labels(y, labelled[s]))
        return pipe[-1].score(Z_test, y_test)

    evaluate("skae codes + LR", codes_lr)

    clock.lap()
    E, E_test = umap_embedding(Z, Z_test)
    umap_time = clock.lap()
    print(f"  UMAP on all {len(Z)} codes (no labels) + transform of the test set: "
          f"{umap_time[0]:.0f}s wall / {umap_time[1]:.0f}s CPU", flush=True)

    evaluate("skae codes + UMAP + LR", lambda s: FewLabelClassifier(logistic())
             .fit(E, few_labels(y, labelled[s])).score(E_test, y_test))
    ceilings["skae codes + LR"] = logistic().fit(Z, y).score(Z_test, y_test)
    ceilings["skae codes + UMAP + LR"] = logistic().fit(E, y).score(E_test, y_test)
    evaluate("skae codes + UMAP + SelfTraining(LR)", lambda s: SelfTrainingClassifier(
        logistic(), threshold=0.99, max_iter=10)
        .fit(E, few_labels(y, labelled[s])).score(E_test, y_test))

    def semi_supervised_umap(s):
        pipe = Pipeline([
            ("ae", FrozenEstimator(ae)),
            ("umap", umap.UMAP(n_components=10, n_neighbors=15, min_dist=0.0,
                               random_state=0)),
            ("clf", FewLabelClassifier(logistic())),
        ])
        # Same as pipe.fit(X, y_few).score(X_test, y_test): UMAP gets y_few, -1 included.
        y_few = few_labels(y, labelled[s])
        pipe[1:].fit(Z, y_few)
        return pipe[-1].score(pipe[1].transform(Z_test), y_test)

    evaluate("skae codes + UMAP(with the labels, -1 rest) + LR", semi_supervised_umap)

    def fine_tuned(s, **params):
        clf = EncoderClassifier(FrozenEstimator(ae), random_state=s, **params)
        return clf.fit(X, few_labels(y, labelled[s])).score(X_test, y_test)

    evaluate("skae EncoderClassifier (frozen encoder)",
             lambda s: fine_tuned(s, freeze_encoder=True))
    evaluate("skae EncoderClassifier (fine-tuned)", fine_tuned)
    evaluate("skae EncoderClassifier (fine-tuned, shift+flip)", lambda s: fine_tuned(
        s, augmentation=[RandomShift(2), RandomFlip()], dropout=0.3, max_epochs=300))

    with warnings.catch_warnings():  # 300 iterations are enough for a ceiling
        warnings.simplefilter("ignore", ConvergenceWarning)
        ceilings["raw pixels + LR (300 iterations)"] = LogisticRegression(
            max_iter=300).fit(flat, y).score(flat_test, y_test)

    total_wall, total_cpu = start.lap()
    print()
    print(f"{'method':<50} {'mean acc':>8} {'std':>6}  {'per seed':<36} {'time (wall/CPU s)':>18}")
    print("-" * 124)
    for name, scores in results.items():
        per_seed = " ".join(f"{v:.3f}" for v in scores)
        wall, cpu = timings[name]
        print(f"{name:<50} {np.mean(scores):>8.4f} {np.std(scores):>6.4f}  {per_seed:<36} "
              f"{wall:>8.0f}/{cpu:<8.0f}")
    print("-" * 124)
    print(f"shared: autoencoder fit {ae_time[0]:.0f}/{ae_time[1]:.0f}s, codes "
          f"{codes_time[0]:.0f}/{codes_time[1]:.0f}s, unsupervised UMAP "
          f"{umap_time[0]:.0f}/{umap_time[1]:.0f}s (on all {len(Z)} training codes)")
    print(f"\nCeiling: the same classifier on the same features given all {len(X)} training "
          "labels (test accuracy); 100 labels are not expected to beat it:")
    for name, accuracy in ceilings.items():
        print(f"  {name:<48} {accuracy:.4f}")
    print(f"total: {total_wall:.0f}s wall, {total_cpu:.0f}s CPU")


if __name__ == "__main__":
    main()
