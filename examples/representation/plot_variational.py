"""
=====================================================
A variational autoencoder: samples, codes, likelihood
=====================================================

:class:`~skae.VariationalDenseAutoEncoder` is the dense autoencoder with a
probabilistic code: the encoder gives a Gaussian posterior, the prior is a standard
normal, and the decoder a Gaussian likelihood whose per-pixel variance is estimated
from the reconstruction errors. What a plain autoencoder cannot do, it can: draw new
images from the prior (:meth:`~skae.VariationalDenseAutoEncoder.sample`), give every
image a log-likelihood in nats
(:meth:`~skae.VariationalDenseAutoEncoder.score_samples`), and organise its codes so
that walking along one axis of the code changes the image smoothly.
"""

# %%
# Data and model
# --------------
# The 2,000 bundled Fashion-MNIST images as rows of 784 pixels: 1,500 to train on, 500
# held out. The pixels take 256 grey levels; a density of continuous values could grow
# without bound by concentrating on those levels, so we spread each level over its
# width with uniform noise, ``(x * 255 + u) / 256`` ("dequantisation", as generative
# models are scored).
import matplotlib.pyplot as plt
import numpy as np

from skae import VariationalDenseAutoEncoder
from skae.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist_subset

images, y = load_fashion_mnist_subset(return_X_y=True)
rng = np.random.RandomState(0)
X = ((images * 255 + rng.rand(*images.shape)) / 256).astype(np.float32)
X = X.reshape(len(X), -1)
order = rng.permutation(len(X))
train, test = order[:1500], order[1500:]

# A small network and a fixed budget of 30 epochs keep this page quick to build; the
# default budget (``max_epochs="auto"``) would hold out 10% of the training images and
# stop when their loss stops improving.
vae = VariationalDenseAutoEncoder(
    latent_dim=8, hidden_layer_sizes=(256,), max_epochs=30, random_state=0
).fit(X[train])
print(f"{vae.n_epochs_} epochs; {vae.stop_reason_}")
print(f"held-out log-likelihood: {vae.score(X[test]):.0f} nats per image")
print(f"KL of the last epoch: {vae.history_[-1, 'kl']:.1f} nats per image")

# %%
# Active code dimensions
# ----------------------
# A code dimension that the decoder ignores has the prior as its posterior for every
# image: its posterior mean does not vary. Dimensions whose posterior mean varies by
# more than 0.01 over the data are *active*.
spread = vae.transform(X[train]).var(axis=0)
print("variance of each posterior mean:", np.round(spread, 2))
print(f"active dimensions: {(spread > 0.01).sum()} of {vae.latent_dim}")

# %%
# Likelihood of held-out images
# -----------------------------
# ``score_samples`` is an importance-weighted bound on each image's log-likelihood
# (32 draws of the code per image by default). The least likely held-out images are
# the unusual ones; the most likely are simple shapes on a plain background: a density
# of pixels rewards what is easy to predict, which is worth knowing before using it as
# an anomaly score (see the user guide).
log_p = vae.score_samples(X[test])
ranked = np.argsort(log_p)
for name, index in [("least likely", ranked[:4]), ("most likely", ranked[-4:])]:
    print(f"{name}:", ", ".join(FASHION_MNIST_CLASSES[c] for c in y[test][index]))

# %%
# Figure: samples, a latent traversal and the likelihood ranking
# ---------------------------------------------------------------
# Samples are the decoder's mean for codes drawn from the prior. The traversal moves
# the two most active code dimensions from -2.5 to 2.5, the others held at 0.
samples = vae.sample(16, random_state=0)
steps = np.linspace(-2.5, 2.5, 7)
traversal = []
for dim in np.argsort(spread)[::-1][:2]:
    z = np.zeros((len(steps), vae.latent_dim))
    z[:, dim] = steps
    traversal.append(vae.inverse_transform(z))


def tile(rows_of_pixels, n_cols):
    """Flat 784-pixel rows as one image of ``n_cols`` 28 x 28 tiles per row."""
    tiles = rows_of_pixels.reshape(-1, 28, 28)
    return np.vstack([np.hstack(tiles[i : i + n_cols]) for i in range(0, len(tiles), n_cols)])


fig, axes = plt.subplots(
    1, 4, figsize=(13, 3.8), layout="constrained", width_ratios=[4, 7, 4, 4]
)
panels = [
    (tile(samples, 4), "samples from the prior"),
    (tile(np.concatenate(traversal), 7), "two code dimensions, -2.5 to 2.5"),
    (tile(X[test][ranked[:16]], 4), "least likely held-out images"),
    (tile(X[test][ranked[-16:]], 4), "most likely held-out images"),
]
for ax, (image, title) in zip(axes, panels):
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[], title=title)
plt.show()
