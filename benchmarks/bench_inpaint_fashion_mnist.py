"""Inpainting Fashion-MNIST: a skae autoencoder against scikit-image's biharmonic fill.

Each test image gets one 12x12 square hole at a uniformly random position inside the
28x28 image (seeded). The methods see the image with the hole and return it filled;
known pixels are kept by both. Scores are over the hole pixels only: PSNR of the pooled
squared error of all hole pixels (data range 1), and the median per-image PSNR (holes
on the black background can be filled exactly, which makes per-image PSNR infinite, so
no mean of it is shown).

skae: ``ConvAutoEncoder`` trained with ``corruption=BlockMask(12, fill="mean")`` (a fresh
random block per image and batch, filled with the local mean of its border; clean
targets) on a subset of the 60,000 training images, then ``inpaint(X, mask)`` (local
mean first guess, then reconstruct-and-replace rounds). Baseline:
``skimage.restoration.inpaint_biharmonic``, per image.

Run: ``python benchmarks/bench_inpaint_fashion_mnist.py`` (about 10-15 minutes on 2 CPU
cores). ``--quick`` runs a small version to check the script.
"""

import argparse
import sys
import time

import numpy as np
import torch
from skimage.restoration import inpaint_biharmonic

from skae import ConvAutoEncoder
from skae.corruption import BlockMask
from skae.datasets import load_fashion_mnist

HOLE = 12


def square_holes(n, size, shape, rng):
    mask = np.zeros((n, *shape), dtype=bool)
    rows = rng.integers(0, shape[0] - size + 1, n)
    cols = rng.integers(0, shape[1] - size + 1, n)
    for m, i, j in zip(mask, rows, cols):
        m[i : i + size, j : j + size] = True
    return mask


def hole_scores(filled, clean, mask):
    err = (filled.astype(np.float64) - clean) ** 2
    pooled = 10 * np.log10(1.0 / err[mask].mean())
    per_image = err.reshape(len(err), -1).sum(1) / mask.reshape(len(mask), -1).sum(1)
    median = np.median(10 * np.log10(1.0 / np.maximum(per_image, 1e-10)))
    return pooled, median, err[mask].mean()


def main(quick=False):
    n_train, n_test, epochs = (2000, 100, 3) if quick else (10000, 1000, 10)
    model_params = dict(latent_dim=128, channels=(32, 64), max_epochs=epochs, batch_size=128,
                        lr=2e-3, loss="mse")
    n_iter = 3
    X_train, _ = load_fashion_mnist("train", return_X_y=True)
    X_test, _ = load_fashion_mnist("test", return_X_y=True)
    rng = np.random.default_rng(0)
    train = X_train[rng.permutation(len(X_train))[:n_train]]
    test = X_test[rng.choice(len(X_test), n_test, replace=False)]
    mask = square_holes(n_test, HOLE, test.shape[1:], rng)
    holed = np.where(mask, 0.0, test).astype(np.float32)

    print(f"Fashion-MNIST inpainting, one random {HOLE}x{HOLE} hole per 28x28 image")
    print(f"test: {n_test} random test images (of 10,000); skae trained on {n_train} of "
          "60,000 training images")
    print(f"torch threads: {torch.get_num_threads()}")
    rows = []

    start = time.perf_counter()
    biharmonic = np.stack([inpaint_biharmonic(x, m) for x, m in zip(holed, mask)])
    rows.append(("inpaint_biharmonic", "-", *hole_scores(biharmonic, test, mask),
                 time.perf_counter() - start))

    start = time.perf_counter()
    model = ConvAutoEncoder(**model_params, corruption=BlockMask(HOLE, fill="mean"),
                            random_state=0)
    model.fit(train)
    filled = model.inpaint(holed, mask, n_iter=n_iter)
    skae_time = time.perf_counter() - start
    # Computed and printed, not asserted: ``python -O`` strips asserts.
    n_changed = int(np.count_nonzero(filled[~mask] != holed[~mask]))
    n_known = int(np.count_nonzero(~mask))
    described = ", ".join(f"{k}={v}" for k, v in model_params.items())
    rows.append(("skae ConvAutoEncoder", f"{described}, inpaint n_iter={n_iter}",
                 *hole_scores(filled, test, mask), skae_time))

    print()
    print(f"{'method':<22} {'PSNR hole dB':>12} {'median/img':>10} {'MSE hole':>9} "
          f"{'time s':>7}  settings")
    for name, settings, pooled, median, mse, t in rows:
        print(f"{name:<22} {pooled:12.2f} {median:10.2f} {mse:9.5f} {t:7.1f}  {settings}")
    gain = rows[1][2] - rows[0][2]
    print()
    print(f"skae - inpaint_biharmonic: {gain:+.2f} dB PSNR in the holes (target: >= +2 dB) "
          f"-> {'PASS' if gain >= 2 else 'FAIL'}")
    kept = "yes" if n_changed == 0 else f"NO ({n_changed} of {n_known} known pixels changed)"
    print(f"known pixels returned bit for bit: {kept}; training: {model.n_epochs_} epochs, "
          f"final train loss {model.loss_curve_[-1]:.5f}; skae time includes training")
    return n_changed == 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast check run")
    wall, cpu = time.perf_counter(), time.process_time()
    known_kept = main(parser.parse_args().quick)
    print(f"total: {time.perf_counter() - wall:.0f} s wall, "
          f"{time.process_time() - cpu:.0f} s CPU (all threads of this process)")
    sys.exit(0 if known_kept else 1)
