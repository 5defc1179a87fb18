"""
=====================================
De-noising images with an autoencoder
=====================================

A de-noising autoencoder is trained to map corrupted images back to the clean ones:
``corruption=GaussianNoise(0.3)`` adds fresh noise to every training batch while the
targets stay clean, and ``reconstruct`` then returns the restored image of any new
noisy input. We compare it with total-variation de-noising from scikit-image, and show
the two ways of training: with a corruption model, or with real noisy/clean pairs
(``fit_pairs``).
"""

# %%
# Data: clothes with heavy noise
# ------------------------------
# The 2,000 Fashion-MNIST images bundled with skae; pixels in [0, 1]. The noise is
# additive Gaussian with standard deviation 0.3, not clipped.
import matplotlib.pyplot as plt
import numpy as np
from skimage.restoration import denoise_tv_chambolle

from skae import ConvAutoEncoder
from skae.corruption import GaussianNoise
from skae.datasets import load_fashion_mnist_subset

X, _ = load_fashion_mnist_subset(return_X_y=True)
X_train, X_test = X[:1600], X[1600:]
rng = np.random.default_rng(0)
noisy_test = (X_test + 0.3 * rng.standard_normal(X_test.shape)).astype(np.float32)


def psnr(estimate, clean):
    return np.mean(10 * np.log10(1 / np.mean((estimate - clean) ** 2, axis=(1, 2))))


# %%
# A de-noising autoencoder
# ------------------------
# The default ``latent_dim=16`` is made for compression; a de-noiser needs a wider code
# to keep the details of each image, so we take 64.
denoiser = ConvAutoEncoder(
    latent_dim=64, channels=(16, 32), max_epochs=25, lr=2e-3,
    corruption=GaussianNoise(0.3), random_state=0,
)
denoiser.fit(X_train)
denoised = denoiser.reconstruct(noisy_test)

# %%
# Paired training
# ---------------
# With real pairs (two exposures, low and high dose...), ``fit_pairs(X_noisy, X_clean)``
# learns the mapping directly. Here the pairs are simulated, with one fixed noise draw
# per image, which the corruption model above renews every epoch.
noisy_train = (X_train + 0.3 * rng.standard_normal(X_train.shape)).astype(np.float32)
paired = ConvAutoEncoder(latent_dim=64, channels=(16, 32), max_epochs=25, lr=2e-3,
                         random_state=0)
paired.fit_pairs(noisy_train, X_train)
denoised_paired = paired.reconstruct(noisy_test)

tv = np.stack([denoise_tv_chambolle(x, weight=0.2) for x in noisy_test])
for name, estimate in [("noisy", noisy_test), ("TV (scikit-image)", tv),
                       ("autoencoder, GaussianNoise", denoised),
                       ("autoencoder, fit_pairs", denoised_paired)]:
    print(f"{name:<28} PSNR {psnr(estimate, X_test):5.2f} dB")

# %%
# Results
# -------
rows = [("clean", X_test), ("noisy", noisy_test), ("TV", tv),
        ("autoencoder", denoised)]
fig, axes = plt.subplots(len(rows), 8, figsize=(10, 5.5))
for (title, images), row in zip(rows, axes):
    for k, ax in enumerate(row):
        ax.imshow(np.clip(images[k], 0, 1), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(title)
fig.suptitle("De-noising Fashion-MNIST (Gaussian noise, sigma = 0.3)")
plt.show()
