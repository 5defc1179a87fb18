"""Unsupervised anomaly detection on tables: skae's default detector against PyOD and IForest.

PyOD's unsupervised protocol (as in ADBench): the training data are unlabelled and
contaminated. For each data set, each class taken as normal and each seed: a stratified
60/40 split; the training set is the normal class's 60 % plus anomalies drawn from the
other classes' 60 % so that they make up 5 % of it; the test set is the whole 40 %
(that class normal, every other class anomalous). Reported: test AUROC (higher is
better) and the total fit time of each method.

Data sets (all real, all offline):

- breast cancer (sklearn): 569 x 30, normal = benign or malignant;
- wine (sklearn): 178 x 13, 3 classes;
- digits (sklearn): 1,797 x 64, 10 classes;
- Fashion-MNIST, flattened: the 2,000 bundled images as rows of 784 pixels, 10 classes.

Methods, each at its defaults (PyOD's detectors standardise their input themselves;
skae's detector standardises tables itself):

- ``skae AEAnomalyDetector()``;
- PyOD ``AutoEncoder()`` and ``VAE()`` (``verbose=0``; on a training set smaller than
  PyOD's batch of 32, one batch of the whole set, since PyOD drops incomplete batches
  and would train on nothing);
- ``IsolationForest(random_state=seed)`` on standardised features.

All methods run in this process, one after the other, with the same torch thread count
(``--threads``). PyOD is a benchmark-only dependency (``pip install -e ".[benchmarks]"``).

Run: ``python benchmarks/bench_anomaly_pyod.py [--seeds 0 1]``; a few minutes on two
cores.
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skae import AEAnomalyDetector
from skae.datasets import load_fashion_mnist_subset

warnings.filterwarnings("ignore")


def datasets():
    X, y = load_fashion_mnist_subset(return_X_y=True)
    return {
        "breast cancer": load_breast_cancer(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "digits": load_digits(return_X_y=True),
        "F-MNIST flat": (X.reshape(len(X), -1).astype(np.float64), y),
    }


def make_split(X, y, normal, seed, contamination=0.05):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, stratify=y,
                                              random_state=seed)
    rng = np.random.RandomState(seed)
    normal_rows = np.flatnonzero(y_tr == normal)
    n_anomalies = int(round(contamination / (1 - contamination) * len(normal_rows)))
    anomaly_rows = rng.choice(np.flatnonzero(y_tr != normal), n_anomalies, replace=False)
    train = np.concatenate([normal_rows, anomaly_rows])
    return X_tr[train], X_te, y_te != normal


def skae_scores(X_train, X_test, seed):
    return -AEAnomalyDetector(random_state=seed).fit(X_train).score_samples(X_test)


def pyod_scores(name):
    def scores(X_train, X_test, seed):
        from pyod.models.auto_encoder import AutoEncoder
        from pyod.models.vae import VAE

        # PyOD drops the last incomplete batch, so a training set smaller than its
        # default batch (32) would train on nothing and fail: give such sets one batch.
        detector = {"AutoEncoder": AutoEncoder, "VAE": VAE}[name](
            verbose=0, random_state=seed, batch_size=min(32, len(X_train))
        )
        detector.fit(X_train)
        return detector.decision_function(X_test)

    return scores


def iforest_scores(X_train, X_test, seed):
    scaler = StandardScaler().fit(X_train)
    forest = IsolationForest(random_state=seed).fit(scaler.transform(X_train))
    return -forest.score_samples(scaler.transform(X_test))


METHODS = {
    "skae AEAnomalyDetector()": skae_scores,
    "PyOD AutoEncoder()": pyod_scores("AutoEncoder"),
    "PyOD VAE()": pyod_scores("VAE"),
    "IsolationForest()": iforest_scores,
}


def run_protocol(methods, seeds):
    """Every method on every data set, normal class and seed.

    Parameters
    ----------
    methods : dict of str to callable
        ``scores(X_train, X_test, seed)``, higher for more anomalous.
    seeds : list of int

    Returns
    -------
    aurocs : dict
        ``aurocs[method][data_name]``: the AUROC of each split.
    times : dict
        ``times[method]``: total fit + score seconds.
    """
    aurocs = {m: {} for m in methods}
    times = dict.fromkeys(methods, 0.0)
    for data_name, (X, y) in datasets().items():
        for normal in np.unique(y):
            for seed in seeds:
                X_train, X_test, is_anomaly = make_split(X, y, normal, seed)
                for method, scores in methods.items():
                    t = time.perf_counter()
                    s = scores(X_train, X_test, seed)
                    times[method] += time.perf_counter() - t
                    aurocs[method].setdefault(data_name, []).append(
                        roc_auc_score(is_anomaly, s)
                    )
        print(f"{data_name}: done", flush=True)
    return aurocs, times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    aurocs, times = run_protocol(METHODS, args.seeds)
    names = list(aurocs[next(iter(METHODS))])
    header = f"{'method':<26}" + "".join(f"{n:>14}" for n in names) + f"{'mean':>8}{'fit s':>8}"
    print("\n" + header + "\n" + "-" * len(header))
    for method in METHODS:
        per_data = [np.mean(aurocs[method][n]) for n in names]
        every = np.concatenate([aurocs[method][n] for n in names])
        print(f"{method:<26}" + "".join(f"{a:>14.3f}" for a in per_data)
              + f"{every.mean():>8.3f}{times[method]:>8.1f}")
    n_splits = sum(len(v) for v in aurocs[next(iter(METHODS))].values())
    print(f"\nAUROC on the test split, mean over normal classes x seeds ({n_splits} splits; "
          f"'mean' over all splits); fit s = total fit + score time of all splits. "
          f"Torch threads: {args.threads}. Total {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
