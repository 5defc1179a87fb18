"""De-noising Fashion-MNIST: a skae de-noising autoencoder against scikit-image.

Noise: additive white Gaussian, sigma = 0.3 on pixels in [0, 1], NOT clipped (the
standard AWGN model; the noisy images leave [0, 1]). Every method sees the same noisy
test images; PSNR (data range 1) is computed per image and averaged, SSIM likewise.

skae: ``ConvAutoEncoder`` trained with ``corruption=GaussianNoise(0.3)`` (fresh noise
every batch, clean targets) on a subset of the 60,000 training images, then
``reconstruct(noisy)``. Baselines: ``denoise_nl_means``, ``denoise_tv_chambolle`` and
``denoise_wavelet``, each tuned by a small grid search on validation images drawn from
the TRAINING set (not the test images), given the true sigma.

Run: ``python benchmarks/bench_denoise_fashion_mnist.py`` (about 10-15 minutes on 2
CPU cores). ``--quick`` runs a small version to check the script.
"""

import argparse
import itertools
import time

import numpy as np
import torch
from skimage.metrics import structural_similarity
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

from skae import ConvAutoEncoder
from skae.corruption import GaussianNoise
from skae.datasets import load_fashion_mnist

SIGMA = 0.3

GRIDS = {
    "denoise_nl_means": (
        denoise_nl_means,
        [
            dict(h=h * SIGMA, sigma=SIGMA, patch_size=p, patch_distance=d, fast_mode=True)
            for h, (p, d) in itertools.product(
                [0.5, 0.6, 0.7, 0.8, 1.0], [(3, 4), (5, 6), (7, 6)]
            )
        ],
    ),
    "denoise_tv_chambolle": (
        denoise_tv_chambolle,
        [dict(weight=w) for w in [0.12, 0.15, 0.18, 0.2, 0.22, 0.25, 0.3]],
    ),
    "denoise_wavelet": (
        denoise_wavelet,
        [
            dict(sigma=SIGMA * s, wavelet=w, method=m, mode="soft", rescale_sigma=True)
            for w, m, s in itertools.product(
                ["db1", "db2", "sym4"], ["BayesShrink", "VisuShrink"], [1.0, 1.5, 2.0]
            )
        ],
    ),
}


def psnr(estimate, clean):
    mse = np.mean((estimate.astype(np.float64) - clean) ** 2, axis=(1, 2))
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-12))


def ssim(estimate, clean):
    return np.array([
        structural_similarity(e, c, data_range=1.0) for e, c in zip(estimate, clean)
    ])


def apply(function, params, images):
    return np.stack([function(image, **params) for image in images]).astype(np.float32)


def main(quick=False):
    n_train, n_test, n_valid, epochs = (2000, 100, 30, 3) if quick else (20000, 1000, 100, 15)
    model_params = dict(latent_dim=128, channels=(32, 64), max_epochs=epochs, batch_size=128,
                        lr=2e-3, loss="mse")
    X_train, _ = load_fashion_mnist("train", return_X_y=True)
    X_test, _ = load_fashion_mnist("test", return_X_y=True)
    rng = np.random.default_rng(0)
    train_idx = rng.permutation(len(X_train))
    valid = X_train[train_idx[:n_valid]]
    train = X_train[train_idx[n_valid : n_valid + n_train]]
    test = X_test[rng.choice(len(X_test), n_test, replace=False)]
    noisy_valid = (valid + SIGMA * rng.standard_normal(valid.shape)).astype(np.float32)
    noisy_test = (test + SIGMA * rng.standard_normal(test.shape)).astype(np.float32)

    print(f"Fashion-MNIST de-noising, Gaussian sigma={SIGMA} on [0, 1], unclipped")
    print(f"test: {n_test} random test images (of 10,000); skae trained on {n_train} of "
          f"60,000 training images; baselines tuned on {n_valid} held-out training images")
    print(f"torch threads: {torch.get_num_threads()}")
    rows = [("noisy input", "-", psnr(noisy_test, test), ssim(noisy_test, test), 0.0)]

    for name, (function, grid) in GRIDS.items():
        start = time.perf_counter()
        scores = [psnr(apply(function, p, noisy_valid), valid).mean() for p in grid]
        best = grid[int(np.argmax(scores))]
        denoised = apply(function, best, noisy_test)
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in best.items()
                 if k not in ("fast_mode", "rescale_sigma", "mode")}
        rows.append((name, str(shown), psnr(denoised, test), ssim(denoised, test),
                     time.perf_counter() - start))

    start = time.perf_counter()
    model = ConvAutoEncoder(**model_params, corruption=GaussianNoise(SIGMA), random_state=0)
    model.fit(train)
    denoised = model.reconstruct(noisy_test)
    skae_time = time.perf_counter() - start
    described = ", ".join(f"{k}={v}" for k, v in model_params.items())
    rows.append(("skae ConvAutoEncoder", described, psnr(denoised, test),
                 ssim(denoised, test), skae_time))

    print()
    print(f"{'method':<22} {'PSNR dB':>8} {'SSIM':>6} {'time s':>7}  settings")
    for name, settings, p, s, t in rows:
        print(f"{name:<22} {p.mean():8.2f} {s.mean():6.3f} {t:7.1f}  {settings}")
    best_baseline = max(rows[1:-1], key=lambda r: r[2].mean())
    gain = rows[-1][2].mean() - best_baseline[2].mean()
    print()
    print(f"skae - best baseline ({best_baseline[0]}): {gain:+.2f} dB PSNR "
          f"(target: >= +2 dB) -> {'PASS' if gain >= 2 else 'FAIL'}")
    print(f"training: {model.n_epochs_} epochs, final train loss {model.loss_curve_[-1]:.5f};"
          " times include tuning (baselines) and training (skae)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast check run")
    wall, cpu = time.perf_counter(), time.process_time()
    main(parser.parse_args().quick)
    print(f"total: {time.perf_counter() - wall:.0f} s wall, "
          f"{time.process_time() - cpu:.0f} s CPU (all threads of this process)")
