"""Defaults at the sizes users have: skae against PCA, IsolationForest and raw pixels.

For Fashion-MNIST training subsets of ``--sizes`` images (a seeded random subset of the
60,000) and for sklearn's digits (8x8 images, a seeded half as the training set), every
estimator at its defaults, side by side in one run:

- **reconstruction**: test-set mean squared error (pixels in [0, 1]) of
  ``ConvAutoEncoder(latent_dim=16)`` against ``PCA(16)``;
- **one-class**: for each of ``--classes``, train on that class's images of the subset and
  score the whole test set (that class normal, the others anomalous); AUROC of
  ``AEAnomalyDetector()`` against PCA's reconstruction error (90 % of the variance) and
  ``IsolationForest()`` on the raw pixels; the mean over the classes;
- **few labels**: 10 labels per class from the subset (the rest unlabelled): the
  autoencoder's codes + UMAP (fitted on all codes of the subset) + ``LogisticRegression``
  against raw pixels + LR and ``PCA(32)`` + UMAP + LR; codes + LR without UMAP and raw
  pixels + UMAP + LR (what the UMAP step itself adds or costs at that size) are shown
  too. Test accuracy on ``--n-few-test`` test images.

Rows marked ``previous default`` run the defaults skae had before the data-dependent
budget (``max_epochs=20`` at a constant learning rate, ``batch_size=64``, no held-out
set; the detector's image autoencoder the same), so that quality and fit time can be
compared in the same run. Times are wall-clock seconds of ``fit`` on this machine, with
``--threads`` torch threads; compare them within one run, not across runs.

Data: the Debian package ``dataset-fashion-mnist`` or ``SKAE_FASHION_MNIST``; skae
never downloads. Run: ``python benchmarks/bench_data_sizes.py`` (all sizes: about 15
minutes on two idle cores of a recent machine), or e.g. ``--sizes 500 2000 --no-digits``
for a quick look; ``--sizes`` with no value runs digits only (about half a minute).
"""

import argparse
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from skae import AEAnomalyDetector, ConvAutoEncoder
from skae.datasets import load_fashion_mnist

warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # UMAP with a random_state
warnings.filterwarnings("ignore", category=FutureWarning)

PREVIOUS = dict(max_epochs=20, batch_size=64, early_stopping=False)


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def reconstruction_rows(X, X_test, seed):
    flat, flat_test = X.reshape(len(X), -1), X_test.reshape(len(X_test), -1)
    pca, t_pca = timed(lambda: PCA(16, random_state=seed).fit(flat))
    mse_pca = float(np.mean((flat_test - pca.inverse_transform(pca.transform(flat_test))) ** 2))
    rows = [("PCA(16)", mse_pca, t_pca, None)]
    models = {}
    for name, params in (("ConvAutoEncoder(16)", {}), ("  previous default", PREVIOUS)):
        ae, t = timed(lambda: ConvAutoEncoder(latent_dim=16, random_state=seed, **params).fit(X))
        mse = float(np.mean((X_test - ae.reconstruct(X_test)) ** 2))
        rows.append((name, mse, t, ae))
        models[name] = ae
    return rows, models


def pca_error(X, X_test):
    flat, flat_test = X.reshape(len(X), -1), X_test.reshape(len(X_test), -1)
    pca = PCA(n_components=0.9, svd_solver="full").fit(flat)
    return np.mean((flat_test - pca.inverse_transform(pca.transform(flat_test))) ** 2, axis=1)


def one_class_rows(X, y, X_test, y_test, classes, seed):
    previous_ae = ConvAutoEncoder(latent_dim=32, channels=(32, 64), random_state=seed,
                                  **PREVIOUS)
    methods = {
        "AEAnomalyDetector()": lambda Xc: -AEAnomalyDetector(random_state=seed)
        .fit(Xc).score_samples(X_test),
        "  previous default": lambda Xc: -AEAnomalyDetector(previous_ae, random_state=seed)
        .fit(Xc).score_samples(X_test),
        "PCA recon (90 %)": lambda Xc: pca_error(Xc, X_test),
        "IsolationForest()": lambda Xc: -IsolationForest(random_state=seed)
        .fit(Xc.reshape(len(Xc), -1)).score_samples(X_test.reshape(len(X_test), -1)),
    }
    rows = []
    for name, method in methods.items():
        aurocs, total = [], 0.0
        for label in classes:
            scores, t = timed(lambda: method(X[y == label]))
            aurocs.append(roc_auc_score(y_test != label, scores))
            total += t
        rows.append((name, float(np.mean(aurocs)), total, aurocs))
    return rows


def few_label_rows(X, y, X_test, y_test, models, seed):
    from umap import UMAP

    rng = np.random.RandomState(seed)
    labelled = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), 10, replace=False) for c in np.unique(y)]
    )

    def umap_lr(features, features_test):
        mapper = UMAP(random_state=seed).fit(features)
        lr = LogisticRegression(max_iter=2000).fit(mapper.embedding_[labelled], y[labelled])
        return lr.score(mapper.transform(features_test), y_test)

    def plain_lr(features, features_test):
        lr = LogisticRegression(max_iter=2000).fit(features[labelled], y[labelled])
        return lr.score(features_test, y_test)

    flat, flat_test = X.reshape(len(X), -1), X_test.reshape(len(X_test), -1)
    rows = []
    for name, ae in models.items():
        codes, codes_test = ae.transform(X), ae.transform(X_test)
        label = "codes" if name.startswith("Conv") else "  previous codes"
        rows.append((f"{label} + UMAP + LR", *timed(lambda: umap_lr(codes, codes_test))))
        rows.append((f"{label} + LR", *timed(lambda: plain_lr(codes, codes_test))))
    rows.append(("raw pixels + LR", *timed(lambda: plain_lr(flat, flat_test))))
    # The same UMAP step on the raw pixels: what UMAP itself adds or costs at this size.
    rows.append(("raw pixels + UMAP + LR", *timed(lambda: umap_lr(flat, flat_test))))
    pca = PCA(32, random_state=seed).fit(flat)
    rows.append(("PCA(32) + UMAP + LR", *timed(
        lambda: umap_lr(pca.transform(flat), pca.transform(flat_test)))))
    return rows


def run(name, X, y, X_test, y_test, classes, n_few_test, seed):
    print(f"\n=== {name}: {len(X)} training images {X.shape[1:]}, {len(X_test)} test images",
          flush=True)
    rec, models = reconstruction_rows(X, X_test, seed)
    print(f"{'reconstruction':<28}{'test MSE':>10}{'/ PCA':>8}{'fit s':>8}   budget")
    for row_name, mse, t, ae in rec:
        budget = "" if ae is None else (
            f"   {ae.n_epochs_}/{ae.max_epochs_} epochs, batch {ae.batch_size_}: "
            f"{ae.stop_reason_}")
        print(f"{row_name:<28}{mse:>10.5f}{mse / rec[0][1]:>8.3f}{t:>8.1f}{budget}", flush=True)
    print(f"{'one-class (classes ' + ','.join(map(str, classes)) + ')':<28}{'AUROC':>10}"
          f"{'':>8}{'fit s':>8}   per class")
    for row_name, mean, t, per_class in one_class_rows(X, y, X_test, y_test, classes, seed):
        print(f"{row_name:<28}{mean:>10.3f}{'':>8}{t:>8.1f}   "
              + " ".join(f"{a:.3f}" for a in per_class), flush=True)
    few_test = np.random.RandomState(seed).permutation(len(X_test))[:n_few_test]
    print(f"{'10 labels per class':<28}{'accuracy':>10}{'':>8}{'s':>8}")
    for row_name, accuracy, t in few_label_rows(X, y, X_test[few_test], y_test[few_test],
                                                models, seed):
        print(f"{row_name:<28}{accuracy:>10.3f}{'':>8}{t:>8.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*",
                        default=[200, 500, 2000, 10000, 60000],
                        help="Fashion-MNIST subset sizes; none for digits only")
    parser.add_argument("--classes", type=int, nargs="+", default=[0, 3, 8])
    parser.add_argument("--n-few-test", type=int, default=2000)
    parser.add_argument("--no-digits", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if not args.no_digits:
        digits = load_digits()
        images, target = (digits.images / 16.0).astype(np.float32), digits.target
        order = np.random.RandomState(args.seed).permutation(len(images))
        train, test = order[: len(order) // 2], order[len(order) // 2 :]
        run("digits", images[train], target[train], images[test], target[test],
            args.classes, len(test), args.seed)
    if args.sizes:
        try:
            X_all, y_all = load_fashion_mnist("train", return_X_y=True)
            X_test, y_test = load_fashion_mnist("test", return_X_y=True)
        except FileNotFoundError as exc:
            sys.exit(f"Fashion-MNIST is needed for the Fashion-MNIST rows.\n{exc}")
        order = np.random.RandomState(args.seed).permutation(len(X_all))
        for n in args.sizes:
            subset = np.sort(order[:n])
            run(f"Fashion-MNIST n={n}", X_all[subset], y_all[subset], X_test, y_test,
                args.classes, args.n_few_test, args.seed)
    print(f"\ntotal {time.perf_counter() - start:.0f} s wall, {args.threads} torch thread(s)")


if __name__ == "__main__":
    main()
