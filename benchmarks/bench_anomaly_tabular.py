"""One-class anomaly detection on real tables: AEAnomalyDetector against PCA and IsolationForest.

Protocol, for each data set and each class taken as "normal": half of that class (seeded
split) is the training set; the test set is the other half plus every sample of the other
classes (anomalies). Reported: test AUROC, higher is better, averaged over ``--seeds``.

- breast cancer (sklearn): 30 features; benign (357) or malignant (212) as normal.
- digits (sklearn): 64 pixel features, 10 classes of about 180.
- wine (sklearn): 13 features, 3 classes of 48 to 71.

Methods, all on standardised features (StandardScaler fitted on the training half):

- ``AE hybrid``: ``AEAnomalyDetector()`` with default settings (the default method).
- ``AE recon``: ``AEAnomalyDetector(method="reconstruction")``.
- ``PCA recon``: PCA keeping 90 % of the training variance, squared reconstruction error.
- ``IForest``: ``IsolationForest(random_state=seed)``.

Run: ``python benchmarks/bench_anomaly_tabular.py [--seeds 3]``. Takes a few minutes on
two CPU cores.
"""

import argparse
import os
import time

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skae import AEAnomalyDetector


def pca_scores(X_train, X_test):
    scaler = StandardScaler().fit(X_train)
    pca = PCA(n_components=0.9, svd_solver="full").fit(scaler.transform(X_train))
    Z = scaler.transform(X_test)
    return -np.mean((Z - pca.inverse_transform(pca.transform(Z))) ** 2, axis=1)


def iforest_scores(X_train, X_test, seed):
    scaler = StandardScaler().fit(X_train)
    forest = IsolationForest(random_state=seed).fit(scaler.transform(X_train))
    return forest.score_samples(scaler.transform(X_test))


METHODS = {
    "AE hybrid": lambda Xtr, Xte, s: AEAnomalyDetector(random_state=s)
    .fit(Xtr)
    .score_samples(Xte),
    "AE recon": lambda Xtr, Xte, s: AEAnomalyDetector(method="reconstruction", random_state=s)
    .fit(Xtr)
    .score_samples(Xte),
    "PCA recon": lambda Xtr, Xte, s: pca_scores(Xtr, Xte),
    "IForest": iforest_scores,
}


def one_class_auroc(X, y, normal, seed):
    normal_idx = np.flatnonzero(y == normal)
    train_idx, held_out = train_test_split(normal_idx, test_size=0.5, random_state=seed)
    test_idx = np.concatenate([held_out, np.flatnonzero(y != normal)])
    X_train, X_test = X[train_idx], X[test_idx]
    is_anomaly = y[test_idx] != normal
    out = {}
    for name, method in METHODS.items():
        # Higher score = more normal, so the anomaly score is its negative.
        out[name] = roc_auc_score(is_anomaly, -method(X_train, X_test, seed))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeded splits per class")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    datasets = {
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "digits": load_digits(return_X_y=True),
        "wine": load_wine(return_X_y=True),
    }
    start = time.perf_counter()
    header = f"{'data set':<14}{'normal':>7}" + "".join(f"{m:>11}" for m in METHODS)
    print(header)
    print("-" * len(header))
    summary = {}
    for data_name, (X, y) in datasets.items():
        per_class = []
        for normal in np.unique(y):
            runs = [one_class_auroc(X, y, normal, seed) for seed in range(args.seeds)]
            row = {m: np.mean([r[m] for r in runs]) for m in METHODS}
            per_class.append(row)
            print(
                f"{data_name:<14}{normal:>7}" + "".join(f"{row[m]:>11.3f}" for m in METHODS),
                flush=True,
            )
        summary[data_name] = {m: np.mean([r[m] for r in per_class]) for m in METHODS}
    print("-" * len(header))
    for data_name, row in summary.items():
        print(f"{data_name:<14}{'mean':>7}" + "".join(f"{row[m]:>11.3f}" for m in METHODS))
    print(f"\nAUROC, mean over {args.seeds} seeded splits per class; "
          f"total time {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
