"""Variational autoencoders: test log-likelihood on Fashion-MNIST, one-class and tabular AUROC.

Three sections (``--sections``), each printed as a table:

``likelihood``
    Test log-likelihood in nats per image (higher is better) on uniformly dequantised
    pixels, ``(x * 255 + u) / 256`` with ``u ~ U(0, 1)`` (a continuous density on
    [0, 1]^784; ``bits/dim`` is the same number for pixels on [0, 256), the unit of the
    generative-model literature). At the same code size ``d`` (``--latent-dim``):

    - ``PPCA``: ``sklearn.decomposition.PCA(d).score``, the mean log-likelihood of
      probabilistic PCA (Tipping & Bishop), a Gaussian of covariance
      ``W W^T + sigma^2 I``;
    - ``GMM on PCA + residual``: a ``GaussianMixture`` (``--gmm-components``, full
      covariances) on the ``d`` PCA features is a density of the features only; made
      a density of the pixels by adding the PPCA residual: an isotropic Gaussian of
      variance ``PCA.noise_variance_`` on the ``784 - d`` discarded directions. The
      map from pixels to (features, residual coordinates) is a rotation, so no
      Jacobian enters: ``log p(x) = log p_GMM(z) + log N(r; 0, sigma^2 I)``;
    - skae's ``VariationalDenseAutoEncoder(d)`` and ``VariationalConvAutoEncoder(d)``
      at their defaults (Gaussian likelihood, per-pixel learned variance), scored by
      ``score`` (the importance-weighted bound with the default 32 draws); their
      active units (code dimensions whose posterior mean has variance > 0.01 over the
      training images) and the bound of the convolutional one against the number of
      draws on the first 1,000 test images.

``one-class``
    Ruff et al.'s protocol (as ``bench_anomaly_fashion_mnist.py``): for each class
    (``--classes``), fit on that class's training images, score the test images, that
    class normal. ``AE default``: ``AEAnomalyDetector()``; ``VAE likelihood``:
    ``AEAnomalyDetector(VariationalConvAutoEncoder(latent_dim=32, channels=(16, 32)),
    method="likelihood")``, the default detector's network made variational; ``PPCA``:
    minus ``PCA(32).score_samples``. Pixels in [0, 1] as loaded (not dequantised).

``pyod``
    PyOD's unsupervised tabular protocol (``bench_anomaly_pyod.py``: four data sets,
    contaminated training sets): ``AEAnomalyDetector()``, ``AEAnomalyDetector(
    VariationalDenseAutoEncoder(...), method="likelihood")`` with the sizes and short
    budget of the default detector's table network (``skae._defaults``), and PyOD's
    ``VAE()`` at its defaults. AUROC, total fit + score time, and its ratio to PyOD's.

``--max-epochs`` caps the epochs of every skae network of the two Fashion-MNIST
sections (default: their own ``"auto"`` budgets; the tables' networks always have
their short default budgets); ``--n-train`` and ``--n-test`` take that many training
(seeded) and test images, for a quick look.
PyOD is a benchmark-only dependency (``pip install -e ".[benchmarks]"``).

Run: ``python benchmarks/bench_vae.py`` (full size: an hour or more on two CPU cores);
``--n-train 3000 --n-test 2000 --max-epochs 5 --classes 0 1 --seeds 0`` for a quick
look (about 15 minutes).
"""

import argparse
import math
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

from _clock import Clock
from bench_anomaly_pyod import pyod_scores, run_protocol
from skae import AEAnomalyDetector, VariationalConvAutoEncoder, VariationalDenseAutoEncoder
from skae._defaults import default_autoencoder
from skae.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

warnings.filterwarnings("ignore")
D = 784


def dequantise(images, seed):
    """Pixels ``(x * 255 + u) / 256``, ``u ~ U(0, 1)``: a continuous version in [0, 1)."""
    rng = np.random.RandomState(seed)
    levels = np.rint(images * 255).astype(np.float32)
    return ((levels + rng.rand(*images.shape).astype(np.float32)) / 256).astype(np.float32)


def gmm_pca_log_likelihood(pca, gmm, X):
    """``log p(x)`` of a GMM on the PCA features plus the PPCA residual density."""
    centred = X - pca.mean_
    z = centred @ pca.components_.T
    residual = (centred**2).sum(1) - (z**2).sum(1)
    n_rest, var = X.shape[1] - pca.n_components_, pca.noise_variance_
    return gmm.score_samples(z) - 0.5 * (n_rest * math.log(2 * math.pi * var) + residual / var)


def active_units(vae, X):
    return int((np.var(vae.transform(X), axis=0) > 0.01).sum())


def bits_per_dim(log_likelihood):
    """Nats per image on [0, 1] as bits per pixel on [0, 256)."""
    return -(log_likelihood - D * math.log(256)) / (D * math.log(2))


def likelihood_section(X_train, X_test, args):
    d = args.latent_dim
    train = dequantise(X_train, args.seed).reshape(len(X_train), -1)
    test = dequantise(X_test, args.seed + 1).reshape(len(X_test), -1)
    rows, clock = [], Clock()
    pca = PCA(d, random_state=args.seed).fit(train)
    rows.append((f"PPCA, PCA({d}).score", pca.score(test), clock.lap()[0], ""))
    gmm = GaussianMixture(args.gmm_components, covariance_type="full",
                          random_state=args.seed).fit(pca.transform(train))
    ll = gmm_pca_log_likelihood(pca, gmm, test).mean()
    rows.append((f"GMM({args.gmm_components}) on PCA({d}) + residual", ll, clock.lap()[0], ""))
    budget = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    conv = None
    for cls, data_train, data_test in (
        (VariationalDenseAutoEncoder, train, test),
        (VariationalConvAutoEncoder, train.reshape(-1, 28, 28), test.reshape(-1, 28, 28)),
    ):
        vae = cls(latent_dim=d, random_state=args.seed, **budget).fit(data_train)
        fit_s = clock.lap()[0]
        ll = vae.score(data_test)
        units = f"{active_units(vae, data_train)}/{d} active, {vae.n_epochs_} epochs"
        rows.append((f"skae {cls.__name__}({d})", ll, fit_s + clock.lap()[0], units))
        conv = vae
    print(f"\n{'model':<44}{'nats/image':>12}{'bits/dim':>10}{'s':>7}  notes")
    for name, ll, seconds, notes in rows:
        print(f"{name:<44}{ll:>12.1f}{bits_per_dim(ll):>10.3f}{seconds:>7.0f}  {notes}")
    print(f"\nTest log-likelihood of {len(test)} dequantised test images, trained on "
          f"{len(train)} (s: fit + score). VariationalConvAutoEncoder's bound against "
          "the number of draws (first 1,000 test images):")
    subset = test[:1000].reshape(-1, 28, 28)
    for k in (1, 8, 32, 128):
        conv.set_params(n_importance_samples=k)
        start = time.perf_counter()
        ll = conv.score(subset)
        print(f"  n_importance_samples={k:<4} {ll:>9.2f} nats/image  "
              f"{time.perf_counter() - start:>6.1f} s")


def one_class_section(X_train, y_train, X_test, y_test, args):
    budget = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    columns = ("AE default", "VAE likelihood", "PPCA")
    header = f"{'class':<16}" + "".join(f"{c:>16}" for c in columns) + f"{'AE s':>7}{'VAE s':>7}"
    print("\n" + header + "\n" + "-" * len(header))
    rows = []
    for label in args.classes:
        X, is_anomaly, clock = X_train[y_train == label], y_test != label, Clock()
        # The default network (the detector's own rule), with the epoch cap if any.
        default = default_autoencoder(X, purpose="detection", **budget) if budget else None
        ae = AEAnomalyDetector(default, random_state=args.seed)
        scores = {"AE default": -ae.fit(X).score_samples(X_test)}
        ae_s = clock.lap()[0]
        vae = VariationalConvAutoEncoder(latent_dim=32, channels=(16, 32), **budget)
        detector = AEAnomalyDetector(vae, method="likelihood", random_state=args.seed)
        scores["VAE likelihood"] = -detector.fit(X).score_samples(X_test)
        vae_s = clock.lap()[0]
        flat = X.reshape(len(X), -1)
        scores["PPCA"] = -PCA(32).fit(flat).score_samples(X_test.reshape(len(X_test), -1))
        row = {c: roc_auc_score(is_anomaly, scores[c]) for c in columns}
        rows.append(row)
        name = f"{label} {FASHION_MNIST_CLASSES[label]}"
        print(f"{name:<16}" + "".join(f"{row[c]:>16.3f}" for c in columns)
              + f"{ae_s:>7.0f}{vae_s:>7.0f}", flush=True)
    print("-" * len(header))
    print(f"{'mean':<16}" + "".join(f"{np.mean([r[c] for r in rows]):>16.3f}" for c in columns))
    print("\nOne-class AUROC (fit on one class's training images, score the test set).")


def skae_vae_detector(X_train, seed):
    """The default table detector's network sizes and budget, made variational."""
    plain = default_autoencoder(X_train, purpose="detection")
    vae = VariationalDenseAutoEncoder(
        latent_dim=plain.latent_dim, hidden_layer_sizes=plain.hidden_layer_sizes,
        batch_size=plain.batch_size, max_epochs=plain.max_epochs,
    )
    return AEAnomalyDetector(vae, method="likelihood", random_state=seed)


def pyod_section(args):
    methods = {
        "skae AEAnomalyDetector()": lambda Xtr, Xte, s: -AEAnomalyDetector(
            random_state=s).fit(Xtr).score_samples(Xte),
        "skae VAE likelihood": lambda Xtr, Xte, s: -skae_vae_detector(
            Xtr, s).fit(Xtr).score_samples(Xte),
        "PyOD VAE()": pyod_scores("VAE"),
    }
    aurocs, times = run_protocol(methods, args.seeds)
    names = list(aurocs["PyOD VAE()"])
    header = (f"{'method':<26}" + "".join(f"{n:>14}" for n in names)
              + f"{'mean':>8}{'fit s':>8}{'/PyOD':>7}")
    print("\n" + header + "\n" + "-" * len(header))
    for method in methods:
        every = np.concatenate([aurocs[method][n] for n in names])
        print(f"{method:<26}" + "".join(f"{np.mean(aurocs[method][n]):>14.3f}" for n in names)
              + f"{every.mean():>8.3f}{times[method]:>8.1f}"
              + f"{times[method] / times['PyOD VAE()']:>7.2f}")
    print(f"\nPyOD's protocol: AUROC on the test split, mean over normal classes x seeds "
          f"{args.seeds}; fit s = total fit + score time; /PyOD = its ratio to PyOD VAE().")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["likelihood", "one-class", "pyod"],
                        choices=["likelihood", "one-class", "pyod"])
    parser.add_argument("--n-train", type=int, default=None, help="training images (60000)")
    parser.add_argument("--n-test", type=int, default=None, help="test images (10000)")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--gmm-components", type=int, default=10)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="PyOD splits")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if {"likelihood", "one-class"} & set(args.sections):
        try:
            X_train, y_train = load_fashion_mnist("train", return_X_y=True)
            X_test, y_test = load_fashion_mnist("test", return_X_y=True)
        except FileNotFoundError as exc:
            sys.exit(f"Fashion-MNIST is needed for this benchmark.\n{exc}")
        keep = np.random.RandomState(args.seed).permutation(len(X_train))[: args.n_train]
        X_train, y_train = X_train[np.sort(keep)], y_train[np.sort(keep)]
        X_test, y_test = X_test[: args.n_test], y_test[: args.n_test]
    if "likelihood" in args.sections:
        likelihood_section(X_train, X_test, args)
    if "one-class" in args.sections:
        one_class_section(X_train, y_train, X_test, y_test, args)
    if "pyod" in args.sections:
        pyod_section(args)
    print(f"\nSeed {args.seed}, {args.threads} torch threads, one run. "
          f"Total {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
