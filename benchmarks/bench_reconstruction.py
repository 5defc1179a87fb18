"""Reconstruction on Fashion-MNIST: ConvAutoEncoder(latent_dim=16) against PCA(16).

Trains the default ConvAutoEncoder (only ``latent_dim``, ``max_epochs`` and the seed set)
on the training set and reports the test-set mean squared error (pixels in [0, 1]) next to
PCA with the same number of components, fitted on the same data in the same run.

Needs the Fashion-MNIST files: ``apt-get install dataset-fashion-mnist`` (Debian/Ubuntu),
or a folder given by ``--data-home`` / the SKAE_FASHION_MNIST environment variable.

Target (issue 2): test MSE <= 0.5 x PCA's, in at most 10 epochs.

Usage: python benchmarks/bench_reconstruction.py [--epochs 10] [--n-train 60000]
"""

import argparse
import sys
import time

import numpy as np
import torch
from sklearn.decomposition import PCA

from skae import ConvAutoEncoder
from skae.datasets import load_fashion_mnist


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-home", default=None)
    args = parser.parse_args(argv)

    try:
        X_train, _ = load_fashion_mnist("train", data_home=args.data_home, return_X_y=True)
        X_test, _ = load_fashion_mnist("test", data_home=args.data_home, return_X_y=True)
    except FileNotFoundError as exc:
        sys.exit(f"bench_reconstruction: {exc}")
    X_train = X_train[: args.n_train]
    k = args.latent_dim
    print(f"Fashion-MNIST: {len(X_train)} train / {len(X_test)} test images, latent_dim={k}, "
          f"torch threads={torch.get_num_threads()}")

    start = time.perf_counter()
    pca = PCA(n_components=k, random_state=0).fit(X_train.reshape(len(X_train), -1))
    flat_test = X_test.reshape(len(X_test), -1)
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(flat_test)) - flat_test) ** 2))
    pca_time = time.perf_counter() - start

    start = time.perf_counter()
    ae = ConvAutoEncoder(latent_dim=k, max_epochs=args.epochs, random_state=0,
                         device=args.device).fit(X_train)
    ae_time = time.perf_counter() - start
    ae_mse = float(np.mean((ae.reconstruct(X_test) - X_test) ** 2))

    print(f"{'model':<34}{'test MSE':>10}{'PSNR dB':>9}{'fit s':>9}")
    for name, mse, seconds in [
        (f"PCA({k})", pca_mse, pca_time),
        (f"ConvAutoEncoder({k}), {ae.n_epochs_} epochs, {ae.net_.device}", ae_mse, ae_time),
    ]:
        print(f"{name:<34}{mse:>10.5f}{10 * np.log10(1 / mse):>9.2f}{seconds:>9.1f}")
    ratio = ae_mse / pca_mse
    print(f"MSE ratio ConvAutoEncoder / PCA = {ratio:.3f}  (target <= 0.5: "
          f"{'met' if ratio <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
