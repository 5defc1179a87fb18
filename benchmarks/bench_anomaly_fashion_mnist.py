"""One-class anomaly detection on Fashion-MNIST: AEAnomalyDetector against PCA and IForest.

The protocol of Ruff et al. (Deep SVDD, ICML 2018) and Golan & El-Yaniv (GEOM, NeurIPS
2018): for each of the 10 classes, fit on that class's 6,000 training images and score
the whole 10,000-image test set, with that class normal (1,000) and the nine others
anomalous (9,000). Reported: AUROC per class and the mean. Published means on this
protocol: raw-pixel OC-SVM 0.928, GEOM 0.935, Deep SAD 0.892.

Columns:

- ``AE default``: ``AEAnomalyDetector(random_state=0)`` with default settings, i.e.
  ``method="hybrid"`` (smoothed reconstruction error + distance of the code to its 5
  nearest training codes) on the default ``ConvAutoEncoder`` (32-d code, 20 epochs).
- ``AE recon``: the same fitted autoencoder's plain per-image mean squared error, i.e.
  what ``AEAnomalyDetector(method="reconstruction", error_smoothing=0)`` ranks by (the
  autoencoder does not depend on ``method``, so it is not trained twice).
- ``AE smooth``: reconstruction term alone, residual smoothed (``method="reconstruction"``).
- ``AE latent``: code-distance term alone (``method="latent"``).
- ``PCA``: squared reconstruction error of a PCA keeping 90 % of the training variance.
- ``IForest``: ``IsolationForest(random_state=0)`` on the raw pixels.

Data: the Debian package ``dataset-fashion-mnist`` (``apt-get install
dataset-fashion-mnist``) puts the files in ``/usr/share/datasets/fashion-mnist``; or set
``SKAE_FASHION_MNIST`` to a folder holding the four idx files. skae never downloads.

Run: ``python benchmarks/bench_anomaly_fashion_mnist.py`` (all classes, two at a time
with one torch thread each: about 15 minutes on two idle CPU cores); ``--classes 0 1
--n-train 1000`` for a quick look.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skae import AEAnomalyDetector
from skae.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

COLUMNS = ("AE default", "AE recon", "AE smooth", "AE latent", "PCA", "IForest")


def score_class(X_train, X_test, seed, n_threads):
    """Anomaly scores (higher = more abnormal) of X_test per method, and timings."""
    torch.set_num_threads(n_threads)
    scores, times = {}, {}
    start = time.perf_counter()
    detector = AEAnomalyDetector(random_state=seed).fit(X_train)
    scores["AE default"] = -detector.score_samples(X_test)
    times["AE"] = time.perf_counter() - start
    # Single terms of the same fitted detector (each is a monotone transform of the score
    # of AEAnomalyDetector with that single term, so AUROCs are the same).
    ae = detector.autoencoder_
    scores["AE recon"] = ae.reconstruction_error(X_test)
    scores["AE smooth"] = detector.error_map(X_test).mean(axis=(1, 2))
    codes = ae.transform(X_test).astype(np.float64)
    scores["AE latent"] = detector.neighbors_.kneighbors(codes)[0].mean(axis=1)

    start = time.perf_counter()
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    pca = PCA(n_components=0.9, svd_solver="full").fit(flat_train)
    residual = flat_test - pca.inverse_transform(pca.transform(flat_test))
    scores["PCA"] = np.mean(residual**2, axis=1)
    times["PCA"] = time.perf_counter() - start

    start = time.perf_counter()
    forest = IsolationForest(random_state=seed).fit(flat_train)
    scores["IForest"] = -forest.score_samples(flat_test)
    times["IForest"] = time.perf_counter() - start
    return scores, times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument(
        "--n-train", type=int, default=None, help="training images per class (all: 6000)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--n-jobs", type=int, default=2, help="classes run in parallel, one torch thread each"
    )
    args = parser.parse_args()
    n_threads = 1 if args.n_jobs > 1 else int(os.environ.get("OMP_NUM_THREADS", "2"))
    try:
        X_train_all, y_train_all = load_fashion_mnist("train", return_X_y=True)
        X_test, y_test = load_fashion_mnist("test", return_X_y=True)
    except FileNotFoundError as exc:
        sys.exit(f"Fashion-MNIST is needed for this benchmark.\n{exc}")

    start = time.perf_counter()
    header = f"{'class':<16}" + "".join(f"{c:>11}" for c in COLUMNS) + f"{'AE s':>7}"
    print(header)
    print("-" * len(header))
    rows = []
    jobs = (
        delayed(score_class)(
            X_train_all[y_train_all == label][: args.n_train], X_test, args.seed, n_threads
        )
        for label in args.classes
    )
    results = Parallel(n_jobs=args.n_jobs, return_as="generator")(jobs)
    for label, (scores, times) in zip(args.classes, results):
        is_anomaly = y_test != label
        row = {c: roc_auc_score(is_anomaly, scores[c]) for c in COLUMNS}
        rows.append(row)
        name = f"{label} {FASHION_MNIST_CLASSES[label]}"
        print(
            f"{name:<16}" + "".join(f"{row[c]:>11.3f}" for c in COLUMNS)
            + f"{times['AE']:>7.0f}",
            flush=True,
        )
    print("-" * len(header))
    print(f"{'mean':<16}" + "".join(f"{np.mean([r[c] for r in rows]):>11.3f}" for c in COLUMNS))
    n_train = "all" if args.n_train is None else args.n_train
    print(
        f"\nAUROC; {n_train} training images per class; 'AE s' = seconds to fit and score "
        f"the default detector. Total {time.perf_counter() - start:.0f} s; "
        f"{args.n_jobs} class(es) at a time, {n_threads} torch thread(s) each."
    )


if __name__ == "__main__":
    main()
